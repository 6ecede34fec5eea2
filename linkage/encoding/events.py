"""Care-event tokens: keyed tokens of (FINESS, date), one list per record.

Each event (a hospital stay) becomes the token of its establishment's FINESS and its
admission date; the holder named by the spec's ``tolerance_holder`` (or both) also emits
the tokens of the same FINESS on the days around it, so the linkage unit can count
events recorded a day off. Tokens are computed once per distinct (FINESS, day).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage import encoded_columns as columns_of
from linkage.encoding.arrow import list_array
from linkage.encoding.fields import date_day, iso_date
from linkage.normalise.apply import distinct_codes
from linkage.normalise.dates import parse_date
from linkage.normalise.text import ascii_upper, is_missing
from privacy.keyed import hmac_tokens, message

_FINESS = re.compile(r"^(\d{2}|2A|2B)\d{7}$")
_DAY_BITS = 20
_DAY_OFFSET = 1 << (_DAY_BITS - 1)


def normalise_finess(value) -> str | None:
    """9-character FINESS number (spaces removed, Corsica 2A/2B kept), else None."""
    if is_missing(value):
        return None
    text = re.sub(r"\s", "", ascii_upper(str(value)))
    if text.isdigit() and len(text) == 8:  # lost its leading zero in a spreadsheet
        text = "0" + text
    return text if _FINESS.match(text) else None


def _event_days(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Days since 1970 of each event date; a large negative sentinel when unusable."""
    unusable = np.iinfo(np.int64).min
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.date32())
    if pa.types.is_date32(column.type):
        days = pc.cast(column, pa.int32())
        return pc.fill_null(pc.cast(days, pa.int64()), unusable).to_numpy(zero_copy_only=False)
    codes, values = distinct_codes(column)
    parsed = [None if is_missing(v) else parse_date(v) for v in values]
    lookup = np.array([date_day(p) if p is not None and p.complete else unusable for p in parsed] + [unusable],
                      dtype=np.int64)
    return lookup[codes]


def event_columns(name: str, subkey: bytes, event_row: np.ndarray, finess: pa.ChunkedArray, dates: pa.ChunkedArray,
                  n_rows: int, tolerance_days: int, emit_near: bool) -> tuple[dict[str, pa.Array], dict[str, int]]:
    """List columns ``name`` (exact tokens) and, if ``emit_near``, ``name__near`` for each record.

    ``event_row`` gives each event's record row (-1: the event's patient is not encoded).
    """
    f_codes, f_values = distinct_codes(finess)
    f_norm = [normalise_finess(v) for v in f_values]
    f_ok = np.array([v is not None for v in f_norm] + [False])
    days = _event_days(dates)
    day_ok = (days > -_DAY_OFFSET + tolerance_days) & (days < _DAY_OFFSET - tolerance_days)
    has_patient = event_row >= 0
    usable = has_patient & f_ok[f_codes] & day_ok
    flags = {"events_in": int(len(event_row)), "events_without_patient": int((~has_patient).sum()),
             "events_unusable": int((has_patient & ~usable).sum()), "events_encoded": int(usable.sum())}

    rows = event_row[usable]
    key = (f_codes[usable].astype(np.int64) << _DAY_BITS) | (days[usable] + _DAY_OFFSET)
    offsets = [o for o in range(-tolerance_days, tolerance_days + 1) if o] if emit_near else []
    # one sort gives the distinct (FINESS, day) keys and where each event's keys are among them
    needed, inverse = np.unique(np.concatenate([key] + [key + o for o in offsets]), return_inverse=True)
    prefixes = [message("event", f"{v}|") if v is not None else b"" for v in f_norm]
    mask = (1 << _DAY_BITS) - 1
    low = int((needed & mask).min()) if len(needed) else 0
    high = int((needed & mask).max()) if len(needed) else 0
    iso = [iso_date(d - _DAY_OFFSET).encode("ascii") for d in range(low, high + 1)]
    tokens = hmac_tokens(subkey, [prefixes[k >> _DAY_BITS] + iso[(k & mask) - low] for k in needed.tolist()])
    per_key = tokens[inverse].reshape(1 + len(offsets), len(key))

    columns = {name: list_array(rows, per_key[0], n_rows)}
    if emit_near:
        columns[columns_of.near(name)] = list_array(np.tile(rows, len(offsets)), per_key[1:].ravel(), n_rows)
    return columns, flags
