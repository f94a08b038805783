"""The CSV loader fed junk: it either loads or raises the documented ValueError, never anything else."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grunet.data.csvfile import load_csv
from grunet.data.series import SeriesSet

CELLS = st.one_of(st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                  st.sampled_from(["", "NA", "nan", "inf", "2020-01-01", "2020-01-02", "2020Q1", "x", '"', ",,",
                                   "1e400", "-", " ", "2020-13-45", "\t"]),
                  st.text(max_size=6))


@st.composite
def csv_text(draw):
    columns = draw(st.integers(1, 4))
    header = draw(st.lists(st.sampled_from(["t", "y", "id", "x", "", "y"]), min_size=columns, max_size=columns))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=columns + 1), max_size=12))
    return "\n".join([",".join(header)] + [",".join(row) for row in rows])


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=st.one_of(csv_text(), st.text(max_size=200)), raw=st.binary(max_size=64), use_raw=st.booleans(),
       target=st.sampled_from([None, "y", "x"]), time_col=st.sampled_from([None, "t"]),
       id_col=st.sampled_from([None, "id"]), fill=st.sampled_from(["error", "ffill", "interpolate", "drop"]))
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
