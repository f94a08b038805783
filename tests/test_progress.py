"""Progress bars (`grunet.progress.Progress`): none unless verbose; a search's bar counts its candidates; a fit's bar
counts epochs times members, skips what an early-stopped member did not use, and ends full."""

from types import SimpleNamespace

from grunet.progress import Progress


def _row(epoch, member=0, train_loss=0.5, val_loss=float("nan")):
    return {"epoch": epoch, "member": member, "train_loss": train_loss, "val_loss": val_loss}


def _members(count, epochs):
    return [SimpleNamespace(train_config=SimpleNamespace(epochs=epochs)) for _ in range(count)]


def test_no_bar_when_not_verbose(capsys):
    progress = Progress(verbose=False)
    progress.trial(1, 3, None)
    progress.trial(1, 3, SimpleNamespace(score=1.0))
    progress.restart("train", _members(1, 5))
    for epoch in range(1, 4):
        progress.update(_row(epoch))
    progress.close()
    assert progress.bar is None and capsys.readouterr().err == ""


def test_an_early_stopped_fit_ends_with_a_full_bar(capsys):
    progress = Progress(verbose=True)
    progress.restart("train", _members(1, 50))
    assert progress.bar is None  # made at the first epoch, not before
    for epoch in range(1, 8):
        progress.update(_row(epoch, val_loss=0.25))
    bar = progress.bar
    assert (bar.n, bar.total, bar.desc) == (7, 50, "train")
    progress.close()
    assert progress.bar is None and bar.n == bar.total == 50
    err = capsys.readouterr().err
    assert "50/50" in err and "val=0.25" in err and "loss=0.5" in err


def test_an_ensembles_bar_counts_every_members_epochs_and_skips_unused_ones(capsys):
    progress = Progress(verbose=True)
    progress.restart("train", _members(3, 10))
    for epoch in range(1, 5):  # member 0 stops early after 4 epochs
        progress.update(_row(epoch, member=0))
    bar = progress.bar
    assert (bar.total, bar.n, bar.desc) == (30, 4, "train 3 models")
    progress.update(_row(1, member=1))
    assert bar.n == 11  # member 0's 6 unused epochs skipped
    for epoch in range(2, 11):
        progress.update(_row(epoch, member=1))
    progress.update(_row(1, member=2))
    assert progress.bar is bar and bar.n == 21
    progress.close()
    assert bar.n == 30


def test_a_resumed_fit_starts_its_bar_where_it_left_off(capsys):
    progress = Progress(verbose=True)
    progress.restart("train", _members(2, 10))
    progress.update(_row(4, member=1))  # resumed inside member 1, after its epoch 3
    assert (progress.bar.n, progress.bar.total) == (14, 20)
    progress.close()


def test_the_search_bar_counts_candidates_and_is_not_filled_at_its_end(capsys):
    progress = Progress(verbose=True)
    for index in range(1, 4):
        progress.trial(index, 6, None)
        progress.trial(index, 6, SimpleNamespace(score=0.5 + index))
    bar = progress.bar
    assert (bar.total, bar.n, bar.desc) == (6, 3, "search")
    progress.trial(4, 6, None)  # a candidate skipped by the time budget reports its start only
    assert bar.n == 3
    # the refit after the search: a new bar over its epochs, named by the procedure
    progress.restart("refit on every point", _members(1, 20))
    assert bar.n == 3  # the search's bar was closed as it stood
    progress.update(_row(1))
    assert progress.bar is not bar and (progress.bar.total, progress.bar.desc) == (20, "refit on every point")
    progress.close()
    err = capsys.readouterr().err
    assert "3/6" in err and "mase=3.5" in err and "20/20" in err


def test_a_fit_after_the_search_without_restart_gets_its_own_bar(capsys):
    progress = Progress(verbose=True)
    progress.trial(1, 2, SimpleNamespace(score=1.0))
    search_bar = progress.bar
    progress.update({**_row(1), "epochs": 12})  # no members: the row's own epoch count
    assert progress.bar is not search_bar and progress.bar.total == 12 and progress.bar.desc == "train"
    progress.close()


class _Recording(Progress):
    """Progress that keeps every bar it made (the tests read them after close)."""

    def __init__(self) -> None:
        super().__init__(verbose=True)
        self.bars = []

    def _new(self, *args, **kwargs):
        super()._new(*args, **kwargs)
        self.bars.append(self.bar)


def _monthly(length=72):
    import numpy as np
    import pandas as pd

    from grunet.data.series import SeriesSet

    rng = np.random.default_rng(0)
    t = np.arange(length)
    values = 100 + t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, length)
    return SeriesSet(
        ["s"], [values[:, None]], ["y"], [pd.date_range("2000-01-01", periods=length, freq="MS")], freq="MS"
    )


def _fit(search, train_config, progress):
    from grunet.data.config import DataConfig
    from grunet.model import ModelConfig
    from grunet.procedure import fit_forecaster
    from grunet.search import SearchConfig

    search_config = SearchConfig(search=search, time_budget=1e-6, refit=False, level=[])
    # ar=0: no untrained candidates, so the search's choice trains (epochs >= 1) after it
    data_config = DataConfig(data="x", horizon=3, test_size=6, window=None if search == "auto" else 12)
    outcome = fit_forecaster(
        _monthly(),
        data_config,
        ModelConfig(hidden_size=4, num_layers=1, ar=0),
        train_config,
        search_config,
        progress=progress,
    )
    progress.close()
    return outcome


def test_an_early_stopped_fit_in_the_procedure_ends_with_a_full_bar(capsys):
    from grunet.training.config import TrainConfig

    progress = _Recording()
    outcome = _fit("none", TrainConfig(epochs=40, patience=1, lr=0.3), progress)
    assert outcome.scored.fit.stopped_early and len(outcome.scored.fit.history) < 40
    bar = progress.bars[-1]
    assert bar.total == 40 and bar.n == 40


def test_a_search_cut_short_by_its_time_budget_keeps_its_count(capsys):
    from grunet.training.config import TrainConfig

    progress = _Recording()
    _fit("auto", TrainConfig(epochs=2), progress)
    search_bar = progress.bars[0]
    assert search_bar.desc == "search" and search_bar.total > 1 and len(progress.bars) == 2  # then the fit's bar
    assert search_bar.n == 1  # the time budget let one candidate train
