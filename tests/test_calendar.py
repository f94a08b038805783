"""Calendar features: the cycles chosen for each frequency, the sin/cos encoding, and the names of the cycles."""

import numpy as np
import pandas as pd
import pytest

from grunet.data import calendar
from grunet.data.config import DataConfig


@pytest.mark.parametrize(
    "freq,cycles",
    [
        ("MS", ["month"]),
        ("ME", ["month"]),
        ("QS-OCT", ["quarter"]),
        ("QE-DEC", ["quarter"]),
        ("D", ["dayofweek", "dayofyear"]),
        ("B", ["dayofweek", "dayofyear"]),
        ("h", ["hour", "dayofweek"]),
        # every spacing under a day also gets the day of the week (issue 15): half-hourly load differs on Sundays
        ("15min", ["minute", "hour", "dayofweek"]),
        ("30min", ["minute", "hour", "dayofweek"]),
        ("10s", ["second", "minute", "hour", "dayofweek"]),
        ("W-SUN", ["week"]),
        ("YS-JAN", []),
        (None, []),
    ],
)
def test_cycles_match_the_frequency(freq, cycles):
    assert calendar.cycles_for(freq) == cycles


def test_encoding_is_cyclic_and_bounded():
    months = pd.date_range("2020-01-01", periods=24, freq="MS")
    values = calendar.features(months, ["month"])  # (24, 2)
    assert values.shape == (24, 2) and np.abs(values).max() <= 1
    assert np.allclose(values[:12], values[12:])  # the same month of the next year
    assert np.allclose(values[0], [0.0, 1.0])  # January: angle 0
    assert np.allclose(values[6], [0.0, -1.0], atol=1e-12)  # July: half way round
    # December sits next to January, as close as any two neighbouring months
    steps = np.linalg.norm(np.diff(values[:13], axis=0), axis=1)
    assert np.allclose(steps, steps[0])
    hours = calendar.features(pd.date_range("2024-03-04", periods=48, freq="h"), ["hour", "dayofweek"])
    assert hours.shape == (48, 4) and np.allclose(hours[:24, :2], hours[24:, :2])
    assert not np.allclose(hours[:24, 2:], hours[24:, 2:])  # Monday vs Tuesday


def test_parse_cycles_names_the_unknown_one():
    assert calendar.parse_cycles("month, quarter") == ["month", "quarter"]
    with pytest.raises(ValueError, match="fortnight"):
        calendar.parse_cycles("month,fortnight")
    with pytest.raises(ValueError, match="calendar"):
        DataConfig(calendar="weekday").check()


def test_a_panels_stamps_are_encoded_once_each_alike():
    """Many series' stamps (a panel repeats each date once per series): each distinct stamp is encoded once, and
    every row gets what it would get alone, bit for bit."""
    days = pd.date_range("2020-01-01 06:00", periods=300, freq="D")
    stamps = pd.DatetimeIndex(np.concatenate([days.values[start : start + 200] for start in range(0, 100, 10)]))
    cycles = list(calendar.CYCLES)
    together = calendar.features(stamps, cycles)
    alone = np.concatenate([calendar.features(stamps[i : i + 200], cycles) for i in range(0, len(stamps), 200)])
    assert together.shape == (2000, 2 * len(cycles)) and np.array_equal(together, alone)
