"""How a time column was written (grunet.data.stamp_format): stamps written back in the column's form, with the
offset of the one zone that fits every written offset."""

import numpy as np
import pandas as pd

from grunet.data.stamp_format import TimeFormat, offset_minutes, zone_for


def test_stamps_are_written_in_the_columns_form():
    stamp = pd.Timestamp("1965-04-01")
    assert TimeFormat("quarter", "{y}Q{q}").label(stamp) == "1965Q2"
    assert TimeFormat("quarter", "Q{q} {y}").label(stamp) == "Q2 1965"
    assert TimeFormat("month", "{Mon} {y}").label(stamp) == "Apr 1965"
    assert TimeFormat("date", strftime="%d/%m/%Y").label(stamp) == "01/04/1965"
    assert TimeFormat("step").labels([1965.0, 1966.0]) == [1965, 1966]
    assert TimeFormat("decimal", "4").label(pd.Timestamp("1949-02-01")) == 1949.0833


def test_offsets_are_read_and_written_back():
    assert [offset_minutes(text) for text in ("Z", "+01:00", "-0530", "+02")] == [0, 60, -330, 120]
    utc = pd.Timestamp("2021-01-01 12:00")
    written = TimeFormat("datetime", "{y}-{m:02d}-{d:02d}T{H:02d}:{M:02d}{tz}", offset=60)
    assert written.label(utc) == "2021-01-01T13:00+01:00"  # the local wall time, with its offset
    assert (
        TimeFormat("datetime", "{y}-{m:02d}-{d:02d}T{H:02d}:{M:02d}{tz}", offset=0, zulu=True).label(utc)
        == "2021-01-01T12:00Z"
    )


def test_the_zone_is_the_one_that_gives_every_written_offset():
    stamps = pd.date_range("2021-03-27", "2021-03-29", freq="h")  # UTC, across Berlin's change to summer time
    berlin = stamps.tz_localize("UTC").tz_convert("Europe/Berlin")
    offsets = np.array([int(stamp.utcoffset().total_seconds() // 60) for stamp in berlin])
    assert zone_for(stamps, offsets) == "Europe/Berlin"
    assert zone_for(stamps, np.full(len(stamps), 60)) is None  # a fixed offset needs no zone
    assert zone_for(stamps, np.where(np.arange(len(stamps)) % 2 == 0, 60, 0)) is None  # no zone fits
    fmt = TimeFormat("datetime", "{y}-{m:02d}-{d:02d} {H:02d}:{M:02d}{tz}", offset=120, zone="Europe/Berlin")
    assert fmt.label(pd.Timestamp("2021-10-31 02:00")) == "2021-10-31 03:00+01:00"  # past the change back
