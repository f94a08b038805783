"""The whole-column load of a regular panel (`grunet.data.regular`) gives exactly what the series-by-series path gives,
and every file it does not take (gaps, duplicates, mixed frequencies, missing values ...) still gets the old
messages."""

import warnings

import numpy as np
import pandas as pd
import pytest

from grunet.data import csvfile, regular

KINDS = ["daily", "hourly", "30min", "weekly", "2weekly", "monthly", "quarterly", "quarter-text", "yearly", "steps"]
KINDS += ["years-int", "decimal", "offsets", "month-text", "iso-week"]


def _stamps(kind: str, start: int, length: int, rng) -> list:
    """`length` regular stamps of `kind`, written as a file would, from the `start`-th step of a grid."""
    day = pd.Timestamp("2019-12-30") + pd.Timedelta(days=int(start))
    if kind == "daily":
        return list(pd.date_range(day, periods=length, freq="D").strftime("%Y-%m-%d"))
    if kind in ("hourly", "30min", "offsets"):
        step = "h" if kind != "30min" else "30min"
        stamps = pd.date_range(day + pd.Timedelta(hours=int(start) % 24), periods=length, freq=step)
        suffix = "+01:00" if kind == "offsets" else ""
        return [text + suffix for text in stamps.strftime("%Y-%m-%dT%H:%M:%S")]
    if kind in ("weekly", "2weekly"):  # series on different weekdays: one frequency, different anchors
        return list(pd.date_range(day, periods=length, freq="14D" if kind == "2weekly" else "7D").strftime("%F"))
    if kind == "monthly":  # month starts, month ends or a day of the month, series by series
        first = pd.Timestamp("2015-01-01") + pd.DateOffset(months=int(start))
        stamps = pd.date_range(first, periods=length, freq="MS")
        shape = start % 3
        if shape == 1:
            stamps = stamps + pd.offsets.MonthEnd(0)
        elif shape == 2:
            stamps = stamps + pd.Timedelta(days=int(rng.integers(1, 27)))
        return list(stamps.strftime("%Y-%m-%d"))
    if kind in ("quarterly", "quarter-text"):
        first = pd.Timestamp("1990-01-01") + pd.DateOffset(months=3 * int(start))
        stamps = pd.date_range(first, periods=length, freq="QS")
        if kind == "quarter-text":
            return [f"{stamp.year}Q{stamp.quarter}" for stamp in stamps]
        return list((stamps + pd.offsets.QuarterEnd(0) if start % 2 else stamps).strftime("%Y-%m-%d"))
    if kind == "month-text":
        return list((pd.Timestamp("2000-01-01") + pd.DateOffset(months=int(start))).to_period("M") + np.arange(length))
    if kind == "yearly":
        return list(pd.date_range(f"{1950 + start}-01-01", periods=length, freq="YS").strftime("%Y-%m-%d"))
    if kind == "years-int":
        return list(range(1950 + start, 1950 + start + length))
    if kind == "steps":
        return list(range(5 * start, 5 * (start + length), 5))
    if kind == "iso-week":
        weeks = pd.date_range("2015-01-05", periods=length + start, freq="W-MON")[start:]
        return [f"{week.isocalendar()[0]}-W{week.isocalendar()[1]:02d}" for week in weeks]
    assert kind == "decimal"  # R's time() of a monthly ts
    return [round(1949 + (start + k) / 12, 4) for k in range(length)]


def panel(kind: str, seed: int, series: int = 12, features: int = 0, shuffle: bool = True) -> pd.DataFrame:
    """A long-format frame of `series` regular series of `kind`: lengths from 1 to 30, different starts, ids that
    look like numbers, rows shuffled."""
    rng = np.random.default_rng(seed)
    parts = []
    for index in range(series):
        length = int(rng.choice([1, 2, 3, 5, 17, 30])) if index else 30  # the first series votes
        stamps = _stamps(kind, int(rng.integers(0, 40)), length, rng)
        part = {"id": [f"{index:03d}" if index % 2 else str(index)] * length, "when": stamps}
        part["value"] = rng.normal(10, 3, length).round(3)
        for feature in range(features):
            part[f"x{feature}"] = rng.integers(0, 9, length)
        parts.append(pd.DataFrame(part))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True) if shuffle else frame


def _load(monkeypatch, fast: bool, data, **options):
    """load_csv's result (or its ValueError's message) and its warnings, with or without the whole-column checks;
    and the share of the series those checks left nothing to do for."""
    finished = []
    whole = regular.Panel.finished

    def spy_finished(panel, freq):
        finished.append(whole(panel, freq))
        return finished[-1]

    def spy_plain(*args):
        result = regular.plain_panel(*args)
        finished.append(np.ones(1, dtype=bool) if result is not None else np.zeros(1, dtype=bool))
        return result

    with monkeypatch.context() as patch:
        if fast:
            patch.setattr(regular.Panel, "finished", spy_finished)
            patch.setattr(csvfile, "plain_panel", spy_plain)
        else:
            patch.setattr(csvfile, "sorted_panel", lambda *args: None)
            patch.setattr(csvfile, "plain_panel", lambda *args: None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = csvfile.load_csv(data, **options)
            except ValueError as error:
                result = str(error)
    return result, [str(warning.message) for warning in caught], float(np.mean(finished[0])) if finished else 0.0


def assert_same(fast, slow) -> None:
    """Two SeriesSets equal in every part: names, columns, spacing, format, values and stamps (types, dtypes)."""
    assert fast.names == slow.names and fast.columns == slow.columns
    assert fast.freq == slow.freq and fast.time_format == slow.time_format and fast.fingerprint == slow.fingerprint
    assert len(fast.values) == len(slow.values) == len(fast.times) == len(slow.times)
    for mine, theirs in zip(fast.values, slow.values):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape and np.array_equal(mine, theirs)
    for mine, theirs in zip(fast.times, slow.times):
        if theirs is None:
            assert mine is None
            continue
        assert type(mine) is type(theirs) and mine.dtype == theirs.dtype and mine.equals(theirs)
        assert getattr(mine, "freq", None) == getattr(theirs, "freq", None) and mine.name == theirs.name


def both(monkeypatch, data, expect_fast: float | None, **options):
    """load_csv of `data` both ways: the same series, or the same message, and the same warnings; `expect_fast`:
    the share of series the whole-column checks finish (True: all, False: none, None: any)."""
    options = {"target": "value", "time_col": "when", "id_col": "id", **options}
    fast, fast_warnings, share = _load(monkeypatch, True, data, **options)
    slow, slow_warnings, _ = _load(monkeypatch, False, data, **options)
    assert expect_fast is None or share == expect_fast
    assert fast_warnings == slow_warnings
    if isinstance(slow, str):
        assert fast == slow
    else:
        assert_same(fast, slow)
    return fast


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regular_panels_load_as_series_by_series(monkeypatch, kind, seed):
    loaded = both(monkeypatch, panel(kind, seed, features=seed), True, features=[f"x{k}" for k in range(seed)])
    assert len(loaded.names) == 12 and loaded.num_features == 1 + seed


@pytest.mark.parametrize("kind", ["daily", "monthly", "quarter-text", "offsets", "years-int"])
def test_regular_panels_from_files(monkeypatch, tmp_path, kind):
    """Through a CSV file: ids read as numbers, or as text; sorted and unsorted rows; ids 1 and 001 are one
    series in a file (read as numbers): then duplicated stamps, said as before."""
    frame = panel(kind, 3, series=30, features=1)
    for name, ids, fast in (("numbers", frame["id"], True), ("text", "s" + frame["id"], True), ("one", "1", False)):
        path = tmp_path / f"{name}.csv"
        frame.assign(id=ids).to_csv(path, index=False)
        both(monkeypatch, path, fast, features=["x0"])
    sorted_path = tmp_path / "sorted.csv"
    frame.assign(id="s" + frame["id"]).sort_values(["id", "when"]).to_csv(sorted_path, index=False)
    both(monkeypatch, sorted_path, True, features=["x0"])


def test_no_time_column(monkeypatch):
    frame = panel("daily", 4).drop(columns="when")
    both(monkeypatch, frame, True, time_col=None)
    frame.loc[3, "value"] = np.nan
    both(monkeypatch, frame, False, time_col=None)
    both(monkeypatch, frame, False, time_col=None, fill="ffill")


def _frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "when", "value"])


DAYS = [f"2020-01-0{day}" for day in range(1, 8)]
FALLBACKS = {
    # a gap: refused with fill error, filled or warned about with the other fills
    "gap": (_frame([("a", d, 1.0) for d in DAYS] + [("b", d, 2.0) for d in DAYS if d != "2020-01-04"]), "missing"),
    "duplicate": (_frame([("a", d, 1.0) for d in DAYS] + [("b", "2020-01-02", 2.0)] * 2), "duplicated"),
    "frequencies": (
        _frame([("a", d, 1.0) for d in DAYS] + [("b", f"2020-0{m}-01", 2.0) for m in range(1, 6)]),
        "different frequencies",
    ),
    "missing value": (_frame([("a", d, 1.0 if d != DAYS[2] else np.nan) for d in DAYS]), "missing values"),
    # every 3 days from a Tuesday reads as business days (Tue, Fri, Mon), from a Wednesday as 3 days
    "steps of 3 days": (
        _frame(
            [("a", d, 1.0) for d in ["2020-01-07", "2020-01-10", "2020-01-13"]]
            + [("b", d, 1.0) for d in ["2020-01-08", "2020-01-11", "2020-01-14"]]
        ),
        "different frequencies",
    ),
    "business days": (_frame([("a", d.strftime("%F"), 1.0) for d in pd.bdate_range("2020-01-01", periods=9)]), None),
    "monthly on the 30th": (_frame([("a", f"2020-0{m}-30", 1.0) for m in (1, 3, 4, 5, 6)]), None),
    "4 weeks": (
        _frame([("a", d.strftime("%F"), 1.0) for d in pd.date_range("2020-01-01", periods=9, freq="28D")]),
        None,
    ),
    "irregular": (_frame([("a", d, 1.0) for d in ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"]]), None),
    "steps differ": (
        _frame([("a", 2000 + k, 1.0) for k in range(5)] + [("b", 2000 + 2 * k, 1.0) for k in range(5)]),
        None,
    ),
    "single stamps": (_frame([("a", "2020-01-01", 1.0), ("b", "2020-01-02", 1.0)]), None),
    "too far apart": (_frame([("a", "2020-01-01", 1.0), ("a", "9999-12-31", 1.0)]), "too far apart"),
}


@pytest.mark.parametrize("case", list(FALLBACKS))
@pytest.mark.parametrize("fill", ["error", "ffill", "interpolate", "drop"])
def test_other_files_load_series_by_series_with_their_messages(monkeypatch, case, fill):
    """The series these flaws touch are loaded one by one (the others may be finished at once), with the same
    outcome and message."""
    frame, words = FALLBACKS[case]
    result = both(monkeypatch, frame, None, fill=fill)
    if words is not None and fill == "error":
        assert isinstance(result, str) and words in result


def test_messages_are_the_old_ones(monkeypatch):
    """The series-by-series messages, word for word, for files the whole-column path leaves to it."""
    gap = both(monkeypatch, FALLBACKS["gap"][0], 0.5)  # series a at once, b one by one
    assert gap == (
        "time column 'when' of the DataFrame (series 'b') is not regularly spaced, rows are missing: after 2020-01-03 "
        "comes 2020-01-05, expected 2020-01-04 (line 12; 1 time stamp(s) missing in all, daily (D)); --fill "
        "interpolate or ffill inserts the missing stamps and fills them"
    )
    duplicate = both(monkeypatch, FALLBACKS["duplicate"][0], False)  # a duplicate: every series one by one
    assert duplicate == (
        "the DataFrame has duplicated time stamps in 'when': 2020-01-02 at lines 9, 10 (series 'b'); keep one row "
        "per time stamp and series"
    )
    assert both(monkeypatch, FALLBACKS["frequencies"][0], 0.0) == (
        "the series of the DataFrame have different frequencies: 'a' is daily (D), 'b' is monthly (MS); put series "
        "of one frequency in one file"
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_panels_with_flaws(monkeypatch, seed):
    """Random panels, some with a flaw (a gap, a duplicate, a missing value, a series of another spacing): the two
    paths agree on every outcome, series or message."""
    rng = np.random.default_rng(seed)
    frame = panel(KINDS[seed % len(KINDS)], seed, series=int(rng.integers(2, 9)), shuffle=bool(seed % 3))
    flaw = seed % 5
    row = int(rng.integers(0, len(frame)))
    if flaw == 1:
        frame = frame.drop(index=row).reset_index(drop=True)
    elif flaw == 2:
        frame = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
    elif flaw == 3:
        frame.loc[row, "value"] = np.nan
    elif flaw == 4:  # a series of days among series of another spacing (or of days)
        frame = pd.concat([frame, panel("daily", seed, series=1).assign(id="z")], ignore_index=True)
    for fill in ("error", "interpolate", "drop"):
        both(monkeypatch, frame, True if flaw == 0 else None, fill=fill)


def test_the_series_own_their_values(monkeypatch):
    """Values cut from the file's columns are the series' own: writable, and not the caller's DataFrame."""
    frame = panel("daily", 7, shuffle=False)
    loaded = both(monkeypatch, frame, True)
    before = frame["value"].copy()
    for values in loaded.values:
        assert values.flags.writeable
        values += 1.0
    assert frame["value"].equals(before)


def _flawed(kind: str, seed: int) -> pd.DataFrame:
    """A panel of 30 series of `kind` (sorted), several of them flawed: a row dropped inside, a missing value, a stamp
    moved off the grid, a series of another step."""
    frame = panel(kind, seed, series=30, shuffle=False)
    rng = np.random.default_rng(seed)
    ids = [name for name, size in frame.groupby("id", sort=False).size().items() if size >= 5]
    gap, hole, shifted, other = rng.choice(ids, 4, replace=False)
    rows = {name: frame.index[frame["id"] == name] for name in (gap, hole, shifted, other)}
    frame.loc[rows[hole][2], "value"] = np.nan
    if kind == "daily":
        frame.loc[rows[shifted][3], "when"] = frame.loc[rows[shifted][3], "when"] + " 06:00"  # off the grid
    if kind == "daily" and seed % 3 == 0:  # a series of another frequency: the file refused
        other_days = pd.date_range("2020-01-01", periods=len(rows[other]), freq="2D").strftime("%F")
        frame.loc[rows[other], "when"] = list(other_days)
    frame = frame.drop(index=rows[gap][2]).reset_index(drop=True)
    return frame


@pytest.mark.parametrize("kind", ["daily", "monthly", "steps"])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fill", ["error", "ffill", "interpolate", "drop"])
def test_flawed_series_alone_are_loaded_one_by_one(monkeypatch, kind, seed, fill):
    """The series without a flaw are finished at once, the flawed ones one by one: the same series, messages and
    warnings as all of them one by one."""
    both(monkeypatch, _flawed(kind, seed), None, fill=fill)


def test_a_gap_leaves_the_other_series_finished_at_once(monkeypatch):
    frame = panel("daily", 11, series=20, shuffle=False)
    first = frame.index[frame["id"] == frame["id"].iloc[0]]
    frame = frame.drop(index=first[5]).reset_index(drop=True)  # the first series (30 points) loses a day
    loaded = both(monkeypatch, frame, 19 / 20, fill="interpolate")
    assert len(loaded.values[0]) == 30 and not np.isnan(loaded.values[0]).any()
