"""Source-aware clustering: the pairwise links of a plan -> one cluster (patient) per person.

Every record of every source is a node; every link of every pair is an edge weighted by its
match weight. Splink clusters its links into connected components
(``splink/internals/connected_components.py``); so does this module, with
:func:`scipy.sparse.csgraph.connected_components`. Components alone over-merge, though: one
wrong link chains two people into one patient. Two things tell us a component is wrong, and
only the linkage unit, which sees every pair, can see them:

- **two records of a duplicate-free source** (a cohort holds one record per person), e.g.
  CANTO a-SNDS s, ESME e-SNDS s, CANTO a'-ESME e: a and a' cannot both be that patient;
- **a contradiction**: the component puts records x and y of two sources the plan links
  together, the pair did not link them, and their direct match weight ``w_xy`` (scored with
  that pair's model) speaks against it, e.g. a CANTO record wrongly linked to the SNDS id of an
  ESME patient whose names and birth date it does not share.

SNDS is not duplicate-free: a person's two SNDS ids may sit in one cluster.

Components that show neither are kept as they are (nearly all of them). The others are
rebuilt edge by edge, strongest first, as Kruskal's algorithm builds a maximum spanning
forest: an edge of weight ``w`` joining two partial clusters is refused when the union would
hold two records of one duplicate-free source, or a pair (x, y) of plan sources with
``w_xy + w < margin`` (the direct evidence against outweighs this link; margin 0 by default).
Because stronger edges come first, the refused edge is the weakest on the path the
constraint objects to. Every refused edge is a conflict, listed with its weight, why it was
refused and the record it clashed with, for clerical review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.multisource.plan import ClusterSettings

MAX_CHECKED_PER_COMPONENT = 100_000  # pairs scored for contradictions in one component (a larger one is chained)

# weights of (left nodes, right nodes) under pair k's model; NaN where a record is not in its files
Scorer = Callable[[int, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Edges:
    """The links of every pair, as node indices: ``u`` in the pair's left source, ``v`` in its right."""

    u: np.ndarray
    v: np.ndarray
    weight: np.ndarray
    pair: np.ndarray

    def __len__(self) -> int:
        return len(self.u)


@dataclass
class Conflict:
    """A refused link: the edge, why, and the record it clashed with (``other_*``; for a contradiction
    the unlinked pair and its direct weight)."""

    pair: int
    u: int
    v: int
    weight: float
    kind: str                     # "duplicate_free" or "contradiction"
    clash_u: int                  # the records that made the union impossible: two of one source, or the
    clash_v: int                  # contradicting pair (in its pair's left, right order)
    clash_pair: int = -1          # the pair whose model scored the contradiction
    clash_weight: float = float("nan")


@dataclass
class Clustering:
    labels: np.ndarray            # per node: its cluster, numbered by each cluster's smallest node
    conflicts: list[Conflict] = field(default_factory=list)
    components: int = 0           # connected components of the links
    resolved_components: int = 0  # of those, rebuilt edge by edge
    checked_pairs: int = 0        # unlinked plan pairs scored for contradictions

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def _components(n: int, edges: Edges) -> np.ndarray:
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges.u, edges.v)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _suspect_components(component: np.ndarray, node_source: np.ndarray, duplicate_free: np.ndarray, edges: Edges,
                        pair_sources: list[tuple[int, int]], check_contradictions: bool) -> np.ndarray:
    """Components holding two records of a duplicate-free source, or (when checking contradictions) a
    record of each side of a pair that are not all linked to each other: a bool per component."""
    n_components, n_sources = int(component.max()) + 1, len(duplicate_free)
    counts = np.bincount(component * n_sources + node_source, minlength=n_components * n_sources)
    counts = counts.reshape(n_components, n_sources)
    suspect = (counts[:, duplicate_free] >= 2).any(axis=1)
    if check_contradictions:
        for k, (left, right) in enumerate(pair_sources):
            linked = np.bincount(component[edges.u[edges.pair == k]], minlength=n_components)
            suspect |= counts[:, left] * counts[:, right] > linked
    return suspect


def _unlinked_pairs(nodes: np.ndarray, node_source: np.ndarray, linked: set[tuple[int, int]],
                    pair_sources: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(pair, left node, right node) of every plan pair of one component's records not linked together."""
    out = []
    for k, (left, right) in enumerate(pair_sources):
        xs, ys = nodes[node_source[nodes] == left], nodes[node_source[nodes] == right]
        out.extend((k, int(x), int(y)) for x in xs for y in ys if (int(x), int(y)) not in linked)
    return out[:MAX_CHECKED_PER_COMPONENT]


class _Partition:
    """Union-find over one component's nodes, with each part's members and records per source."""

    def __init__(self, nodes: np.ndarray, node_source: np.ndarray):
        self.parent = {int(x): int(x) for x in nodes}
        self.members = {int(x): [int(x)] for x in nodes}
        self.sources = {int(x): {int(node_source[x]): int(x)} for x in nodes}

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a].extend(self.members.pop(b))
        for source, node in self.sources.pop(b).items():
            self.sources[a].setdefault(source, node)


def _rebuild(nodes: np.ndarray, order: np.ndarray, edges: Edges, node_source: np.ndarray, duplicate_free: np.ndarray,
             direct: dict[tuple[int, int], tuple[float, int, int, int]], margin: float, conflicts: list[Conflict]
             ) -> _Partition:
    """Kruskal, strongest edge first, refusing the unions the constraints forbid (module docstring)."""
    part = _Partition(nodes, node_source)
    for e in order:
        u, v, w = int(edges.u[e]), int(edges.v[e]), float(edges.weight[e])
        a, b = part.find(u), part.find(v)
        if a == b:
            continue
        clash = next((s for s in part.sources[a] if duplicate_free[s] and s in part.sources[b]), None)
        if clash is not None:
            conflicts.append(Conflict(int(edges.pair[e]), u, v, w, "duplicate_free", part.sources[a][clash],
                                      part.sources[b][clash]))
            continue
        worst = None
        for x in part.members[a]:
            for y in part.members[b]:
                found = direct.get((x, y)) or direct.get((y, x))
                if found is not None and found[0] + w < margin and (worst is None or found[0] < worst[0]):
                    worst = found
        if worst is not None:
            conflicts.append(Conflict(int(edges.pair[e]), u, v, w, "contradiction", worst[2], worst[3], worst[1],
                                      worst[0]))
            continue
        part.union(a, b)
    return part


def cluster(node_source: np.ndarray, duplicate_free: np.ndarray, edges: Edges, pair_sources: list[tuple[int, int]],
            *, scorer: Scorer | None = None, settings: ClusterSettings = ClusterSettings()) -> Clustering:
    """Cluster nodes (records, ``node_source[i]`` the source of node i) joined by ``edges``.

    ``duplicate_free[s]``: source s holds at most one record per person. ``pair_sources[k]``: the
    (left, right) sources of pair k. ``scorer(k, left_nodes, right_nodes)``: direct weights under
    pair k's model, for the contradiction check (skipped without a scorer or with
    ``settings.check_contradictions`` off). Deterministic: ties in weight are broken by node.
    """
    n = len(node_source)
    if n == 0:
        return Clustering(np.zeros(0, dtype=np.int64))
    component = _components(n, edges)
    check = settings.check_contradictions and scorer is not None
    suspect = _suspect_components(component, node_source, duplicate_free, edges, pair_sources, check)
    labels = component.copy()
    result = Clustering(labels, components=int(component.max()) + 1, resolved_components=int(suspect.sum()))
    if not suspect.any():
        return _renumber(result)

    by_component = np.argsort(component, kind="stable")
    starts = np.searchsorted(component[by_component], np.arange(result.components + 1))
    edge_component = component[edges.u] if len(edges) else np.zeros(0, dtype=np.int64)
    strongest = np.lexsort((edges.v, edges.u, -edges.weight))  # strongest first, then by node
    edge_lists: dict[int, list[int]] = {}
    for e in strongest[suspect[edge_component[strongest]]]:
        edge_lists.setdefault(int(edge_component[e]), []).append(int(e))
    wanted = np.flatnonzero(suspect)

    direct: dict[tuple[int, int], tuple[float, int, int, int]] = {}
    if check:
        pending: dict[int, list[tuple[int, int]]] = {}
        for c in wanted:
            nodes = by_component[starts[c]:starts[c + 1]]
            linked = {(int(edges.u[e]), int(edges.v[e])) for e in edge_lists.get(int(c), [])}
            for k, x, y in _unlinked_pairs(nodes, node_source, linked, pair_sources):
                pending.setdefault(k, []).append((x, y))
        for k, pairs in sorted(pending.items()):
            xs, ys = (np.array(side, dtype=np.int64) for side in zip(*pairs))
            weights = scorer(k, xs, ys)
            result.checked_pairs += len(pairs)
            for x, y, w in zip(xs, ys, weights):
                if np.isfinite(w):
                    direct[(int(x), int(y))] = (float(w), k, int(x), int(y))

    next_label = result.components
    for c in wanted:
        nodes = by_component[starts[c]:starts[c + 1]]
        part = _rebuild(nodes, np.array(edge_lists.get(int(c), []), dtype=np.int64), edges, node_source,
                        duplicate_free, direct, settings.contradiction_margin, result.conflicts)
        roots: dict[int, int] = {}
        for x in nodes:
            root = part.find(int(x))
            if root not in roots:  # the first part keeps the component's label, the others get new ones
                roots[root] = next_label if roots else int(c)
                next_label += 1 if len(roots) > 1 else 0
            labels[x] = roots[root]
    return _renumber(result)


def _renumber(result: Clustering) -> Clustering:
    """Clusters numbered in the order of their smallest node (stable whatever the resolution order)."""
    labels = result.labels
    first = np.full(int(labels.max()) + 1, len(labels), dtype=np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    used = np.flatnonzero(first < len(labels))
    rank = np.empty(len(first), dtype=np.int64)
    rank[used[np.argsort(first[used], kind="stable")]] = np.arange(len(used))
    result.labels = rank[labels]
    return result
