"""What each holder writes down about a person: its recording habits and its mistakes.

Both holders' identity columns are built by the same steps (names, given names, sex, birth
date, NIR, commune), each step taking the holder's :class:`SideCorruption` rates and its
style (the insurer writes upper-case ASCII and ISO dates; hospitals write mixed case,
accents, French dates and their own sex codes). Every corruption applied is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.datasets.coded import CodedStrings, zero_padded
from linkage.datasets.corruption import digit_typo, pick, title_case, typos
from linkage.datasets.params import SideCorruption
from linkage.datasets.persons import calendar
from linkage.normalise.text import strip_accents

SEX_CODINGS = (("M", "F"), ("H", "F"), ("1", "2"))  # (male, female) as hospitals code them
SEX_CODING_SHARES = (0.5, 0.25, 0.25)


@dataclass
class CorruptionLog:
    """Which corruption hit which record, and how many records could have been hit."""

    side: list[str] = field(default_factory=list)
    row: list[np.ndarray] = field(default_factory=list)
    field_name: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    rates: list[dict] = field(default_factory=list)

    def add(self, side: str, field_name: str, kind: str, rows: np.ndarray, eligible: int, configured: float) -> None:
        self.side.append(side)
        self.row.append(np.asarray(rows, dtype=np.int64))
        self.field_name.append(field_name)
        self.kind.append(kind)
        self.rates.append({"side": side, "field": field_name, "kind": kind, "eligible": int(eligible),
                           "applied": int(len(rows)), "configured_rate": float(configured)})


def _log_pick(log: CorruptionLog, side: str, field_name: str, kind: str, rng: np.random.Generator,
              rate: float, eligible: np.ndarray) -> np.ndarray:
    rows = pick(rng, rate, eligible)
    log.add(side, field_name, kind, rows, int(eligible.sum()), rate)
    return rows


def _present(column: CodedStrings) -> np.ndarray:
    return column.codes >= 0


def corrupt_surname(column: CodedStrings, field_name: str, side: str, rates: SideCorruption,
                    rng: np.random.Generator, log: CorruptionLog) -> None:
    """Typos and dropped hyphens in one surname column, in place."""
    rows = _log_pick(log, side, field_name, "typo", rng, rates.name_typo, _present(column))
    column.edit(rows, typos([column.get(i) for i in rows], rng))
    hyphenated = np.array(["-" in v for v in column.values], dtype=bool)
    eligible = _present(column) & hyphenated[np.maximum(column.codes, 0)]
    rows = _log_pick(log, side, field_name, "hyphen_dropped", rng, rates.drop_hyphens, eligible)
    column.restyle(rows, lambda v: v.replace("-", " "))


def corrupt_first_names(parts: list[CodedStrings], side: str, rates: SideCorruption, rng: np.random.Generator,
                        log: CorruptionLog) -> pa.Array:
    """Given names as a holder records them: maybe only the first, maybe swapped, typos."""
    first, second, third = parts
    several = _present(second)
    rows = _log_pick(log, side, "first_names", "swapped", rng, rates.first_names_swapped, several)
    first.codes[rows], second.codes[rows] = second.codes[rows].copy(), first.codes[rows].copy()
    rows = _log_pick(log, side, "first_names", "first_only", rng, rates.first_name_only, several)
    second.set_missing(rows)
    third.set_missing(rows)
    rows = _log_pick(log, side, "first_names", "typo", rng, rates.first_name_typo, _present(first))
    first.edit(rows, typos([first.get(i) for i in rows], rng))
    hyphenated = np.array(["-" in v for v in first.values], dtype=bool)
    rows = _log_pick(log, side, "first_names", "hyphen_dropped", rng, rates.drop_hyphens,
                     _present(first) & hyphenated[np.maximum(first.codes, 0)])
    first.restyle(rows, lambda v: v.replace("-", " "))
    rows = _log_pick(log, side, "first_names", "missing", rng, rates.value_missing, _present(first))
    for part in parts:
        part.set_missing(rows)
    return join_words([first.to_arrow(), second.to_arrow(), third.to_arrow()])


def join_words(columns: list[pa.Array]) -> pa.Array:
    """Row-wise ' '.join of the non-null values; null where all are null.

    (pyarrow's ``binary_join_element_wise(null_handling="skip")`` drops all-null rows.)
    """
    filled = [pc.fill_null(c, "") for c in columns]
    joined = pc.utf8_trim_whitespace(pc.replace_substring_regex(
        pc.binary_join_element_wise(*filled, " "), "  +", " "))
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def apply_style(columns: list[CodedStrings], side: str, rates: SideCorruption, rng: np.random.Generator,
                log: CorruptionLog, *, insurer: bool) -> None:
    """The holder's way of writing names: upper-case ASCII for the insurer; hospitals mix
    upper and title case, and some of their records lose accents."""
    n = len(columns[0])
    if insurer:
        for column in columns:
            column.restyle(np.arange(n), lambda v: strip_accents(v).upper())
        return
    titled = np.flatnonzero(rng.random(n) < 0.5)
    rows = _log_pick(log, side, "names", "accents_dropped", rng, rates.drop_accents, np.ones(n, dtype=bool))
    for column in columns:
        column.restyle(titled, title_case)
        column.restyle(rows, strip_accents)


def format_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray, order: str) -> pa.Array:
    """Dates as text, day 0 written '00' (unknown day): order 'dmy' -> 14/03/1956, 'ymd' -> 1956-03-14."""
    y, m, d = zero_padded(year, 4), zero_padded(month, 2), zero_padded(day, 2)
    if order == "dmy":
        return pc.binary_join_element_wise(d, m, y, "/")
    return pc.binary_join_element_wise(y, m, d, "-")


def corrupt_birth_dates(birth: np.ndarray, side: str, rates: SideCorruption, rng: np.random.Generator,
                        log: CorruptionLog, order: np.ndarray | str) -> pa.Array:
    """Birth dates with typos, day/month swaps and unknown days, as the holder writes them."""
    year, month, day = calendar(birth)
    n = len(birth)
    everyone = np.ones(n, dtype=bool)

    rows = _log_pick(log, side, "birth_date", "typo", rng, rates.birth_date_typo, everyone)
    on_year = rng.random(len(rows)) < 0.5
    year[rows[on_year]] += rng.choice([-1, 1], size=int(on_year.sum()))
    day_rows = rows[~on_year]
    day[day_rows] = 1 + (day[day_rows] - 1 + rng.integers(1, 27, size=len(day_rows))) % 28

    rows = _log_pick(log, side, "birth_date", "day_month_swap", rng, rates.birth_day_month_swap,
                     (day <= 12) & (day != month))
    day[rows], month[rows] = month[rows].copy(), day[rows].copy()

    rows = _log_pick(log, side, "birth_date", "day_missing", rng, rates.birth_day_missing, everyone)
    day[rows] = 0

    if isinstance(order, str):
        return format_dates(year, month, day, order)
    dmy = format_dates(year, month, day, "dmy")
    ymd = format_dates(year, month, day, "ymd")
    return pc.if_else(pa.array(order == "dmy"), dmy, ymd)


def _replace_rows(array: pa.Array, rows: np.ndarray, values: list[str | None]) -> pa.Array:
    if len(rows) == 0:
        return array
    mask = np.zeros(len(array), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(array, pa.array(mask), pa.array(values, type=pa.string()))


def spaced_nir(nir: str) -> str:
    """'256037511400542' -> '2 56 03 75 114 005 42', as written on a carte Vitale."""
    return " ".join((nir[0], nir[1:3], nir[3:5], nir[5:7], nir[7:10], nir[10:13], nir[13:15]))


def corrupt_nirs(nir: pa.Array, side: str, rates: SideCorruption, rng: np.random.Generator, log: CorruptionLog,
                 spaced_rate: float = 0.0) -> pa.Array:
    """NIRs missing, mistyped (one digit off or two swapped), and sometimes spaced out."""
    n = len(nir)
    everyone = np.ones(n, dtype=bool)
    missing = _log_pick(log, side, "nir", "missing", rng, rates.nir_missing, everyone)
    present = everyone.copy()
    present[missing] = False
    rows = _log_pick(log, side, "nir", "typo", rng, rates.nir_typo, present)
    nir = _replace_rows(nir, rows, [digit_typo(v, rng) for v in nir.take(pa.array(rows)).to_pylist()])
    spaced = pick(rng, spaced_rate, present)
    nir = _replace_rows(nir, spaced, [spaced_nir(v) for v in nir.take(pa.array(spaced)).to_pylist()])
    return _replace_rows(nir, missing, [None] * len(missing))


def commune_column(codes: np.ndarray, commune: np.ndarray, side: str, rates: SideCorruption,
                   rng: np.random.Generator, log: CorruptionLog) -> pa.Array:
    rows = _log_pick(log, side, "commune_code", "missing", rng, rates.commune_missing, np.ones(len(commune), bool))
    mask = np.zeros(len(commune), dtype=bool)
    mask[rows] = True
    return pa.array(codes[commune], mask=mask, type=pa.string())


def sex_column(sex: np.ndarray, labels: np.ndarray, side: str, rates: SideCorruption, rng: np.random.Generator,
               log: CorruptionLog) -> pa.Array:
    """``labels`` is (n, 2): each record's codes for male and female."""
    rows = _log_pick(log, side, "sex", "missing", rng, rates.value_missing, np.ones(len(sex), bool))
    mask = np.zeros(len(sex), dtype=bool)
    mask[rows] = True
    values = labels[np.arange(len(sex)), sex.astype(np.int64) - 1]
    return pa.array(values, mask=mask, type=pa.string())
