"""The CSV loader fed junk: it either loads or raises the documented ValueError, never anything else."""

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from grunet.data.csvfile import load_csv
from grunet.data.series import SeriesSet

CELLS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        [
            "",
            "NA",
            "nan",
            "inf",
            "2020-01-01",
            "2020-01-02",
            "2020Q1",
            "x",
            '"',
            ",,",
            "1e400",
            "-",
            " ",
            "2020-13-45",
            "\t",
        ]
    ),
    st.text(max_size=6),
)


@st.composite
def csv_text(draw):
    columns = draw(st.integers(1, 4))
    header = draw(st.lists(st.sampled_from(["t", "y", "id", "x", "", "y"]), min_size=columns, max_size=columns))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=columns + 1), max_size=12))
    return "\n".join([",".join(header)] + [",".join(row) for row in rows])


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    text=st.one_of(csv_text(), st.text(max_size=200)),
    raw=st.binary(max_size=64),
    use_raw=st.booleans(),
    target=st.sampled_from([None, "y", "x"]),
    time_col=st.sampled_from([None, "t"]),
    id_col=st.sampled_from([None, "id"]),
    fill=st.sampled_from(["error", "ffill", "interpolate", "drop"]),
)
def test_junk_loads_or_raises_value_error(tmp_path, text, raw, use_raw, target, time_col, id_col, fill):
    path = tmp_path / "junk.csv"
    if use_raw:
        path.write_bytes(raw)
    else:
        path.write_text(text)
    try:
        series = load_csv(path, target=target, time_col=time_col, id_col=id_col, fill=fill)
    except ValueError as error:
        assert str(error) and "\n" not in str(error).strip()
        return
    assert isinstance(series, SeriesSet) and series.values
    for values in series.values:
        assert values.dtype == np.float64 and values.ndim == 2 and np.isfinite(values).all()


# ---- time columns: never read wrong ----

import re  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from grunet.data.spacing import spacing_key  # noqa: E402

DAY_FORMS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d-%b-%Y", "%b %d, %Y"]
CLOCK_FORMS = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]
MONTH_FORMS = ["%Y-%m", "%b %Y", "%B %Y", "%Y/%m", "%m/%Y", "%YM%m"]
QUARTER_FORMS = ["{y}Q{q}", "Q{q} {y}", "{y}-Q{q}", "{y} Q{q}", "{y}q{q}"]
# spacing -> the forms a file may write it in
SPACINGS = {
    "D": DAY_FORMS,
    "B": DAY_FORMS,
    "W-MON": DAY_FORMS,
    "W-SAT": DAY_FORMS,
    "MS": DAY_FORMS + MONTH_FORMS,
    "ME": DAY_FORMS,
    "15th": DAY_FORMS,
    "QS-JAN": DAY_FORMS + QUARTER_FORMS,
    "QE-DEC": DAY_FORMS,
    "YS-JAN": DAY_FORMS,
    "h": CLOCK_FORMS + ["berlin"],
    "30min": CLOCK_FORMS + ["berlin"],
    "year": ["year"],
}


def _stamps(spacing, start, count):
    if spacing == "15th":
        first = pd.Timestamp(start).replace(day=15)
        return pd.DatetimeIndex([first + pd.DateOffset(months=k) for k in range(count)])
    if spacing == "year":
        return pd.Index(range(start.year, start.year + count))
    return pd.date_range(start, periods=count, freq=spacing)


def _write_stamp(stamp, form):
    if form == "year":
        return str(stamp)
    if form == "berlin":
        return stamp.tz_localize("UTC").tz_convert("Europe/Berlin").isoformat()
    if "{q}" in form:
        return form.format(y=stamp.year, q=stamp.quarter)
    return stamp.strftime(form)


@st.composite
def regular_series(draw):
    spacing = draw(st.sampled_from(sorted(SPACINGS)))
    form = draw(st.sampled_from(SPACINGS[spacing]))
    start = draw(
        st.datetimes(
            min_value=pd.Timestamp("1950-01-01").to_pydatetime(), max_value=pd.Timestamp("2030-12-31").to_pydatetime()
        )
    )
    start = pd.Timestamp(start).floor("h") if spacing in ("h", "30min") else pd.Timestamp(start).normalize()
    count = draw(st.integers(4, 40))
    stamps = _stamps(spacing, start, count)
    return spacing, form, stamps, [_write_stamp(stamp, form) for stamp in stamps]


@pytest.mark.slow
@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=regular_series(), rows_shuffled=st.booleans())
def test_a_regular_series_in_any_form_loads_right_or_is_refused_pointing_to_date_format(tmp_path, case, rows_shuffled):
    spacing, form, stamps, written = case
    # business days that never cross a weekend are as much days as business days: the data cannot tell
    assume(spacing != "B" or (np.diff(np.asarray(stamps[:-2].day_of_week)) < 0).any())
    order = list(range(len(written)))[::-1] if rows_shuffled else list(range(len(written)))
    path = tmp_path / "series.csv"
    path.write_text("when,value\n" + "".join(f'"{written[k]}",{k}\n' for k in order))
    held_out = 2
    short = tmp_path / "short.csv"
    short.write_text("when,value\n" + "".join(f'"{written[k]}",{k}\n' for k in range(len(written) - held_out)))
    for file, count in ((path, len(written)), (short, len(written) - held_out)):
        try:
            series = load_csv(file, time_col="when", target="value")
        except ValueError as error:  # only an order of day and month that the column cannot tell is refused
            assert "--date-format" in str(error) and "\n" not in str(error), (written, str(error))
            assert re.search(r"%[dm]/%[dm]", form) or form.startswith("%d.") or form.endswith("%m/%Y"), form
            return
        assert list(series.times[0]) == list(stamps[:count]), (form, written[:3])
        assert series.values[0][:, 0].tolist() == list(range(count))
        assert (
            series.time_labels(0, series.times[0])
            == [int(stamp) if form == "year" else stamp for stamp in written[:count]]
            or form == "berlin"
        )
    future = series.time_labels(0, series.future_times(0, held_out))
    assert future == [int(stamp) if form == "year" else stamp for stamp in written[-held_out:]] or (
        form == "berlin"
        and [pd.Timestamp(stamp) for stamp in future] == [pd.Timestamp(stamp) for stamp in written[-held_out:]]
    ), (form, written[-4:], future)
    assert spacing_key(series.freq if series.freq else series.time_format.step) == spacing_key(
        1 if spacing == "year" else "MS" if spacing == "15th" else spacing
    )


@pytest.mark.slow  # hypothesis, 150 examples: the full suite
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=regular_series(), data=st.data(), fill=st.sampled_from(["interpolate", "ffill"]))
def test_rows_left_out_of_a_regular_series_come_back_with_fill(tmp_path, case, data, fill):
    spacing, form, stamps, written = case
    count = len(written)
    interior = list(range(1, count - 1, 2))  # never two neighbours: the spacing of most stamps stays the true one
    left_out = data.draw(
        st.lists(st.sampled_from(interior), unique=True, max_size=max(0, (count - 1) // 3 - 1))
        if interior
        else st.just([])
    )
    kept = [k for k in range(count) if k not in left_out]
    if spacing == "D" and all(stamps[k].day_of_week < 5 for k in kept):
        return  # the weekdays of a daily series left alone are business days, as the data says
    path = tmp_path / "holes.csv"
    path.write_text("when,value\n" + "".join(f'"{written[k]}",{k}\n' for k in kept))
    try:
        series = load_csv(path, time_col="when", target="value", fill=fill)
    except ValueError as error:
        assert "--date-format" in str(error) and "\n" not in str(error), (written, str(error))
        return
    assert list(series.times[0]) == list(stamps), (form, [written[k] for k in kept][:5])
    values = series.values[0][:, 0]
    assert values[kept].tolist() == kept and np.isfinite(values).all()
    if fill == "interpolate":
        assert np.allclose(values, np.arange(count))
    if left_out:
        with pytest.raises(ValueError, match="rows are missing|--date-format"):
            load_csv(path, time_col="when", target="value")


TIME_CELLS = st.one_of(
    st.sampled_from(
        [
            "2020-01-01",
            "2020-01-02",
            "01/02/2020",
            "13/01/2020",
            "01/13/2020",
            "2020Q1",
            "Q1 2020",
            "Jan 2020",
            "2020-01",
            "1871.0",
            "1871.5",
            "2020",
            "2021-03-28T01:00:00+01:00",
            "2021-03-28T03:00:00+02:00",
            "2021-01-01T00:00:00Z",
            "2021-01-01 00:00",
            "31/02/2020",
            "2020-02-30",
            "Q5 2020",
            "0000Q1",
            "2020M13",
            "Foo 2020",
            "",
            " ",
            "nan",
            "1e400",
            "-1",
            "9999-12-31",
            "0001-01-01",
            "2020-01-01T25:00",
            "1/2/2020 1:00 PM",
            "２０２０-01-01",
        ]
    ),
    st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2100-01-01").date()).map(
        lambda day: day.strftime(["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%b %Y", "%Y-%m"][day.day % 5])
    ),
    st.text(max_size=12),
)


@pytest.mark.slow  # hypothesis, 300 examples: the full suite
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    cells=st.lists(TIME_CELLS, min_size=1, max_size=15),
    ids=st.lists(st.sampled_from("ab"), min_size=15, max_size=15),
    long=st.booleans(),
    fill=st.sampled_from(["error", "ffill", "interpolate", "drop"]),
    date_format=st.sampled_from([None, None, "%d/%m/%Y", "%Y-%m-%d", "%Y"]),
)
def test_junk_time_columns_load_or_raise_one_line(tmp_path, cells, ids, long, fill, date_format):
    path = tmp_path / "junk.csv"
    path.write_text(
        "id,when,value\n" + "".join(f'{ids[k]},"{cell.replace(chr(34), "")}",{k}\n' for k, cell in enumerate(cells))
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            series = load_csv(
                path, time_col="when", target="value", id_col="id" if long else None, fill=fill, date_format=date_format
            )
        except ValueError as error:
            assert str(error) and "\n" not in str(error).strip()
            return
    for index, values in enumerate(series.values):
        assert values.dtype == np.float64 and np.isfinite(values).all()
        assert len(series.times[index]) == len(values)
        if len(values) >= 2 or series.freq is not None:
            labels = series.time_labels(index, series.future_times(index, 2))
            assert len(labels) == 2
