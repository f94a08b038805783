"""Data shared by the plot tests: a prepared two-series set and a loss history."""

import numpy as np

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.windows import prepare


def prepared_series(names=("a", "b"), length=60, horizon=2):
    rng = np.random.default_rng(0)
    series = SeriesSet(
        names=list(names),
        values=[np.cumsum(rng.normal(size=(length, 1)), axis=0) + 5 * i for i in range(len(names))],
        columns=["y"],
    )
    config = DataConfig(data="x", window=8, horizon=horizon, test_size=10, val_size=0, scale="none")
    return prepare(series, config)


HISTORY = [{"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 2.0 / epoch} for epoch in range(1, 31)]
