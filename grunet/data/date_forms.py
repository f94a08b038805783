"""Time stamps written as calendar fields: quarters (``1965Q1``), ISO weeks (``1991-W06``), months (``2020-01``,
``Jan 2020``) and dates (``31/01/2020``, ``2020/01/31``, ``31 Jan 2020``, ``Jan 31, 2020``, with an optional time of
day), read from the parts `grunet.data.times` matched in each value, with the template that writes them back as the
column did; and the order of day and month of dates written with numbers only.

Day or month first (``01/02/2020``). Decided from the whole column: a first number above 12 anywhere means day first,
a second number above 12 means month first (both: the column mixes the two, refused). When every value fits both
orders, the one order under which every series (of 3 or more stamps) is regularly spaced decides; when both or
neither are, the column is refused, pointing to ``--date-format`` ('%d/%m/%Y' or '%m/%d/%Y'). A `date_format`
given (strftime codes, as pandas reads them) replaces all of this (`grunet.data.times`).

Day or month first, and "regularly spaced" in that rule: every stamp on its spacing's grid with no row missing.
"""

from __future__ import annotations

import warnings
from datetime import date

import numpy as np
import pandas as pd

from grunet.data.spacing import TimesError, detect, expand, first_index
from grunet.data.stamp_format import MONTH_ABBR, MONTH_NAMES, TimeFormat

_MONTH_NUMBER = {
    **{name.lower(): number for number, name in enumerate(MONTH_ABBR, 1)},
    **{name.lower(): number for number, name in enumerate(MONTH_NAMES, 1)},
    "sept": 9,
}


def build(
    year, month, day, where: str, text: pd.Series, lines: np.ndarray, what: str, hour=None, minute=None, second=None
) -> pd.DatetimeIndex:
    """Stamps from integer parts; TimesError naming the first value that is not a real date (31/02, month 13)."""
    parts = {
        "year": np.asarray(year, dtype=np.int64),
        "month": np.asarray(month, dtype=np.int64),
        "day": np.asarray(day, dtype=np.int64),
    }
    for name, values in (("hour", hour), ("minute", minute), ("second", second)):
        if values is not None:
            parts[name] = np.asarray(values, dtype=np.int64)
    valid = (
        (parts["month"] >= 1)
        & (parts["month"] <= 12)
        & (parts["day"] >= 1)
        & (parts["year"] >= 1)
        & (parts.get("hour", 0) < 24)
        & (parts.get("minute", 0) < 60)
        & (parts.get("second", 0) < 60)
    )
    stamps = pd.Series(pd.NaT, index=range(len(valid)), dtype="datetime64[us]")
    if valid.any():
        frame = pd.DataFrame({name: values[valid] for name, values in parts.items()})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps[valid] = pd.to_datetime(frame, errors="coerce").astype("datetime64[us]").to_numpy()
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = first_index(bad)
        raise TimesError(f"{where}: line {lines[row]} holds {text.iloc[row]!r}, which is not a valid {what}")
    return pd.DatetimeIndex(stamps.to_numpy())


def quarters(text, match, form, where, lines):
    """Quarters (1965Q1, 1965-Q1, Q1 1965 ...): the quarter's first day; written back as the input wrote them."""
    first = match.iloc[0]
    if form == "quarter":
        template = "{y}" + first["sep"] + first["Q"] + "{q}"
    else:
        template = first["Q"] + "{q}" + first["sep"] + "{y}"
    quarter = match["q"].astype(int).to_numpy()
    stamps = build(match["y"].astype(int), 3 * quarter - 2, np.ones(len(quarter)), where, text, lines, "quarter")
    return stamps, TimeFormat("quarter", template=template), None


def iso_weeks(text, match, where, lines):
    """ISO weeks (1991 W06, 1991-W06, 1991w6): the week's Monday; written back as the input wrote them."""
    first = match.iloc[0]
    padded = len(first["w"]) == 2
    template = "{iy}" + first["sep"] + first["W"] + ("{iw:02d}" if padded else "{iw}")
    stamps = []
    for row, (year, week) in enumerate(zip(match["y"].astype(int), match["w"].astype(int))):
        try:
            stamps.append(pd.Timestamp(date.fromisocalendar(year, week, 1)))
        except ValueError:
            raise TimesError(
                f"{where}: line {lines[row]} holds {text.iloc[row]!r}, which is not a valid ISO week"
            ) from None
    return pd.DatetimeIndex(stamps).astype("datetime64[us]"), TimeFormat("week", template=template), None


def _month_numbers(names, text, where, lines):
    """The month numbers of the month names (Jan, january, Sept. ...) of each value; TimesError naming the first
    value whose name is not one."""
    month = names.str.lower().map(_MONTH_NUMBER)
    if month.isna().any():
        row = first_index(month.isna())
        raise TimesError(
            f"{where}: line {lines[row]} holds {text.iloc[row]!r}, whose {names.iloc[row]!r} is not a month name"
        )
    return month


def months(text, match, form, where, lines):
    """Months (2020-01, 2020M01, 01/2020, Jan 2020, 2020 Jan ...): the month's first day; written back as the input
    wrote them."""
    first = match.iloc[0]
    if form in ("name-year", "year-name"):
        month = _month_numbers(match["name"], text, where, lines)
        field_name = _name_field(match["name"])
        dot = "." if "." in text.iloc[0] else ""
        name_field = "{" + field_name + "}" + dot
        template = (name_field + first["sep"] + "{y}") if form == "name-year" else ("{y}" + first["sep"] + name_field)
    else:
        month = match["m"].astype(int)
        month_field = _number_field("m", match["m"])
        template = (
            ("{y}" + first["sep"] + month_field) if form == "year-month" else (month_field + first["sep"] + "{y}")
        )
    stamps = build(match["y"].astype(int), month, np.ones(len(month)), where, text, lines, "month")
    return stamps, TimeFormat("month", template=template), None


def _number_field(name: str, written: pd.Series) -> str:
    """The template field of a day, month or hour: two digits when the column always writes two (01), else as
    few as needed (1, 12)."""
    return "{" + name + ":02d}" if all(len(value) == 2 for value in written) else "{" + name + "}"


def _name_field(names: pd.Series) -> str:
    """The template field that writes month names as the column does: full names (all of them are) or
    abbreviations, in the first one's case (JAN, jan, Jan)."""
    full = {name.lower() for name in MONTH_NAMES}
    word = names.iloc[0].rstrip(".")
    written = {name.rstrip(".").lower() for name in names}
    # "may" is both: full names only when some name is longer than its abbreviation (a May-only column: "mon")
    field_name = "month" if written <= full and any(len(name) > 3 for name in written) else "mon"
    if word.isupper() and len(word) > 1:
        return field_name.upper()
    return field_name if word.islower() else field_name.capitalize()


def _time_template(match) -> tuple[str, bool]:
    """The time part of a day-month-year or year/month/day form, from the first value; whether there is one."""
    first = match.iloc[0]
    if pd.isna(first.get("H")) or first.get("H") is None:
        return "", False
    hours = _number_field("H", match["H"])
    seconds = ":{S:02d}" if isinstance(first.get("S"), str) else ""
    return first["tsep"] + hours + ":{M:02d}" + seconds, True


def _clock(match, where, text, lines):
    present = match["H"].notna().to_numpy()
    if present.any() and not present.all():
        row = first_index(present != present[0])
        raise TimesError(
            f"{where} mixes dates with and without a time of day: line {lines[0]} holds "
            f"{text.iloc[0]!r}, line {lines[row]} {text.iloc[row]!r}"
        )
    if not present.any():
        return None, None, None
    return (
        match["H"].astype(int).to_numpy(),
        match["M"].astype(int).to_numpy(),
        match["S"].fillna("0").astype(int).to_numpy(),
    )


def dates(text, match, form, where, lines, like, groups, codes):
    """Dates (31/01/2020, 2020/01/31, 31 Jan 2020, Jan 31, 2020), with a time of day when the form has one; numbers
    only are read day or month first by the module's rule. Written back as the input wrote them."""
    first = match.iloc[0]
    if form in ("day-name-year", "name-day-year"):
        month = _month_numbers(match["name"], text, where, lines)
        name = "{" + _name_field(match["name"]) + "}"
        day = _number_field("d", match["d"])
        if form == "day-name-year":
            template = day + first["sep"] + name + first["sep"] + "{y}"
        else:
            template = name + " " + day + ("," if "," in text.iloc[0] else "") + " {y}"
        stamps = build(match["y"].astype(int), month, match["d"].astype(int), where, text, lines, "date")
        return stamps, TimeFormat("date", template=template), None
    clock, timed = _time_template(match)
    hour, minute, second = _clock(match, where, text, lines)
    kind = "datetime" if timed else "date"
    if form == "year/month/day":
        template = (
            "{y}"
            + first["sep"]
            + _number_field("m", match["m"])
            + first["sep"]
            + _number_field("d", match["d"])
            + clock
        )
        stamps = build(
            match["y"].astype(int),
            match["m"].astype(int),
            match["d"].astype(int),
            where,
            text,
            lines,
            "date",
            hour,
            minute,
            second,
        )
        return stamps, TimeFormat(kind, template=template), None
    a, b, year = match["a"].astype(int).to_numpy(), match["b"].astype(int).to_numpy(), match["y"].astype(int)
    order = _day_month_order(a, b, text, where, lines, like, groups, codes, year, hour, minute, second)
    sep = first["sep"]
    width = all(len(value) == 2 for value in match["a"]) and all(len(value) == 2 for value in match["b"])
    d_field, m_field = ("{d:02d}", "{m:02d}") if width else ("{d}", "{m}")
    template = (d_field + sep + m_field if order == "dmy" else m_field + sep + d_field) + sep + "{y}" + clock
    day, month = (a, b) if order == "dmy" else (b, a)
    stamps = build(year, month, day, where, text, lines, "date", hour, minute, second)
    return stamps, TimeFormat(kind, template=template, order=order), None


def _day_month_order(a, b, text, where, lines, like, groups, codes, year, hour, minute, second) -> str:
    """'dmy' or 'mdy' for dates written 01/02/2020 (see the module's rule)."""
    if like is not None and like.order:
        return like.order
    day_first, month_first = a > 12, b > 12
    if day_first.any() and month_first.any():
        one, other = first_index(day_first), first_index(month_first)
        raise TimesError(
            f"{where} mixes day-first and month-first dates: line {lines[one]} holds "
            f"{text.iloc[one]!r}, line {lines[other]} {text.iloc[other]!r}"
        )
    if day_first.any():
        return "dmy"
    if month_first.any():
        return "mdy"
    regular = {}
    for order, (day, month) in (("dmy", (a, b)), ("mdy", (b, a))):
        try:
            stamps = build(year, month, day, where, text, lines, "date", hour, minute, second)
        except TimesError:
            regular[order] = False
            continue
        stamps = stamps[codes]  # per row
        regular[order] = all(
            _is_regular(stamps[np.asarray(rows)]) for rows in (groups or [np.arange(len(codes))]) if len(rows) >= 3
        )
    if regular["dmy"] != regular["mdy"]:
        return "dmy" if regular["dmy"] else "mdy"
    example = text.iloc[first_index(a != b)] if (a != b).any() else text.iloc[0]
    why = (
        "both orders give regularly spaced stamps" if regular["dmy"] else "neither order gives regularly spaced stamps"
    )
    raise TimesError(
        f"{where} has dates like {example!r} that read as day/month or month/day: no value above 12 "
        f"tells which, and {why}; pass --date-format '%d/%m/%Y' (day first) or '%m/%d/%Y' (month "
        f"first)"
    )


def _is_regular(stamps: pd.DatetimeIndex) -> bool:
    stamps = stamps.sort_values()
    if stamps.has_duplicates:
        return False
    try:
        _, size = expand(stamps, detect(stamps))
    except TimesError:
        return False
    return size == len(stamps)
