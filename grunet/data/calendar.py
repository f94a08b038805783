"""Calendar features: known-future covariates computed from time stamps, encoded cyclically.

A cycle of period P turns each time stamp's position k in it (month of year 0..11, day of week 0..6, ...) into two
columns, ``sin(2πk/P)`` and ``cos(2πk/P)``: December sits next to January, and every value lies in [-1, 1], so the
columns need no scaling. Since they depend on the time stamps alone, they are known for the forecast horizon too.

`cycles_for(freq)` picks the cycles that vary at a frequency (month of year for monthly data, quarter for
quarterly, day of week and day of year for daily; hour of day and day of week for hourly and every other spacing
under a day, ...). Yearly data and plain step numbers have none. numpy and pandas only: the ONNX prediction path
uses this module without torch.
"""

from __future__ import annotations

import numpy as np

# name -> (period, position of each stamp in the cycle)
CYCLES = {
    "second": (60, lambda t: t.second),
    "minute": (60, lambda t: t.minute),
    "hour": (24, lambda t: t.hour),
    "dayofweek": (7, lambda t: t.day_of_week),
    "dayofmonth": (31, lambda t: t.day - 1),
    "dayofyear": (365.25, lambda t: t.day_of_year - 1),
    "week": (52.1775, lambda t: (t.day_of_year - 1) / 7),
    "month": (12, lambda t: t.month - 1),
    "quarter": (4, lambda t: t.quarter - 1),
}

# the pandas offset's base name -> the cycles that vary at that spacing
_BY_OFFSET = [
    (("s", "S"), ["second", "minute", "hour", "dayofweek"]),
    (("min", "T"), ["minute", "hour", "dayofweek"]),
    (("h", "H", "bh", "BH"), ["hour", "dayofweek"]),
    (("D", "B", "C"), ["dayofweek", "dayofyear"]),
    (("W",), ["week"]),
    (("SM", "SMS"), ["dayofmonth", "month"]),
    (("M", "ME", "MS", "BM", "BME", "BMS", "CBM", "CBMS"), ["month"]),
    (("Q", "QE", "QS", "BQ", "BQE", "BQS"), ["quarter"]),
]


def cycles_for(freq: str | None) -> list[str]:
    """The calendar cycles that vary at pandas frequency `freq` (e.g. 'MS' -> ['month']); [] for yearly spacing,
    unknown frequencies and plain step numbers (freq None)."""
    if not freq:
        return []
    import pandas as pd  # here, not at the top: `grunet train` on undated series never needs pandas

    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return []
    base = offset.rule_code.split("-")[0]
    for names, cycles in _BY_OFFSET:
        if base in names:
            return list(cycles)
    return []


def parse_cycles(text: str) -> list[str]:
    """'month,quarter' -> ['month', 'quarter']; ValueError naming an unknown cycle."""
    cycles = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [cycle for cycle in cycles if cycle not in CYCLES]
    if unknown or not cycles:
        raise ValueError(f"calendar must be auto, none or a comma-separated list of {', '.join(CYCLES)}; got {text!r}")
    return cycles


def column_names(cycles: list[str]) -> list[str]:
    """The feature columns of `cycles`: [month_sin, month_cos, ...]."""
    return [f"{cycle}_{part}" for cycle in cycles for part in ("sin", "cos")]


def features(times, cycles: list[str]) -> np.ndarray:
    """(len(times), 2 * len(cycles)) float64: sin and cos of each stamp's position in each cycle."""
    import pandas as pd

    stamps = pd.DatetimeIndex(times)
    if len(stamps) > 1000:  # the stamps of many series (a panel): each distinct stamp once
        codes, distinct = pd.factorize(stamps, use_na_sentinel=False)
        if len(distinct) <= len(stamps) // 2:
            return features(distinct, cycles)[codes]
    columns = []
    for cycle in cycles:
        period, position = CYCLES[cycle]
        angle = 2 * np.pi * np.asarray(position(stamps), dtype=np.float64) / period
        columns += [np.sin(angle), np.cos(angle)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(stamps), 0))
