"""Care-event tokens: keyed tokens of (FINESS, date), one list per record.

Each event (a hospital stay) becomes the token of its establishment's FINESS and its
admission date; the holder named by the spec's ``tolerance_holder`` (or both) also emits
the tokens of the same FINESS on the days around it, so the linkage unit can count
events recorded a day off. Tokens are computed once per distinct (FINESS, day).

Two further lists serve events the narrow tokens miss; the linkage unit gives what they
find levels of their own in the events comparison, so the model learns what it is worth:

- ``wide_tolerance_days``: the tolerance holder's tokens of the same FINESS on the days
  beyond ``tolerance_days`` up to that many (``stays__wide``), less the record's own exact
  and near tokens, so the events they find are only those no narrower token found;
- a FINESS map (:class:`FinessMap`, each site's legal entity or group, the same table at
  both holders): tokens of (group, day) for every event (``stays__group``) and, from the
  tolerance holder, of (group, nearby day) (``stays__group_near``), so a stay that one
  holder files under a sister site of the other's still meets it at the group level.
  Without a map neither list is written and the file is what it was before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harmonie.errors import HarmonieError
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


FINESS_MAP_SITE = "finess"  # the map's site column; the other one is the group


class FinessMapError(HarmonieError):
    """The FINESS map cannot be used; the message says which row or column."""


@dataclass(frozen=True)
class FinessMap:
    """Each site's establishment group: FINESS (géographique) -> its legal entity (FINESS
    juridique) or another grouping both holders agree on.

    A FINESS the map does not list is a group of its own, so a stay one holder files under
    the legal entity's own number meets the other's stay at any of its sites. ``sha256``
    is the SHA-256 of the map's canonical content (its normalised pairs, sorted): it goes
    into the encoded file's metadata and the linkage unit refuses two files whose maps
    differ, however each holder stored the table.
    """

    groups: dict[str, str] = field(default_factory=dict)  # normalised site FINESS -> group

    @classmethod
    def from_table(cls, table: pa.Table, origin: str = "the FINESS map") -> "FinessMap":
        """From a table of two columns: ``finess`` (the site) and its group (any name, e.g.
        ``finess_juridique``). Every row needs a valid site FINESS and a group; a site listed
        twice must have one group."""
        names = list(table.column_names)
        if len(names) != 2 or FINESS_MAP_SITE not in names:
            raise FinessMapError(f"{origin} must have two columns, {FINESS_MAP_SITE!r} and its group "
                                 f"(e.g. 'finess_juridique'); it has: {', '.join(names) or 'none'}")
        group_column = names[1 - names.index(FINESS_MAP_SITE)]
        groups: dict[str, str] = {}
        for row, (site, group) in enumerate(zip(table[FINESS_MAP_SITE].to_pylist(), table[group_column].to_pylist()),
                                            start=1):
            finess = normalise_finess(site)
            if finess is None:
                raise FinessMapError(f"{origin}, row {row}: {FINESS_MAP_SITE!r} is not a FINESS number")
            name = _group_name(group)
            if name is None:
                raise FinessMapError(f"{origin}, row {row}: the group of FINESS {finess} is missing")
            if groups.setdefault(finess, name) != name:
                raise FinessMapError(f"{origin}: FINESS {finess} is mapped to two groups")
        if not groups:
            raise FinessMapError(f"{origin} is empty")
        return cls(groups)

    @property
    def sha256(self) -> str:
        canonical = "".join(f"{site};{group}\n" for site, group in sorted(self.groups.items()))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def group_of(self, finess: str) -> str:
        return self.groups.get(finess, finess)


def _group_name(value) -> str | None:
    """A group as written in the map: a FINESS number normalised like the sites', else its
    upper-cased text without spaces (a GHT or group code)."""
    if is_missing(value):
        return None
    return normalise_finess(value) or (re.sub(r"\s", "", ascii_upper(str(value))) or None)


def load_finess_map(path, *, encoding: str = "utf-8") -> FinessMap:
    """A FINESS map from a Parquet or CSV file (see :meth:`FinessMap.from_table`)."""
    from harmonie.io import read_table

    return FinessMap.from_table(read_table(path, encoding=encoding, what="FINESS map"), f"the FINESS map {path}")


def _keyed(subkey: bytes, domain: str, names: list[str | None], keys: np.ndarray) -> np.ndarray:
    """Tokens of (names[code], day) for keys = code << _DAY_BITS | day + _DAY_OFFSET, each
    distinct key hashed once."""
    needed, inverse = np.unique(keys, return_inverse=True)
    prefixes = [message(domain, f"{v}|") if v is not None else b"" for v in names]
    mask = (1 << _DAY_BITS) - 1
    low = int((needed & mask).min()) if len(needed) else 0
    high = int((needed & mask).max()) if len(needed) else 0
    iso = [iso_date(d - _DAY_OFFSET).encode("ascii") for d in range(low, high + 1)]
    tokens = hmac_tokens(subkey, [prefixes[k >> _DAY_BITS] + iso[(k & mask) - low] for k in needed.tolist()])
    return tokens[inverse]


def _not_yet_seen(rows: np.ndarray, keys: np.ndarray, seen_rows: np.ndarray, seen_keys: np.ndarray) -> np.ndarray:
    """Positions of the distinct (row, key) among (rows, keys) that are not among (seen_rows, seen_keys)."""
    all_rows, all_keys = np.concatenate([seen_rows, rows]), np.concatenate([seen_keys, keys])
    tag = np.concatenate([np.zeros(len(seen_rows), np.int8), np.ones(len(rows), np.int8)])
    order = np.lexsort((tag, all_keys, all_rows))  # by row, key, then seen first
    r, k = all_rows[order], all_keys[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (k[1:] != k[:-1])
    return order[first & (tag[order] == 1)] - len(seen_rows)


def event_columns(name: str, subkey: bytes, event_row: np.ndarray, finess: pa.ChunkedArray, dates: pa.ChunkedArray,
                  n_rows: int, tolerance_days: int, emit_near: bool, *, wide_days: int = 0, emit_wide: bool = False,
                  finess_map: FinessMap | None = None) -> tuple[dict[str, pa.Array], dict[str, int]]:
    """List columns ``name`` (exact tokens) and, if ``emit_near``, ``name__near`` for each record;
    with ``emit_wide``, ``name__wide`` (days beyond ``tolerance_days`` up to ``wide_days``, less
    the record's exact and near tokens); with ``finess_map``, ``name__group`` and, if
    ``emit_near``, ``name__group_near`` (see the module docstring).

    ``event_row`` gives each event's record row (-1: the event's patient is not encoded).
    """
    f_codes, f_values = distinct_codes(finess)
    f_norm = [normalise_finess(v) for v in f_values]
    f_ok = np.array([v is not None for v in f_norm] + [False])
    days = _event_days(dates)
    reach = max(tolerance_days, wide_days)
    day_ok = (days > -_DAY_OFFSET + reach) & (days < _DAY_OFFSET - reach)
    has_patient = event_row >= 0
    usable = has_patient & f_ok[f_codes] & day_ok
    flags = {"events_in": int(len(event_row)), "events_without_patient": int((~has_patient).sum()),
             "events_unusable": int((has_patient & ~usable).sum()), "events_encoded": int(usable.sum())}

    rows = event_row[usable]
    day = days[usable] + _DAY_OFFSET
    key = (f_codes[usable].astype(np.int64) << _DAY_BITS) | day
    near = [o for o in range(-tolerance_days, tolerance_days + 1) if o] if emit_near else []
    wide = [o for o in range(-wide_days, wide_days + 1) if abs(o) > tolerance_days] if emit_wide else []
    # one pass of HMAC over the distinct (FINESS, day) keys of every list
    per_key = _keyed(subkey, "event", f_norm, np.concatenate([key] + [key + o for o in near + wide]))
    per_key = per_key.reshape(1 + len(near) + len(wide), len(key))

    columns = {name: list_array(rows, per_key[0], n_rows)}
    if emit_near:
        columns[columns_of.near(name)] = list_array(np.tile(rows, len(near)), per_key[1:1 + len(near)].ravel(), n_rows)
    if emit_wide:
        seen = np.concatenate([key + o for o in [0, *near]])
        wide_rows, wide_keys = np.tile(rows, len(wide)), np.concatenate([key + o for o in wide])
        new = _not_yet_seen(wide_rows, wide_keys, np.tile(rows, 1 + len(near)), seen)
        columns[columns_of.wide(name)] = list_array(wide_rows[new], per_key[1 + len(near):].ravel()[new], n_rows)
    if finess_map is not None:
        group_names = sorted({finess_map.group_of(v) for v in f_norm if v is not None})
        group_code = {g: i for i, g in enumerate(group_names)}
        code_of = np.array([group_code[finess_map.group_of(v)] if v is not None else 0 for v in f_norm] + [0],
                           dtype=np.int64)
        group_key = (code_of[f_codes[usable]] << _DAY_BITS) | day
        group_tokens = _keyed(subkey, "event_group", group_names,
                              np.concatenate([group_key] + [group_key + o for o in near]))
        group_tokens = group_tokens.reshape(1 + len(near), len(key))
        columns[columns_of.group(name)] = list_array(rows, group_tokens[0], n_rows)
        if emit_near:
            columns[columns_of.group_near(name)] = list_array(np.tile(rows, len(near)), group_tokens[1:].ravel(),
                                                              n_rows)
        listed = set(finess_map.groups) | set(finess_map.groups.values())  # sites, and groups' own numbers
        known = np.array([v in listed for v in f_norm] + [False])
        flags["events_in_finess_map"] = int(known[f_codes[usable]].sum())
    return columns, flags
