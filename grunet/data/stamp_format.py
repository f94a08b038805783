"""How a time column was written (`TimeFormat`): the form its stamps take, to read another file the same way and to
write stamps (forecasts) back in that form, with the UTC offsets of the zone the column was written in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, timezone

import numpy as np
import pandas as pd

MONTH_ABBR = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@dataclass
class TimeFormat:
    """How a time column was written, to read another file the same way and to write stamps back in that form.

    kind: step (integers: years, step numbers), decimal (years with fractions: 1949.0833 for February, written
    back as numbers to the template's count of decimals), quarter, month, date or datetime.  template: a `str.format`
    template of the input's form over the fields y m d q H M S f (microseconds as 6 digits), mon/Mon/MON, month/
    Month/MONTH (names), tz.  strftime: the user's `date_format`, written back with `Timestamp.strftime`.
    order: 'dmy' or 'mdy' for dates written 01/02/2020.  offset: minutes east of UTC of the column's last stamp (None:
    stamps without offsets); offsets: the same per series name (its last stamp).  zone: when the column's offsets
    change (daylight-saving time) and one IANA time zone gives every stamp its written offset, that zone: stamps are
    written with its offset at their own time (a forecast past the change to winter time gets +01:00 again).
    local: the stamps are the local wall times of the offsets (every stamp at one time of day), not UTC.
    zulu: an offset of 0 is written Z.  step: the spacing of integer steps.
    """

    kind: str
    template: str = ""
    strftime: str = ""
    order: str = ""
    offset: int | None = None
    offsets: dict = field(default_factory=dict)
    zulu: bool = False
    tz_style: str = "+HH:MM"
    step: int | None = None
    date_format: str | None = None
    zone: str | None = None
    local: bool = False

    def label(self, stamp, series: str | None = None):
        """One stamp in the input's form: an int for steps, else a string."""
        if self.kind == "step":
            return int(stamp)
        stamp = pd.Timestamp(stamp)
        if self.kind == "decimal":  # a decimal year, to the input's decimals
            return round(stamp.year + (stamp.month - 1) / 12, int(self.template))
        minutes = None if self.offset is None else self.offsets.get(series, self.offset)
        if self.zone is not None and self.local:
            zoned = stamp.tz_localize(self.zone, ambiguous=True, nonexistent="shift_forward")
            minutes = int(zoned.utcoffset().total_seconds() // 60)
        elif self.zone is not None:
            minutes = int(stamp.tz_localize("UTC").tz_convert(self.zone).utcoffset().total_seconds() // 60)
        if minutes is not None and not self.local:
            stamp = stamp + pd.Timedelta(minutes=minutes)  # the local wall time of the offset
        if self.strftime:
            if minutes is not None:
                stamp = stamp.tz_localize(timezone(timedelta(minutes=minutes)))
            return stamp.strftime(self.strftime)
        iso = stamp.isocalendar()  # an ISO week's year may differ from its Monday's calendar year
        return self.template.format(
            y=stamp.year,
            m=stamp.month,
            d=stamp.day,
            q=stamp.quarter,
            H=stamp.hour,
            M=stamp.minute,
            S=stamp.second,
            iy=iso[0],
            iw=iso[1],
            f=f"{stamp.microsecond:06d}",
            mon=MONTH_ABBR[stamp.month - 1].lower(),
            Mon=MONTH_ABBR[stamp.month - 1],
            MON=MONTH_ABBR[stamp.month - 1].upper(),
            month=MONTH_NAMES[stamp.month - 1].lower(),
            Month=MONTH_NAMES[stamp.month - 1],
            MONTH=MONTH_NAMES[stamp.month - 1].upper(),
            tz="" if minutes is None else _offset_text(minutes, self.tz_style, self.zulu),
        )

    def labels(self, stamps, series: str | None = None) -> list:
        """Stamps in the input's form (quarters as 1965Q1 or Q1 1965, months as written, years as integers, dates
        as dates, datetimes with the series' own UTC offset)."""
        return [self.label(stamp, series) for stamp in stamps]


def _offset_text(minutes: int, style: str, zulu: bool) -> str:
    if minutes == 0 and zulu:
        return "Z"
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(int(minutes)), 60)
    if style == "+HH" and rest == 0:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}{':' if style != '+HHMM' else ''}{rest:02d}"


def offset_minutes(text: str) -> int:
    if text == "Z":
        return 0
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return -minutes if text[0] == "-" else minutes


# zones tried first (any zone with the same rules gives the same offsets; these names read better in a debugger)
_ZONES = (
    "Europe/Berlin",
    "Europe/London",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
)


def zone_for(stamps: pd.DatetimeIndex, offsets: np.ndarray) -> str | None:
    """An IANA time zone in which every stamp (UTC, without zone) has its written offset (minutes), checked at every
    change of offset, the first and last stamp and up to 64 between; None when the offsets never change (a fixed
    offset needs no zone) or no zone fits (series from several zones)."""
    offsets = np.asarray(offsets)
    if len(np.unique(offsets)) < 2:
        return None
    order = np.argsort(np.asarray(stamps), kind="stable")
    stamps, offsets = stamps[order], offsets[order]
    changes = np.flatnonzero(np.diff(offsets) != 0)
    probe = np.unique(
        np.concatenate(
            [[0, len(stamps) - 1], changes, changes + 1, np.linspace(0, len(stamps) - 1, 64).astype(np.int64)]
        )
    )
    utc = stamps[probe].tz_localize("UTC")
    wanted = offsets[probe]
    import zoneinfo

    for zone in (*_ZONES, *sorted(zoneinfo.available_timezones())):
        try:
            local = utc.tz_convert(zone).tz_localize(None)
        except Exception:  # noqa: BLE001 - a zone this machine's tz database cannot load
            continue
        if np.array_equal((local - utc.tz_localize(None)) // pd.Timedelta(minutes=1), wanted):
            return zone
    return None
