"""Harmonie patient ids: new ones from a cluster's anchor, and last year's carried over, with a change log.

A first run gives each cluster ``HP`` + 20 hex digits of SHA-256 of its anchor record (its
first source's smallest linkage id). A refresh carries last year's ids over:

- each of last year's ids goes to the cluster now holding most of its records (ties: the
  cluster with the smallest number, i.e. the smallest anchor);
- a cluster offered several ids keeps the one of most of its records (ties: the smallest id);
  the others are **merged** into it (retired);
- a cluster offered none gets a new id (its anchor's; if that id was ever used, the anchor's
  hashed with a counter): a **new patient**, or a **split** when some of its records had an id
  that another cluster kept.

The change log lists those, and per record ``record_added`` (not there last year),
``record_moved`` (its patient's id changed), ``record_removed`` (gone from this year's files).
Linkage ids are handled as fixed-width bytes (:func:`as_ids`) and previous ids as integer
codes: millions of them sort and search in numpy at once, never as strings in pandas.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PREFIX = "HP"
CHANGE_COLUMNS = ("kind", "harmonie_id", "previous_harmonie_id", "source", "linkage_id", "pair", "left_id",
                  "right_id", "previous_right_id", "match_weight", "previous_match_weight")


def as_ids(values) -> np.ndarray:
    """Linkage ids (an Arrow column, a list of str, or bytes) as a fixed-width bytes array: 20-character ids
    of a 3,000,000-record file in milliseconds through Arrow's fixed-size binary, not Python strings."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if len(values) == 0:
            return np.zeros(0, dtype="S1")
        width = int(pc.max(pc.utf8_length(values)).as_py() or 1)
        if values.null_count == 0 and int(pc.min(pc.utf8_length(values)).as_py()) == width:
            fixed = values.cast(pa.binary(width))
            return np.frombuffer(fixed.buffers()[1], dtype=f"S{width}")[fixed.offset:fixed.offset + len(fixed)].copy()
        values = values.to_pylist()
    values = np.asarray(values)
    return values if values.dtype.kind == "S" else values.astype(object).astype("S") if len(values) else \
        np.zeros(0, dtype="S1")


def id_strings(ids: np.ndarray) -> pa.Array:
    return pa.array(np.char.decode(ids, "ascii") if len(ids) else [], pa.string())


def anchor_id(source: str, linkage_id: bytes, attempt: int = 0) -> str:
    seed = f"harmonie-patient/1\0{source}\0".encode() + linkage_id + (b"" if not attempt else f"\0{attempt}".encode())
    return PREFIX + hashlib.sha256(seed).hexdigest()[:20]


def new_ids(sources: list[str], anchors: np.ndarray, source_of_anchor: np.ndarray) -> list[str]:
    """One id per cluster from its anchor record (source index, linkage id as bytes)."""
    return [anchor_id(sources[s], a) for s, a in zip(source_of_anchor.tolist(), anchors.tolist())]


def change_table(parts: list[pd.DataFrame]) -> pa.Table:
    """The change log: one row per change, the columns of ``CHANGE_COLUMNS`` (empty where they do not apply)."""
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=list(CHANGE_COLUMNS))
    types = {c: pa.float64() if "weight" in c else pa.string() for c in CHANGE_COLUMNS}
    return pa.table({c: pa.array(frame[c].astype(object).where(frame[c].notna(), None).tolist()
                                 if c in frame else [None] * len(frame), types[c]) for c in CHANGE_COLUMNS})


def _previous_codes(node_source: np.ndarray, node_ids: np.ndarray, sources: list[str], previous: pd.DataFrame
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per node, the code of its previous id or -1; the previous ids by code, sorted; per previous record,
    whether it is still a node) by sorted fixed-width ids per source, never a string sort in pandas."""
    old_ids, code = np.unique(previous.harmonie_id.to_numpy(dtype=object).astype(str), return_inverse=True)
    node_code = np.full(len(node_source), -1, dtype=np.int64)
    still = np.zeros(len(previous), dtype=bool)
    for s, name in enumerate(sources):
        rows = np.flatnonzero((previous.source == name).to_numpy())
        if not len(rows):
            continue
        theirs = as_ids(pa.array(previous.linkage_id.to_numpy(dtype=object)[rows].astype(str)))
        order = np.argsort(theirs, kind="stable")
        theirs, rows = theirs[order], rows[order]
        nodes = np.flatnonzero(node_source == s)
        at = np.minimum(np.searchsorted(theirs, node_ids[nodes].astype(theirs.dtype)), len(theirs) - 1)
        hit = theirs[at] == node_ids[nodes]
        node_code[nodes[hit]] = code[rows[at[hit]]]
        still[rows[at[hit]]] = True
    return node_code, old_ids, still


def _first_per_group(group: np.ndarray, *order_keys: np.ndarray) -> np.ndarray:
    """Positions of the first row of each group once rows are sorted by group, then ``order_keys``."""
    order = np.lexsort((*reversed(order_keys), group))
    first = np.r_[True, group[order][1:] != group[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
    return order[first]


def carry_over(labels: np.ndarray, node_source: np.ndarray, node_ids: np.ndarray, sources: list[str],
               anchors: np.ndarray, previous: pd.DataFrame | None) -> tuple[list[str], list[pd.DataFrame]]:
    """Ids per cluster (``labels``: cluster per node) and the change rows (module docstring).

    ``node_ids``: each node's linkage id (bytes); ``anchors``: each cluster's anchor node;
    ``previous``: last year's clusters (harmonie_id, source, linkage_id), or None for a first run."""
    n_clusters = len(anchors)
    if previous is None:
        return new_ids(sources, node_ids[anchors], node_source[anchors]), []
    node_code, old_ids, still = _previous_codes(node_source, node_ids, sources, previous)
    known = node_code >= 0
    cell, records = np.unique(node_code[known] * n_clusters + labels[known], return_counts=True)
    cell_code, cell_cluster = cell // n_clusters, cell % n_clusters
    # each old id -> the cluster holding most of its records (ties: the smallest cluster)
    heirs = _first_per_group(cell_code, -records, cell_cluster)
    # each cluster -> among the ids it inherits, the one of most records (ties: the smallest id)
    kept = heirs[_first_per_group(cell_cluster[heirs], -records[heirs], cell_code[heirs])]
    id_code = np.full(n_clusters, -1, dtype=np.int64)
    id_code[cell_cluster[kept]] = cell_code[kept]
    ids = np.empty(n_clusters, dtype=object)
    ids[id_code >= 0] = old_ids[id_code[id_code >= 0]]
    # the id most of a cluster's previous records had: a cluster given a new id is split from it
    main = _first_per_group(cell_cluster, -records, cell_code)
    main_code = np.full(n_clusters, -1, dtype=np.int64)
    main_code[cell_cluster[main]] = cell_code[main]
    used = set(old_ids.tolist()) | set(ids[id_code >= 0].tolist())
    created = []
    for c in np.flatnonzero(id_code < 0).tolist():
        attempt, candidate = 0, anchor_id(sources[node_source[anchors[c]]], node_ids[anchors[c]])
        while candidate in used:
            attempt += 1
            candidate = anchor_id(sources[node_source[anchors[c]]], node_ids[anchors[c]], attempt)
        ids[c] = candidate
        used.add(candidate)
        old = old_ids[main_code[c]] if main_code[c] >= 0 else None
        created.append(("split" if old is not None else "new_patient", candidate, old))
    changes = [pd.DataFrame(created, columns=["kind", "harmonie_id", "previous_harmonie_id"])]
    retired = heirs[ids[cell_cluster[heirs]] != old_ids[cell_code[heirs]]]
    changes.append(pd.DataFrame({"kind": "merge", "harmonie_id": ids[cell_cluster[retired]],
                                 "previous_harmonie_id": old_ids[cell_code[retired]]}))
    names = np.asarray(sources, dtype=object)
    now = ids[labels]
    added = np.flatnonzero(~known)
    changes.append(pd.DataFrame({"kind": "record_added", "harmonie_id": now[added], "source": names[node_source[added]],
                                 "linkage_id": np.char.decode(node_ids[added], "ascii")}))
    moved = np.flatnonzero(known)
    moved = moved[old_ids[node_code[moved]] != now[moved]]
    changes.append(pd.DataFrame({"kind": "record_moved", "harmonie_id": now[moved],
                                 "previous_harmonie_id": old_ids[node_code[moved]],
                                 "source": names[node_source[moved]],
                                 "linkage_id": np.char.decode(node_ids[moved], "ascii")}))
    gone = previous[~still]
    changes.append(pd.DataFrame({"kind": "record_removed", "previous_harmonie_id": gone.harmonie_id,
                                 "source": gone.source, "linkage_id": gone.linkage_id}))
    return ids.astype(str).tolist(), changes


def link_changes(pair: str, previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """A pair's links added, removed and moved (its left record now linked to another right record),
    with the weights before and after; keyed by the left record (links are one-to-one)."""
    before = previous[["left_id", "right_id", "match_weight"]]
    after = current[["left_id", "right_id", "match_weight"]]
    both = before.merge(after, how="outer", on="left_id", suffixes=("_before", "_after"))
    kind = np.where(both.right_id_before.isna(), "link_added",
                    np.where(both.right_id_after.isna(), "link_removed",
                             np.where(both.right_id_before != both.right_id_after, "link_moved", "")))
    changed = both[kind != ""]
    return pd.DataFrame({"kind": kind[kind != ""], "pair": pair, "left_id": changed.left_id,
                         "right_id": changed.right_id_after, "previous_right_id": changed.right_id_before,
                         "match_weight": changed.match_weight_after,
                         "previous_match_weight": changed.match_weight_before})
