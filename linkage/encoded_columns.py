"""How a field's encodings are named in an encoded file: the one place that spells the suffixes.

A field ``birth_date`` encoded as a date gives ``birth_date`` (the exact date's token),
``birth_date__ym`` and ``birth_date__y`` (its year-month and year), ``birth_date__swap``
(the day/month-swapped date) and ``birth_date__near`` (tokens of the days around it); an
events field ``stays`` gives the list ``stays`` and, from the holder that emits them,
``stays__near`` and (with ``wide_tolerance_days``) ``stays__wide``; with a FINESS map,
``stays__group`` (tokens of the stays' establishment group and day) and, from the
tolerance holder, ``stays__group_near``. Spec field names may not contain ``__``, so a
column's field is the part before it. The spec, the holders' encoding, comparison, blocking, the Spark engine and the
attack audit all ask this module rather than writing the suffixes themselves.
"""

from __future__ import annotations

SEPARATOR = "__"
DATE_PART_SUFFIXES = {"exact": "", "year_month": "__ym", "year": "__y"}
NEAR, SWAP = "__near", "__swap"
WIDE, GROUP, GROUP_NEAR = "__wide", "__group", "__group_near"


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


def wide(field: str) -> str:
    """The column of an events field's wide-tolerance tokens: its stays' FINESS on the days
    beyond ``tolerance_days`` up to ``wide_tolerance_days`` (minus the record's own exact and
    near tokens, so a stay they find is one no narrower token found)."""
    return field + WIDE


def group(field: str) -> str:
    """The column of tokens of (establishment group, day) of an events field's stays."""
    return field + GROUP


def group_near(field: str) -> str:
    """The column of tokens of (establishment group, nearby day), from the tolerance holder."""
    return field + GROUP_NEAR


def _one_side(exact: str, other: str, left_lists: set[str], right_lists: set[str]) -> list[tuple[str, str]]:
    """(other, exact) if the left holds ``other``, else (exact, other) if the right does, else none."""
    if other in left_lists:
        return [(other, exact)]
    if other in right_lists:
        return [(exact, other)]
    return []


def wide_joins(field: str, left_lists: set[str], right_lists: set[str]) -> list[tuple[str, str]]:
    """(left column, right column) pairs whose shared tokens count the events of ``field``
    shared only within the wide tolerance: the one side's wide tokens against the other's
    exact ones (none when neither file holds wide tokens)."""
    return _one_side(field, wide(field), left_lists, right_lists)


def group_joins(field: str, left_lists: set[str], right_lists: set[str]) -> list[tuple[str, str]]:
    """(left column, right column) pairs whose shared tokens count the events of ``field``
    shared at the establishment-group level (same group, same day or within the tolerance),
    like :func:`event_joins` at the site level; none unless both files hold group tokens
    (both holders encoded with a FINESS map)."""
    if group(field) not in left_lists or group(field) not in right_lists:
        return []
    return [(group(field), group(field)), *_one_side(group(field), group_near(field), left_lists, right_lists)]


def event_blocking_joins(field: str, left_lists: set[str], right_lists: set[str]) -> list[tuple[str, str]]:
    """Every join an events blocking pass on ``field`` runs: :func:`event_joins`, then
    :func:`wide_joins` and :func:`group_joins` where the files hold those tokens, so a pair
    it proposes shares an event at some level of the events comparisons."""
    return [*event_joins(field, left_lists, right_lists), *wide_joins(field, left_lists, right_lists),
            *group_joins(field, left_lists, right_lists)]
