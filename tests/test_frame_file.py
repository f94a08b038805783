"""data.csv, the data of a run fitted on a DataFrame (`grunet.data.frame_file`): the used columns, written and read
back exactly, ids as text."""

import pandas as pd
import pytest

from grunet.data.config import DataConfig
from grunet.data.frame_file import read_frame, used_columns, write_frame


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
