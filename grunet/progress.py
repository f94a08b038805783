"""Progress of a fit on stderr, as tqdm bars (a terminal's or a notebook's): one over a search's candidates, then
one over epochs (x members) for each fit. Library code reports progress here and nowhere else."""

from __future__ import annotations

from typing import Any


class Progress:
    """tqdm's bars: one over the search's candidates, then one over epochs (summed over members) per fit, each made
    when its first step is done (an error in the data is not preceded by an empty bar); off when not verbose."""

    def __init__(self, verbose: bool) -> None:
        self.verbose, self.kind, self.desc = verbose, "", "train"
        self.bar: Any = None  # the tqdm bar shown (tqdm.auto's: a terminal's or a notebook's), None between bars
        self.offsets: list[int] = [0]  # the epochs of the members before each, and the total last

    def _new(self, total: int, desc: str, unit: str, initial: int = 0) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit)

    def trial(self, index: int, total: int, trial) -> None:
        """A search's candidate `index` of `total` starts (trial None) or ends."""
        if not self.verbose:
            return
        if self.kind != "search":
            self.close()
            self.kind = "search"
            self._new(total, "search", "candidate")
        if trial is not None:
            self.bar.update(1)
            self.bar.set_postfix(mase=f"{trial.score:.3g}")

    def restart(self, desc: str, members: list) -> None:
        """The next fit, named `desc`: `members` (with their train_config.epochs) trained one after another."""
        self.close()
        self.kind, self.desc = "fit", desc if len(members) == 1 or desc != "train" else f"train {len(members)} models"
        self.offsets = [0]
        for member in members:
            self.offsets.append(self.offsets[-1] + member.train_config.epochs)

    def update(self, row: dict) -> None:
        """One epoch done: row with epoch and member (and, for a fit not announced by `restart`, epochs)."""
        if not self.verbose:
            return
        if self.kind != "fit":  # a fit nobody announced: one member of the row's epochs
            self.close()
            self.kind, self.desc, self.offsets = "fit", "train", [0, row.get("epochs", 0)]
        member = min(row["member"], len(self.offsets) - 2)
        position = self.offsets[member] + row["epoch"]  # skips what an early-stopped member did not use
        if self.bar is None:
            self._new(self.offsets[-1], self.desc, "epoch", position - 1)
        self.bar.n = position - 1
        self.bar.update(1)
        self.bar.set_postfix(
            loss=f"{row['train_loss']:.3g}",
            **({"val": f"{row['val_loss']:.3g}"} if row["val_loss"] == row["val_loss"] else {}),
        )

    def close(self) -> None:
        """Ends the current bar: a fit's full (its members may have stopped early), a search's as it stands."""
        if self.bar is not None:
            if self.kind == "fit" and self.bar.n < self.bar.total:
                self.bar.n = self.bar.total
                self.bar.refresh()
            self.bar.close()
        self.bar, self.kind = None, ""
