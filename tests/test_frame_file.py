"""data.csv, the data of a run fitted on a DataFrame (`grunet.data.frame_file`): the used columns, written and read
back exactly, ids as text."""

import pandas as pd
import pytest

from grunet.data.config import DataConfig
from grunet.data.frame_file import index_as_columns, read_frame, used_columns, write_frame


def test_round_trip_keeps_values_and_text_ids(tmp_path):
    frame = pd.DataFrame(
        {"id": ["007", "007", "12"], "t": ["2024-01", "2024-02", "2024-01"], "y": [0.1, 1 / 3, 1e-300], "z": [1, 2, 3]}
    )
    config = DataConfig(data="<DataFrame>", target="y", time_col="t", id_col="id")
    kept = used_columns(frame, config)
    assert list(kept.columns) == ["id", "t", "y"]
    write_frame(tmp_path / "data.csv", kept)
    back = read_frame(tmp_path / "data.csv", config)
    pd.testing.assert_frame_equal(back, kept)  # floats exactly, "007" still text
    assert list(used_columns(frame, DataConfig(data="<DataFrame>")).columns) == ["id", "t", "y", "z"]


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="missing.csv, the data this run was fitted on, is not readable"):
        read_frame(tmp_path / "missing.csv", None)


def test_used_columns_are_named_as_load_csv_reads_them():
    """Column names are read as text without the spaces around (as `load_csv` reads a DataFrame): data.csv keeps
    the target of a frame whose names are numbers or padded."""
    frame = pd.DataFrame({0: ["2024-01", "2024-02"], " y ": [1.0, 2.0], "z": [3, 4]})
    kept = used_columns(frame, DataConfig(data="<DataFrame>", target="y", time_col="0"))
    assert list(kept.columns) == ["0", "y"] and kept["y"].tolist() == [1.0, 2.0]


def test_the_index_becomes_the_time_column_where_it_holds_the_time():
    dates = pd.date_range("2020-01-01", periods=3, freq="MS", name="month")
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0]}, index=dates)
    moved, time_col = index_as_columns(frame, None, None)  # a dated index: the time column, by its name
    assert (
        time_col == "month"
        and list(moved.columns) == ["month", "y"]
        and moved["month"].equals(dates.to_series(index=moved.index))
    )
    moved, time_col = index_as_columns(frame.rename_axis(None), "date", None)  # named by time_col
    assert time_col == "date" and list(moved.columns) == ["date", "y"]
    assert index_as_columns(frame.rename_axis(None), None, None)[1] == "time"  # unnamed: "time"
    panel = pd.DataFrame({"y": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 1)], names=["id", "t"]))
    moved, time_col = index_as_columns(panel, "t", "id")  # levels named by time_col and id_col
    assert time_col == "t" and {"id", "t", "y"} <= set(moved.columns)
    plain = pd.DataFrame({"t": [1, 2], "y": [1.0, 2.0]}, index=[5, 6])
    assert index_as_columns(plain, "t", None)[0] is plain  # an index of row labels stays out of it
    both = pd.DataFrame({"time": [1, 2], "y": [1.0, 2.0]}, index=pd.date_range("2020", periods=2, freq="D"))
    assert index_as_columns(both, None, None) == (both, None)  # a column has the name: not taken over
