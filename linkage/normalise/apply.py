"""Apply the spec's normalisers to a holder's columns, once per distinct raw value.

The result of normalising a field is a :class:`Normalised`: one code per row into a list
of distinct canonical values (-1 when the value is missing or unusable), plus counts of
what was set aside and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.normalise.dates import PartialDate, parse_date
from linkage.normalise.names import given_names, surname
from linkage.normalise.nir import NirStatus, normalise_nir
from linkage.normalise.places import commune_code, departement_of_commune, departement_of_postcode
from linkage.normalise.sex import normalise_sex
from linkage.normalise.text import ascii_upper, is_missing


@dataclass
class Normalised:
    codes: np.ndarray                 # int64 per row, -1 = missing
    values: list                      # distinct canonical values
    flags: dict[str, int] = field(default_factory=dict)

    def present(self) -> np.ndarray:
        return self.codes >= 0

    def row_values(self) -> list:
        """Per-row canonical values (None when missing); for tests and small tables."""
        return [self.values[c] if c >= 0 else None for c in self.codes]


def distinct_codes(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """(code per row, -1 for null; distinct values) of an Arrow column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        encoded = column
    else:
        encoded = pc.dictionary_encode(column)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, encoded.dictionary.to_pylist()


def _nir(value) -> str | None:
    return normalise_nir(value)[0]


def _sex(value) -> str | None:
    sex = normalise_sex(value)
    return None if sex is None else str(sex)


def _first(value) -> str | None:
    names = given_names(value)
    return names[0] if names else None


def _all_given(value) -> str | None:
    names = given_names(value)
    return names[1] if names else None


def _commune(value) -> str | None:
    return commune_code(value)


def _departement(value) -> str | None:
    code = commune_code(value)
    return departement_of_commune(code) if code else None


def _text(value) -> str | None:
    return ascii_upper(str(value)).strip() or None


def _foin(nir, birth, sex) -> str | None:
    body, date, sex_code = _nir(nir), parse_date(birth), normalise_sex(sex)
    if body is None or date is None or not date.complete or sex_code is None:
        return None
    return f"{body}|{date.year:04d}{date.month:02d}{date.day:02d}|{sex_code}"


def _birth_name(birth, use) -> str | None:
    if not is_missing(birth):
        name = surname(birth)
        if name:
            return name
    return surname(use, "birth") if not is_missing(use) else None


_SINGLE: dict[str, Callable[[Any], Any]] = {
    "sex": _sex, "date": parse_date, "nir": _nir, "surname": surname, "use_name": surname,
    "first_name": _first, "given_names": _all_given, "commune": _commune, "departement": _departement,
    "postcode_departement": departement_of_postcode, "text": _text,
}
_MULTI: dict[str, Callable[..., Any]] = {"foin": _foin, "birth_name": _birth_name}


def _remap(raw_codes: np.ndarray, normalised: list) -> tuple[np.ndarray, list]:
    """Merge raw values that normalise to the same canonical value."""
    index: dict[Any, int] = {}
    remap = np.full(len(normalised) + 1, -1, dtype=np.int64)
    for i, value in enumerate(normalised):
        if value is not None:
            remap[i] = index.setdefault(value, len(index))
    return remap[raw_codes], list(index)


def normalise_columns(normaliser: str, columns: list[pa.Array | pa.ChunkedArray]) -> Normalised:
    """Normalise one field's input columns (as many as the normaliser takes)."""
    if normaliser in _SINGLE:
        (column,) = columns
        raw_codes, raw_values = distinct_codes(column)
        function = _SINGLE[normaliser]
        normalised = [None if is_missing(v) else function(v) for v in raw_values]
        occurrences = np.bincount(raw_codes[raw_codes >= 0], minlength=len(raw_values))
        blank = np.array([is_missing(raw) for raw in raw_values], dtype=bool)
        unusable = np.array([v is None for v in normalised], dtype=bool) & ~blank
        flags = {"missing": int((raw_codes < 0).sum() + occurrences[blank].sum()),
                 "unusable": int(occurrences[unusable].sum())}
        if normaliser == "nir":
            statuses: Counter = Counter()
            for n, raw in zip(occurrences, raw_values):
                if not is_missing(raw):
                    statuses[normalise_nir(raw)[1].value] += int(n)
            flags.update({f"nir_{status}": count for status, count in statuses.items()
                          if status not in (NirStatus.OK.value, NirStatus.MISSING.value)})
        codes, values = _remap(raw_codes, normalised)
        return Normalised(codes, values, flags)

    function = _MULTI[normaliser]
    per_column = [distinct_codes(c) for c in columns]
    key = np.zeros(len(per_column[0][0]), dtype=np.int64)
    for codes, values in per_column:  # combination key, re-compressed at each step so it never overflows
        key = np.unique(key, return_inverse=True)[1].astype(np.int64) * (len(values) + 1) + (codes + 1)
    _, first_row, inverse = np.unique(key, return_index=True, return_inverse=True)
    normalised = []
    for row in first_row:
        args = [values[codes[row]] if codes[row] >= 0 else None for codes, values in per_column]
        normalised.append(None if all(is_missing(a) for a in args) else function(*args))
    codes, values = _remap(inverse.astype(np.int64), normalised)
    return Normalised(codes, values, {"missing": int((codes < 0).sum())})


__all__ = ["Normalised", "PartialDate", "distinct_codes", "normalise_columns"]
