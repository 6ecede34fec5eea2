"""``encode_holder``: one holder's table -> encoded file, crosswalk and rejects.

1. Rows without an id, or repeating an id already seen, are rejected with a reason.
2. Every spec field is normalised (once per distinct value) and encoded under its own
   subkey; events come from the holder's events table (and, for events fields with
   ``establishment_groups``, the FINESS map both holders share, whose hash goes into the
   metadata: the linkage unit refuses files encoded with different maps).
3. Rows with no identifying value left are rejected too.
4. Each kept row gets a fresh linkage id, a keyed function of the local id (so reruns
   give the same file); the encoded file is sorted by linkage id and carries no local id.
   The crosswalk (local id <-> linkage id) stays with the holder.

Row counts always reconcile: rows_in = rows_encoded + rows_rejected.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmonie import __version__
from harmonie.errors import HarmonieError
from harmonie.progress import stage
from linkage.encoding.digest import table_digest
from linkage.encoding.encoded_file import EncodedFile, encoded_metadata
from linkage.encoding.events import FinessMap, event_columns
from linkage.encoding.fields import bloom_columns, date_columns, token_columns
from linkage.normalise.apply import Normalised, distinct_codes, normalise_columns
from linkage.spec import Spec
from privacy.keys import LinkageKey

LINKAGE_ID_BYTES = 10


@dataclass
class EncodeResult:
    encoded: pa.Table
    crosswalk: pa.Table
    rejects: pa.Table
    metadata: dict

    @property
    def encoded_file(self) -> EncodedFile:
        """What the linkage unit receives, as :func:`linkage.link` takes it without a file in between."""
        return EncodedFile(self.encoded, encoded_metadata(self.metadata))


def run_id(metadata: dict) -> str:
    """The id of this encoding, shared by the encoded file, the crosswalk and the rejects: a digest of the
    data, key, spec and holder, so the same inputs give the same id and another key or input another one.
    Whoever joins a crosswalk with links made from an encoded file checks the two ids agree."""
    seed = "\0".join(str(metadata.get(k)) for k in ("data_sha256", "key_fingerprint", "spec_hash", "holder",
                                                   "finess_map_sha256"))
    return hashlib.sha256(b"harmonie-encode-run/1\0" + seed.encode()).hexdigest()[:32]


def linkage_ids(subkey: bytes, local_ids: list[str]) -> tuple[list[str], np.ndarray]:
    """Keyed, reproducible linkage ids (80 bits of HMAC-SHA-256(subkey, local id), hex),
    and the order that sorts them."""
    digests = [hmac.digest(subkey, i.encode("utf-8"), "sha256")[:LINKAGE_ID_BYTES] for i in local_ids]
    order = np.argsort(np.array(digests, dtype=f"S{LINKAGE_ID_BYTES}"), kind="stable")
    return [d.hex() for d in digests], order


def required_columns(spec: Spec, role: str) -> list[str]:
    """The input columns a holder's table must have under ``spec``."""
    holder = spec.holder(role)
    columns = [holder.id_column]
    for f in spec.fields:
        columns += [holder.column(c) for c in f.columns]
    return list(dict.fromkeys(columns))


def _check_columns(table: pa.Table, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise HarmonieError(f"{what} lacks column(s) {', '.join(missing)} required by the spec")


def _reject_ids(ids: pa.ChunkedArray) -> tuple[np.ndarray, list[str | None]]:
    """Reason per row ('' when kept): missing id, duplicate id (the first occurrence is kept)."""
    text = pc.utf8_trim_whitespace(pc.cast(ids, pa.string()))
    missing = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    codes = pc.fill_null(pc.dictionary_encode(text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text)
                         .indices, -1).to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    repeated = np.ones(len(codes), dtype=bool)
    repeated[first] = False
    reasons = np.full(len(codes), "", dtype=object)
    reasons[repeated & ~missing] = "duplicate id (first occurrence kept)"
    reasons[missing] = "missing id"
    return reasons, text.to_pylist()


def encode_holder(spec: Spec, key: LinkageKey, role: str, patients: pa.Table | pd.DataFrame,
                  events: pa.Table | pd.DataFrame | None = None, *,
                  finess_map: FinessMap | pa.Table | pd.DataFrame | None = None) -> EncodeResult:
    """Encode one holder's records under ``spec`` and ``key`` (see the module docstring).

    ``finess_map``: each site's establishment group (a :class:`FinessMap`, or its table:
    ``finess`` and the group), for events fields with ``establishment_groups``; without it
    those fields get no group tokens and the file is what it would be without the option.
    """
    patients, events = (pa.Table.from_pandas(t, preserve_index=False) if isinstance(t, pd.DataFrame) else t
                        for t in (patients, events))  # pandas in, as a notebook user has it
    holder = spec.holder(role)
    _check_columns(patients, required_columns(spec, role), "the input table")
    event_fields = [f for f in spec.fields if f.encoding == "events"]
    if event_fields:
        if events is None:
            raise HarmonieError(f"the spec encodes events ({event_fields[0].name}): give the events table (--stays)")
        _check_columns(events, [holder.events.id_column, holder.events.finess, holder.events.date], "the events table")
    if finess_map is not None:
        if not any(f.establishment_groups for f in event_fields):
            raise HarmonieError("a FINESS map was given but no events field of the spec has "
                                "establishment_groups = true: it would not be used")
        if isinstance(finess_map, pd.DataFrame):
            finess_map = pa.Table.from_pandas(finess_map, preserve_index=False)
        if isinstance(finess_map, pa.Table):
            finess_map = FinessMap.from_table(finess_map)

    rows_in = patients.num_rows
    reasons, local_ids = _reject_ids(patients[holder.id_column])
    kept = np.flatnonzero(reasons == "")
    table = patients.take(pa.array(kept))
    n = len(kept)

    with stage(f"normalise {len(spec.fields)} fields of {n:,} records"):
        normalised: dict[str, Normalised] = {
            f.name: normalise_columns(f.normalise, [table[holder.column(c)] for c in f.columns])
            for f in spec.fields if f.encoding != "events"}

    columns: dict[str, pa.Array] = {}
    flags: dict[str, dict[str, int]] = {name: dict(norm.flags) for name, norm in normalised.items()}
    identifying = np.zeros(n, dtype=bool)
    with stage("encode fields"):
        for f in spec.fields:
            subkey = key.subkey(spec.project, f.key_name, "bloom" if f.encoding == "bloom" else "token")
            if f.encoding == "events":
                continue
            norm = normalised[f.name]
            identifying |= norm.present()
            if f.encoding in ("token", "pseudonym"):
                columns.update(token_columns(f, norm, subkey))
            elif f.encoding == "date":
                columns.update(date_columns(f, norm, subkey))
            else:
                columns.update(bloom_columns(f, norm, subkey, normalised.get(f.salt) if f.salt else None))
    for f in event_fields:
        with stage(f"encode events ({events.num_rows:,} rows)"):
            event_codes, event_ids = distinct_codes(events[holder.events.id_column])
            as_text = pc.utf8_trim_whitespace(pc.cast(pa.array(event_ids), pa.string()))  # as patient ids are
            row_of_id = _row_lookup([local_ids[i] for i in kept], as_text.to_pylist())
            event_row = np.where(event_codes >= 0, row_of_id[event_codes], -1)
            tolerance_side = f.tolerance_holder in (None, role)
            emit_near = bool(f.tolerance_days) and tolerance_side
            new, event_flags = event_columns(f.name, key.subkey(spec.project, f.key_name, "events"), event_row,
                                             events[holder.events.finess], events[holder.events.date], n,
                                             f.tolerance_days, emit_near, wide_days=f.wide_tolerance_days,
                                             emit_wide=bool(f.wide_tolerance_days) and tolerance_side,
                                             finess_map=finess_map if f.establishment_groups else None)
            columns.update(new)
            flags[f.name] = event_flags
            identifying |= np.diff(new[f.name].offsets.to_numpy()) > 0

    reasons[kept[~identifying]] = "no identifying value"
    encoded_rows = np.flatnonzero(identifying)
    kept_ids = [local_ids[kept[i]] for i in encoded_rows]
    with stage("linkage ids, sort and assemble"):
        ids, order = linkage_ids(key.subkey(spec.project, "linkage_id", role), kept_ids)
        take = pa.array(encoded_rows[order])
        encoded = pa.table({"linkage_id": pa.array(ids, pa.string()).take(pa.array(order)),
                            **{name: column.take(take) for name, column in columns.items()}})
        crosswalk = pa.table({"local_id": pa.array(kept_ids, pa.string()), "linkage_id": pa.array(ids, pa.string())})
        rejected = np.flatnonzero(reasons != "")
        rejects = pa.table({
            "row": pa.array(rejected + 1, pa.int64()),
            "local_id": pa.array([local_ids[i] for i in rejected], pa.string()),
            "reason": pa.array(reasons[rejected].tolist(), pa.string()),
        })
    metadata = {
        "tool": f"harmonie {__version__}", "spec_name": spec.name, "spec_hash": spec.hash,
        "key_fingerprint": key.fingerprint, "holder": role,
        "rows_in": rows_in, "rows_encoded": encoded.num_rows, "rows_rejected": rejects.num_rows,
        "columns": spec.encoded_columns(role, groups=finess_map is not None), "fields": flags,
    }
    if finess_map is not None:  # absent without a map: the metadata is what it was before maps
        metadata["finess_map_sha256"] = finess_map.sha256
    with stage("data digest"):
        metadata["data_sha256"] = table_digest(encoded)
    metadata["run_id"] = run_id(metadata)
    assert metadata["rows_in"] == metadata["rows_encoded"] + metadata["rows_rejected"]
    return EncodeResult(encoded, crosswalk, rejects, metadata)


def _row_lookup(row_ids: list[str], wanted: list) -> np.ndarray:
    """For each wanted id, its row among ``row_ids`` (-1 if absent); one entry more for null."""
    index = pd.Index(row_ids)
    return np.append(index.get_indexer(pd.Index(wanted, dtype=object)), -1).astype(np.int64)
