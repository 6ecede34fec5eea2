"""Dates as French files write them, including partial dates.

Accepted: DD/MM/YYYY (also with '-', '.' or spaces), YYYY-MM-DD (ISO, with or without a
time), YYYYMMDD, DDMMYYYY, MM/YYYY, YYYY, two-digit years (pivot: a year after the
current one is read as 19xx), and date objects. Day or month ``00`` (or missing) means
unknown and is kept as 0. An impossible day/month pair whose swap is possible
(13/25 -> 25/13) is swapped; any other impossible date is unparseable (None). So is any
date outside 1880-2100, whatever its form (text, a Parquet date, a timestamp): every stage
treats such a date as unusable (a reject or a quarantine row), never as a pandas overflow.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

_DMY = re.compile(r"^(\d{1,2})[/.\-\s](\d{1,2})[/.\-\s](\d{2}|\d{4})$")
_YMD = re.compile(r"^(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?:[T\s].*)?$")
_MY = re.compile(r"^(\d{1,2})[/.\-](\d{4})$")
_DIGITS = re.compile(r"^\d{8}$")
_YEAR = re.compile(r"^\d{4}$")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MIN_YEAR, MAX_YEAR = 1880, 2100


class PartialDate(NamedTuple):
    year: int
    month: int  # 0 = unknown
    day: int    # 0 = unknown

    @property
    def complete(self) -> bool:
        return self.month > 0 and self.day > 0


def _full_year(year: str) -> int:
    if len(year) == 4:
        return int(year)
    pivot = dt.date.today().year % 100
    return (1900 if int(year) > pivot else 2000) + int(year)


def _valid(year: int, month: int, day: int) -> bool:
    if not MIN_YEAR <= year <= MAX_YEAR or not 0 <= month <= 12 or not 0 <= day <= 31:
        return False
    if month and day:
        if day > _DAYS_IN_MONTH[month - 1]:
            return False
        if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
            return False
    return not (day and not month)


def _checked(year: int, month: int, day: int) -> PartialDate | None:
    if _valid(year, month, day):
        return PartialDate(year, month, day)
    if month > 12 and _valid(year, day, month):  # written month-first
        return PartialDate(year, day, month)
    return None


def parse_date(value) -> PartialDate | None:
    """A :class:`PartialDate`, or None when the value is missing or cannot be a date."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return None if pd.isna(value) else _checked(value.year, value.month, value.day)
    if isinstance(value, dt.date):  # a Parquet date: still only 1880-2100 (9999-12-31 is a placeholder, not a date)
        return _checked(value.year, value.month, value.day)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        day = value.astype("datetime64[D]")  # never through pandas' nanoseconds (1677-2262)
        if not np.datetime64(f"{MIN_YEAR:04d}-01-01") <= day <= np.datetime64(f"{MAX_YEAR:04d}-12-31"):
            return None
        return parse_date(day.astype(dt.date))
    if len(text := str(value)) > 64:  # no date is that long; do not scan megabytes
        return None
    text = text.strip()
    if match := _YMD.match(text):
        return _checked(int(match[1]), int(match[2]), int(match[3]))
    if match := _DMY.match(text):
        return _checked(_full_year(match[3]), int(match[2]), int(match[1]))
    if match := _MY.match(text):
        return _checked(int(match[2]), int(match[1]), 0)
    if _DIGITS.match(text):
        if MIN_YEAR <= int(text[:4]) <= MAX_YEAR:
            parsed = _checked(int(text[:4]), int(text[4:6]), int(text[6:]))
            if parsed:
                return parsed
        return _checked(int(text[4:]), int(text[2:4]), int(text[:2]))
    if _YEAR.match(text):
        return _checked(int(text), 0, 0)
    return None
