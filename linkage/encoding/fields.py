"""Encode one normalised field: keyed tokens, date tokens, Bloom filters."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from linkage import encoded_columns as columns_of
from linkage.encoding.arrow import filter_array, list_array, token_array
from linkage.normalise.apply import Normalised
from linkage.normalise.dates import PartialDate
from linkage.spec import FieldSpec
from privacy.bloom import BloomEncoder
from privacy.keyed import MISSING, hmac_tokens, message, value_tokens

_EPOCH = np.datetime64("1970-01-01", "D")


def _per_row(distinct_tokens: np.ndarray, norm: Normalised) -> np.ndarray:
    lookup = np.append(distinct_tokens, MISSING)  # code -1 picks the sentinel
    return lookup[norm.codes]


def token_columns(field: FieldSpec, norm: Normalised, subkey: bytes) -> dict[str, pa.Array]:
    """Equality tokens of text values (tokens and pseudonyms)."""
    tokens = value_tokens(subkey, field.normalise, [str(v) for v in norm.values])
    return {field.name: token_array(_per_row(tokens, norm))}


def date_day(date: PartialDate) -> int | None:
    """Days since 1970-01-01 of a complete date."""
    if not date.complete:
        return None
    return int((np.datetime64(f"{date.year:04d}-{date.month:02d}-{date.day:02d}", "D") - _EPOCH).astype(int))


def iso_date(day: int) -> str:
    """'YYYY-MM-DD' of a day number since 1970-01-01."""
    return str(_EPOCH + np.timedelta64(day, "D"))


def date_tokens(subkey: bytes, days: list[int]) -> np.ndarray:
    """Tokens of complete dates given as day numbers (the 'date' domain)."""
    return hmac_tokens(subkey, [message("date", iso_date(d)) for d in days])


def date_columns(field: FieldSpec, norm: Normalised, subkey: bytes) -> dict[str, pa.Array]:
    """Tokens of a date: exact, year-month, year, the day/month-swapped date, and nearby days."""
    dates: list[PartialDate] = norm.values
    days = [date_day(d) for d in dates]
    columns: dict[str, pa.Array] = {}

    def add(column: str, messages: list[bytes | None]) -> None:
        present = [m for m in messages if m is not None]
        tokens = hmac_tokens(subkey, present)
        distinct = np.full(len(messages), MISSING, dtype=np.int64)
        distinct[[i for i, m in enumerate(messages) if m is not None]] = tokens
        columns[column] = token_array(_per_row(distinct, norm))

    if "exact" in field.parts:
        add(field.name, [message("date", iso_date(d)) if d is not None else None for d in days])
    if "year_month" in field.parts:
        add(columns_of.date_part(field.name, "year_month"), [message("ym", f"{d.year:04d}-{d.month:02d}") if d.month else None for d in dates])
    if "year" in field.parts:
        add(columns_of.date_part(field.name, "year"), [message("y", f"{d.year:04d}") for d in dates])
    if field.swap:
        add(columns_of.swapped(field.name), [
            message("date", f"{d.year:04d}-{d.day:02d}-{d.month:02d}") if d.complete and d.day <= 12 and d.day != d.month
            else None for d in dates])
    if field.tolerance_days:
        offsets = [o for o in range(-field.tolerance_days, field.tolerance_days + 1) if o]
        near_days = sorted({d + o for d in days if d is not None for o in offsets})
        near_tokens = dict(zip(near_days, date_tokens(subkey, near_days).tolist()))
        near = np.zeros((len(days) + 1, len(offsets)), dtype=np.int64)  # last row: missing
        complete = np.zeros(len(days) + 1, dtype=bool)
        for i, d in enumerate(days):
            if d is not None:
                near[i] = [near_tokens[d + o] for o in offsets]
                complete[i] = True
        rows = np.flatnonzero(complete[norm.codes])
        columns[columns_of.near(field.name)] = list_array(np.repeat(rows, len(offsets)), near[norm.codes[rows]].ravel(),
                                                    len(norm.codes))
    return columns


def salt_values(norm: Normalised) -> list[str]:
    """Salt text of each distinct value of the salting field (a date salts with its year)."""
    return [str(v.year) if isinstance(v, PartialDate) else str(v) for v in norm.values]


def bloom_columns(field: FieldSpec, norm: Normalised, subkey: bytes, salt: Normalised | None) -> dict[str, pa.Array]:
    """Bloom filters, one per distinct (salt, value)."""
    encoder = BloomEncoder(subkey, field.bloom)
    if salt is None:
        pair_codes = norm.codes
        pairs = [("", v) for v in norm.values]
    else:
        usable = (norm.codes >= 0) & (salt.codes >= 0)
        key = np.where(usable, salt.codes * (len(norm.values) + 1) + norm.codes, -1)
        distinct, inverse = np.unique(key, return_inverse=True)
        pair_codes = np.where(key >= 0, inverse - int(len(distinct) > 0 and distinct[0] < 0), -1)
        salts = salt_values(salt)
        pairs = [(salts[k // (len(norm.values) + 1)], norm.values[k % (len(norm.values) + 1)])
                 for k in distinct if k >= 0]
    filters = encoder.encode_distinct(pairs)
    present = pair_codes >= 0
    out = np.zeros((len(pair_codes), encoder.settings.output_bytes), dtype=np.uint8)
    out[present] = filters[pair_codes[present]]
    return {field.name: filter_array(out, present)}
