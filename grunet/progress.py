"""Progress of a fit on stderr, as tqdm bars (a terminal's or a notebook's): one over a search's candidates, then
one over epochs (x members) for each fit. Library code reports progress here and nowhere else."""
from __future__ import annotations


class Progress:
    """tqdm's bars: one over the search's candidates, then one over epochs (× members) per fit, each made when its
    first step is done (an error in the data is not preceded by an empty bar); off when not verbose."""

    def __init__(self, verbose: bool) -> None:
        self.verbose, self.bar, self.total, self.desc, self.epochs = verbose, None, 0, "train", 0

    def _new(self, total: int, desc: str, unit: str, initial: int = 0):
        from tqdm.auto import tqdm
        self.close()
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit)

    def trial(self, index: int, total: int, trial) -> None:
        """A search's candidate `index` of `total` starts (trial None) or ends."""
        if not self.verbose:
            return
        if self.bar is None or self.desc != "search":
            self.desc = "search"
            self._new(total, "search", "candidate")
        if trial is not None:
            self.bar.update(1)
            self.bar.set_postfix(mase=f"{trial.score:.3g}")

    def restart(self, desc: str, members: list) -> None:
        """The next fit: `members` trained one after another."""
        self.close()
        self.desc, self.total = desc, 0
        self._members = members

    def update(self, row: dict) -> None:
        if not self.verbose:
            return
        if self.bar is None or self.desc == "search":
            members = getattr(self, "_members", None)
            epochs = [member.train_config.epochs for member in members] if members else [row.get("epochs", 0)]
            self.epochs = max(epochs) if epochs else 0
            count = len(members) if members else 1
            desc = self.desc if self.desc not in ("search", "train") else (
                "train" if count == 1 else f"train {count} models")
            self.desc = desc
            self._new(self.epochs * count, desc, "epoch", row["epoch"] - 1 + row["member"] * self.epochs)
        if row["epoch"] == 1 and row["member"] > 0:  # the previous member stopped early: skip its unused epochs
            self.bar.n = row["member"] * self.epochs
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{row['train_loss']:.3g}",
                             **({"val": f"{row['val_loss']:.3g}"} if row["val_loss"] == row["val_loss"] else {}))

    def close(self) -> None:
        if self.bar is not None:
            if self.desc != "search" and self.bar.n < self.bar.total:  # stopped early: the bar ends full
                self.bar.n = self.bar.total
                self.bar.refresh()
            self.bar.close()
            self.bar = None
