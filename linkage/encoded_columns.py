"""How a field's encodings are named in an encoded file: the one place that spells the suffixes.

A field ``birth_date`` encoded as a date gives ``birth_date`` (the exact date's token),
``birth_date__ym`` and ``birth_date__y`` (its year-month and year), ``birth_date__swap``
(the day/month-swapped date) and ``birth_date__near`` (tokens of the days around it); an
events field ``stays`` gives the list ``stays`` and, from the holder that emits them,
``stays__near``. Spec field names may not contain ``__``, so a column's field is the part
before it. The spec, the holders' encoding, comparison, blocking, the Spark engine and the
attack audit all ask this module rather than writing the suffixes themselves.
"""

from __future__ import annotations

SEPARATOR = "__"
DATE_PART_SUFFIXES = {"exact": "", "year_month": "__ym", "year": "__y"}
NEAR, SWAP = "__near", "__swap"


def date_part(field: str, part: str) -> str:
    """The column of a date field's ``part`` ("exact", "year_month" or "year")."""
    return field + DATE_PART_SUFFIXES[part]


def near(field: str) -> str:
    """The column of tolerance tokens (the days around a date, a stay's neighbouring days)."""
    return field + NEAR


def swapped(field: str) -> str:
    """The column of a date's day/month-swapped token."""
    return field + SWAP


def is_near(column: str) -> bool:
    return column.endswith(NEAR)


def field_of(column: str) -> str:
    """The spec field an encoded column belongs to (``birth_date__ym`` -> ``birth_date``)."""
    return column.split(SEPARATOR)[0]


def event_joins(field: str, left_lists: set[str], right_lists: set[str]) -> list[tuple[str, str]]:
    """(left column, right column) pairs whose shared tokens count a shared event of ``field``.

    The exact tokens both sides, plus the tolerance tokens of one side only (the left's if
    it emits them, else the right's): both directions would count a stay a day off twice.
    Blocking joins on the same pairs, so a pair it proposes always shares an event.
    """
    joins = [(field, field)]
    if near(field) in left_lists:
        joins.append((near(field), field))
    elif near(field) in right_lists:
        joins.append((field, near(field)))
    return joins
