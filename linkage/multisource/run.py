"""``link_all``: every pair of a multi-source plan linked, then one Harmonie patient id per person.

1. **Pairs**: each pair of the plan runs the pairwise engine (:func:`linkage.link.link`) under
   its own spec and writes its usual outputs (links, grey zone, model, summary) and its refresh
   state into ``pairs/<left>-<right>/``; only its links and model are kept for what follows.
   With last year's run (``previous``), a pair is refreshed instead
   (:mod:`linkage.multisource.refresh`: only the records that changed are scored). On the Spark
   engine (``engine="spark"``) each pair is linked by :func:`linkage.engines.spark.link_spark` in
   one session; the steps below (and a refresh, which scores only what changed) run in the driver,
   and give the same clusters: the pairs' links and models are the local engine's, bit for bit.
2. **Records**: every source's linkage ids, read from its encoded files (the same ids in each:
   one project id and one holder name per source, checked here).
3. **Clustering** (:mod:`linkage.multisource.clustering`): the links as edges; unlinked plan
   pairs inside a suspect cluster are scored with their pair's model (:class:`PairScorer`)
   for the contradiction check.
4. **Ids** (:mod:`linkage.multisource.ids`): each cluster's Harmonie id is derived from its
   anchor record, or carried over from last year's run, whose changes are logged. The linkage
   unit sees linkage ids only, so Harmonie ids say nothing a linkage id does not.

``clusters.parquet`` (harmonie_id, source, linkage_id: every record of every source),
``conflicts.parquet`` (the refused links, for review), ``cluster_summary.json`` and, after a
refresh, ``changes.parquet`` (the change log) sit beside ``pairs/``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.progress import peak_rss_gb, stage
from linkage.model import FellegiSunter
from linkage.multisource.clustering import Clustering, Edges, cluster
from linkage.multisource.ids import as_ids, carry_over, change_table, id_strings, link_changes
from linkage.multisource.plan import MultiSourcePlan, PairPlan, PlanError, check_plan
from linkage.multisource.refresh import RECORDS_STATE, PairState, refresh_pair, write_state

MIN_SHARED_IDS = 0.5  # two encoded files of one source share at least this share of the smaller's ids


@dataclass
class PairRun:
    """What the clustering keeps of one pair's linkage."""

    pair: PairPlan
    links: pa.Table
    model: FellegiSunter | None
    summary: dict
    seconds: float = 0.0
    refreshed: bool = False           # scored from last year's state (only what changed), not relinked


@dataclass
class Records:
    """Every source's linkage ids (sorted), and the node numbering over all of them."""

    names: list[str]
    ids: list[np.ndarray]           # per source, sorted distinct linkage ids (fixed-width bytes: fast to sort)
    offsets: np.ndarray             # node of (source s, row r) = offsets[s] + r

    @property
    def n(self) -> int:
        return int(self.offsets[-1])

    def node_source(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.names)), np.diff(self.offsets))

    def nodes(self, source: int, ids) -> np.ndarray:
        """Nodes of these linkage ids of ``source`` (every one must be among its records)."""
        known = self.ids[source]
        ids = as_ids(ids)
        rows = np.searchsorted(known, ids)
        ok = (rows < len(known)) & (known[np.minimum(rows, max(len(known) - 1, 0))] == ids) if len(known) else \
            np.zeros(len(ids), dtype=bool)
        if not ok.all():
            raise PlanError(f"links of source {self.names[source]} name linkage ids absent from its encoded files: "
                            "the links come from other files than the plan's; link them again")
        return self.offsets[source] + rows

    def linkage_ids(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(source, linkage id) of each node."""
        source = np.searchsorted(self.offsets, nodes, side="right") - 1
        width = max((ids.dtype.itemsize for ids in self.ids), default=1)
        ids = np.zeros(len(nodes), dtype=f"S{width}")
        for s in np.unique(source):
            mine = source == s
            ids[mine] = self.ids[s][nodes[mine] - self.offsets[s]]
        return source, ids


@dataclass
class MultiSourceResult:
    plan: MultiSourcePlan
    runs: list[PairRun]
    clusters: pa.Table
    conflicts: pa.Table
    summary: dict = field(default_factory=dict)
    changes: pa.Table | None = None     # with a previous run: the change log (linkage.multisource.ids)


def _linkage_ids(path: Path) -> np.ndarray:
    return as_ids(pq.read_table(path, columns=["linkage_id"])["linkage_id"])


def read_records(plan: MultiSourcePlan) -> Records:
    """Every source's linkage ids from its encoded files; a source whose files hardly share ids was
    encoded under another key, project id or holder name in one of them (a one-line error)."""
    ids = []
    for source in plan.sources:
        files = plan.files_of(source.name)
        sets = [_linkage_ids(path) for path in files]
        for path, other in zip(files[1:], sets[1:]):
            shared = len(np.intersect1d(sets[0], other))
            if shared < MIN_SHARED_IDS * min(len(sets[0]), len(other)):
                raise PlanError(f"the linkage ids of source {source.name} differ between {files[0]} and {path} "
                                f"({shared:,} shared): encode every file of a holder with one key, one [project] id "
                                "and one holder name")
        ids.append(np.unique(np.concatenate(sets)) if sets else np.zeros(0, dtype="S1"))
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in ids])]).astype(np.int64)
    return Records([s.name for s in plan.sources], ids, offsets)


class PairScorer:
    """Match weights of any (left record, right record) of the plan's pairs, under each pair's model:
    exactly what the pair's own run gives the pairs it scored (same comparisons, term frequencies
    and scoring). The clustering asks once per pair, for all its pairs at once, so a pair's files
    are loaded for that call only (an SNDS file is the largest thing the clustering touches)."""

    def __init__(self, plan: MultiSourcePlan, specs: dict, runs: list[PairRun], records: Records):
        self.plan, self.specs, self.runs, self.records = plan, specs, runs, records

    def _load(self, k: int):
        from linkage.encoded_arrays import EncodedRecords
        from linkage.plan import LinkPlan
        from linkage.scoring import term_frequencies

        pair, model = self.plan.pairs[k], self.runs[k].model
        # read as the pair's own link read them (checked there, and by check_plan): no second full validation
        left_table, right_table = pq.read_table(pair.left_file), pq.read_table(pair.right_file)
        comparisons = LinkPlan(self.specs[pair.name], model=model).comparisons(
            set(left_table.column_names), set(right_table.column_names))
        left, right = EncodedRecords.from_table(left_table), EncodedRecords.from_table(right_table)
        lookup = [as_ids(side.ids) for side in (left, right)]
        return comparisons, left, right, lookup, term_frequencies(model, right)

    def __call__(self, k: int, left_nodes: np.ndarray, right_nodes: np.ndarray) -> np.ndarray:
        from linkage.compare import compare
        from linkage.scoring import score_partition

        if self.runs[k].model is None:  # a pair with no candidates has no model: no evidence either way
            return np.full(len(left_nodes), np.nan)
        comparisons, left, right, lookup, frequencies = self._load(k)
        rows = []
        for nodes, ids in ((left_nodes, lookup[0]), (right_nodes, lookup[1])):
            wanted = self.records.linkage_ids(nodes)[1]
            order = np.argsort(ids)
            at = np.minimum(np.searchsorted(ids[order], wanted), max(len(ids) - 1, 0))
            found = ids[order][at] == wanted
            rows.append((np.where(found, order[at], 0).astype(np.int64), found))
        (li, lfound), (ri, rfound) = rows
        levels = compare(comparisons, left, right, li, ri)
        weights = score_partition(self.runs[k].model, frequencies, left, right, len(right), li, ri, levels)
        return np.where(lfound & rfound, weights, np.nan)


def _edges(plan: MultiSourcePlan, runs: list[PairRun], records: Records) -> Edges:
    index = {name: i for i, name in enumerate(records.names)}
    parts = []
    for k, run in enumerate(runs):
        links = run.links
        u = records.nodes(index[run.pair.left], links["left_id"])
        v = records.nodes(index[run.pair.right], links["right_id"])
        parts.append((u, v, links["match_weight"].to_numpy(), np.full(len(u), k)))
    u, v, weight, pair = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return Edges(u.astype(np.int64), v.astype(np.int64), weight.astype(np.float64), pair.astype(np.int64))


def _composition(labels: np.ndarray, node_source: np.ndarray, names: list[str]) -> dict[str, int]:
    """Clusters by the sources they hold ("canto+snds": n; "snds x2": a person's two SNDS ids)."""
    n_sources = len(names)
    counts = np.bincount(labels * n_sources + node_source, minlength=(int(labels.max()) + 1) * n_sources)
    counts = np.minimum(counts.reshape(-1, n_sources), 3)
    keys, tally = np.unique(counts @ (4 ** np.arange(n_sources)), return_counts=True)
    out = {}
    for key, count in sorted(zip(keys.tolist(), tally.tolist()), key=lambda kv: -kv[1]):
        parts = [names[s] + ("" if (key >> 2 * s) & 3 == 1 else f" x{(key >> 2 * s) & 3}")
                 for s in range(n_sources) if (key >> 2 * s) & 3]
        out["+".join(parts)] = count
    return out


def _conflict_table(clustering: Clustering, records: Records, plan: MultiSourcePlan, ids: list[str]) -> pa.Table:
    rows = clustering.conflicts
    names = records.names

    def described(nodes: list[int]) -> tuple[list[str], list[str]]:
        source, linkage = records.linkage_ids(np.asarray(nodes, dtype=np.int64))
        return [names[s] for s in source], id_strings(linkage)

    u_src, u_id = described([c.u for c in rows])
    v_src, v_id = described([c.v for c in rows])
    a_src, a_id = described([c.clash_u for c in rows])
    b_src, b_id = described([c.clash_v for c in rows])
    labels = clustering.labels
    reasons = []
    for c, a, b in zip(rows, a_src, b_src):
        if c.kind == "duplicate_free":
            reasons.append(f"would put two {a} records in one patient")
        else:
            reasons.append(f"pair {plan.pairs[c.clash_pair].name} scores its {a} and {b} records at "
                           f"{c.clash_weight:+.1f}, against this link's {c.weight:+.1f}")
    return pa.table({
        "pair": pa.array([plan.pairs[c.pair].name for c in rows], pa.string()),
        "left_source": pa.array(u_src, pa.string()), "left_id": u_id,
        "right_source": pa.array(v_src, pa.string()), "right_id": v_id,
        "match_weight": pa.array([c.weight for c in rows], pa.float64()),
        "kind": pa.array([c.kind for c in rows], pa.string()), "reason": pa.array(reasons, pa.string()),
        "clash_left_source": pa.array(a_src, pa.string()), "clash_left_id": a_id,
        "clash_right_source": pa.array(b_src, pa.string()), "clash_right_id": b_id,
        "clash_weight": pa.array([c.clash_weight for c in rows], pa.float64()),
        "left_harmonie_id": pa.array([ids[labels[c.u]] for c in rows], pa.string()),
        "right_harmonie_id": pa.array([ids[labels[c.v]] for c in rows], pa.string()),
    })


def cluster_runs(plan: MultiSourcePlan, specs: dict, runs: list[PairRun], previous: PreviousRun | None = None
                 ) -> MultiSourceResult:
    """Steps 2-4 of the module docstring on pairs already linked; with ``previous``, last year's ids are
    carried over (:mod:`linkage.multisource.ids`) and the change log made."""
    seconds = {}
    start = time.perf_counter()
    with stage("records of every source"):
        records = read_records(plan)
        edges = _edges(plan, runs, records)
    seconds["records"] = time.perf_counter() - start
    index = {name: i for i, name in enumerate(records.names)}
    node_source = records.node_source()
    duplicate_free = np.array([s.duplicate_free and not plan.clustering.components_only for s in plan.sources])
    pair_sources = [(index[p.left], index[p.right]) for p in plan.pairs]
    start = time.perf_counter()
    with stage(f"cluster {records.n:,} records joined by {len(edges):,} links"):
        scorer = PairScorer(plan, specs, runs, records)
        clustering = cluster(node_source, duplicate_free, edges, pair_sources,
                             scorer=None if plan.clustering.components_only else scorer, settings=plan.clustering)
    seconds["clustering"] = time.perf_counter() - start
    start = time.perf_counter()
    with stage("Harmonie ids"):
        labels = clustering.labels
        anchors = np.full(clustering.n_clusters, records.n, dtype=np.int64)
        np.minimum.at(anchors, labels, np.arange(records.n))
        node_source_all, node_ids = records.linkage_ids(np.arange(records.n))
        ids, changes = carry_over(labels, node_source_all, node_ids, records.names, anchors,
                                  None if previous is None else previous.clusters)
        if previous is not None:
            changes += [link_changes(r.pair.name, previous.links[r.pair.name], r.links.to_pandas())
                        for r in runs if r.pair.name in previous.links]
        order = np.lexsort((np.arange(records.n), labels))
        source, linkage = records.linkage_ids(order)
        clusters = pa.table({"harmonie_id": pa.array(ids, pa.string()).take(pa.array(labels[order])),
                             "source": pa.array(np.asarray(records.names, dtype=object)[source], pa.string()),
                             "linkage_id": id_strings(linkage)})
        conflicts = _conflict_table(clustering, records, plan, ids)
    seconds["ids"] = time.perf_counter() - start
    kinds = {kind: sum(c.kind == kind for c in clustering.conflicts) for kind in ("duplicate_free", "contradiction")}
    change_log = change_table(changes) if previous is not None else None
    summary = {
        "plan": plan.name,
        "sources": [{"name": s.name, "duplicate_free": s.duplicate_free, "records": int(len(records.ids[i])),
                     "files": [str(p) for p in plan.files_of(s.name)]} for i, s in enumerate(plan.sources)],
        "pairs": [{"name": r.pair.name, "spec": str(r.pair.spec), "spec_hash": r.summary.get("spec_hash"),
                   "links": int(r.links.num_rows), "status": r.summary.get("status"),
                   "estimated": r.summary.get("estimated"), "seconds": r.seconds, "refreshed": r.refreshed,
                   "refresh": r.summary.get("refresh"), "outputs": f"pairs/{r.pair.name}"} for r in runs],
        "clustering": {"settings": {"check_contradictions": plan.clustering.check_contradictions,
                                    "contradiction_margin": plan.clustering.contradiction_margin,
                                    "components_only": plan.clustering.components_only},
                       "records": records.n, "links": len(edges), "components": clustering.components,
                       "resolved_components": clustering.resolved_components,
                       "checked_pairs": clustering.checked_pairs, "conflicts": kinds,
                       "clusters": clustering.n_clusters,
                       "by_sources": _composition(labels, node_source, records.names)},
        "seconds": seconds,
    }
    if change_log is not None:
        counts = pc.value_counts(change_log["kind"]).to_pylist()
        summary["changes"] = {"previous_run": str(previous.folder), **{c["values"]: c["counts"] for c in counts}}
    return MultiSourceResult(plan, runs, clusters, conflicts, summary, change_log)


def _records(path: Path):
    from linkage.encoded_arrays import EncodedRecords

    return EncodedRecords.from_table(pq.read_table(path))


ENGINES = ("local", "spark")


@contextmanager
def pair_linker(engine: str = "local", master: str | None = None) -> Iterator[Callable]:
    """``link(spec, left, right, threshold=...)`` on ``engine``: the in-process engine, or Spark (one session for
    every pair, on ``master`` or the running session; stopped at the end if this started it)."""
    if engine not in ENGINES:
        raise PlanError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "local":
        from linkage.link import link

        yield link
        return
    from linkage.engines import require_spark

    require_spark()  # a one-line error naming the extra or Java 17, before anything is linked
    from pyspark.sql import SparkSession

    from linkage.engines.spark import link_spark, spark_session

    owned = SparkSession.getActiveSession() is None
    session = spark_session(master)
    try:
        yield partial(link_spark, spark=session)
    finally:
        if owned:
            session.stop()


def link_pairs(plan: MultiSourcePlan, specs: dict, out_dir: Path | None = None, *, charts: bool = False,
               keep_candidates: bool = False, previous: PreviousRun | None = None, engine: str = "local",
               spark_master: str | None = None) -> list[PairRun]:
    """Step 1: every pair linked in plan order; with ``out_dir``, each pair's outputs and refresh state
    (:mod:`linkage.multisource.refresh`) in ``pairs/<name>/``. With ``previous``, a pair whose state and
    model last year's run holds is refreshed (only what changed is scored) instead of relinked. ``engine``:
    see :func:`pair_linker` (on Spark, the candidate pairs stay on the cluster: no ``keep_candidates``)."""
    if engine == "spark" and keep_candidates:
        raise PlanError("link-all keeps no candidate pairs on the Spark engine (they stay on the cluster): "
                        "leave out --keep-candidates, or link that pair with `harmonie link --engine spark`")
    with pair_linker(engine, spark_master) as link:
        return _link_each(plan, specs, out_dir, link, charts=charts, keep_candidates=keep_candidates,
                          previous=previous)


def _link_each(plan: MultiSourcePlan, specs: dict, out_dir: Path | None, link: Callable, *, charts: bool,
               keep_candidates: bool, previous: PreviousRun | None) -> list[PairRun]:
    from linkage.link import write_link_outputs

    runs = []
    for pair in plan.pairs:
        start = time.perf_counter()
        last = previous.pairs.get(pair.name) if previous is not None else None
        with stage(f"pair {pair.name}" + (" (refresh)" if last else "")):
            if last is not None:
                result = refresh_pair(specs[pair.name], last[1], last[0], pair.left_file, pair.right_file,
                                      threshold=pair.threshold)
                left, right = result.left, result.right
            else:
                result = link(specs[pair.name], pair.left_file, pair.right_file, threshold=pair.threshold)
                left = right = None
            if out_dir is not None:
                folder = Path(out_dir) / "pairs" / pair.name
                write_link_outputs(result, folder, charts=charts and last is None, keep_candidates=keep_candidates)
                result.levels = None  # written; the state needs pairs and weights only (levels: ~0.5 GB at 193k)
                if left is None:
                    left, right = _records(pair.left_file), _records(pair.right_file)
                write_state(folder, left, right, result.candidates.left, result.candidates.right, result.weights)
        runs.append(PairRun(pair, result.links, result.model, result.summary, time.perf_counter() - start,
                            refreshed=last is not None))
        del result, left, right  # the candidate pairs, their levels and weights: the largest arrays of a run
    return runs


@dataclass
class PreviousRun:
    """Last year's run, as a refresh needs it: clusters, and per pair its state, model and links."""

    folder: Path
    clusters: pd.DataFrame
    pairs: dict[str, tuple[PairState, FellegiSunter]]
    links: dict[str, pd.DataFrame]

    @classmethod
    def load(cls, folder: Path, plan: MultiSourcePlan) -> "PreviousRun":
        from harmonie.output_set import check_output_set
        from linkage.model import load_model

        folder = Path(folder)
        clusters_path = folder / "clusters.parquet"
        if not clusters_path.is_file():
            raise PlanError(f"{clusters_path} not found: --previous takes a `harmonie link-all` output folder")
        check_output_set(clusters_path)
        pairs, links = {}, {}
        for pair in plan.pairs:
            pair_dir = folder / "pairs" / pair.name
            if (pair_dir / RECORDS_STATE).is_file() and (pair_dir / "model.json").is_file():
                check_output_set(pair_dir / RECORDS_STATE, pair_dir / "model.json", pair_dir / "links.parquet")
                pairs[pair.name] = (PairState.load(pair_dir), load_model(pair_dir / "model.json"))
                links[pair.name] = pq.read_table(pair_dir / "links.parquet").to_pandas()
        return cls(folder, pq.read_table(clusters_path).to_pandas(), pairs, links)

    def rekey(self, source: str, mapping: pd.DataFrame) -> int:
        """After a key rotation: rename ``source``'s linkage ids (old_linkage_id -> new_linkage_id, from its
        holder's two crosswalks) everywhere in last year's run; returns how many of its records were renamed."""
        rename = dict(zip(mapping.old_linkage_id.astype(str), mapping.new_linkage_id.astype(str)))
        mine = self.clusters.source == source
        self.clusters.loc[mine, "linkage_id"] = self.clusters.loc[mine, "linkage_id"].map(rename)
        self.clusters = self.clusters.dropna(subset=["linkage_id"])
        for name, (state, model) in self.pairs.items():
            left, right = name.split("-", 1)
            for side, column in ((left, "left"), (right, "right")):
                if side != source:
                    continue
                ids = getattr(state, f"{column}_ids")
                setattr(state, f"{column}_ids", np.asarray([rename.get(i.decode(), "") for i in ids], dtype="S"))
                renamed = [rename.get(i) for i in state.pairs[f"{column}_id"].to_pylist()]
                state.pairs = state.pairs.set_column(state.pairs.schema.get_field_index(f"{column}_id"),
                                                     f"{column}_id", pa.array(renamed, pa.string()))
                self.links[name][f"{column}_id"] = self.links[name][f"{column}_id"].map(rename)
        return int(mine.sum())


def load_pair_runs(plan: MultiSourcePlan, run_dir: Path) -> list[PairRun]:
    """The pairs' links and models as ``link_all`` wrote them in ``run_dir/pairs/``."""
    from harmonie.output_set import check_output_set
    from linkage.model import load_model

    runs = []
    for pair in plan.pairs:
        folder = Path(run_dir) / "pairs" / pair.name
        links, summary_path, model_path = folder / "links.parquet", folder / "summary.json", folder / "model.json"
        if not links.is_file():
            raise PlanError(f"{links} not found: run `harmonie link-all` with this plan first")
        check_output_set(links, summary_path, model_path)
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
        runs.append(PairRun(pair, pq.read_table(links), load_model(model_path) if model_path.is_file() else None,
                            summary))
    return runs


def link_all(plan: MultiSourcePlan, out_dir: Path | None = None, *, charts: bool = False,
             keep_candidates: bool = False, specs: dict | None = None,
             previous: PreviousRun | None = None, engine: str = "local",
             spark_master: str | None = None) -> MultiSourceResult:
    """Link every pair of ``plan`` and cluster (module docstring); with ``out_dir``, write every output there.
    ``specs``: what :func:`check_plan` returned, when the caller already checked the plan. ``previous``:
    last year's run (:meth:`PreviousRun.load`): pairs are refreshed, ids carried over, changes logged.
    ``engine``/``spark_master``: where the pairs are linked (:func:`pair_linker`)."""
    start = time.perf_counter()
    specs = specs if specs is not None else check_plan(plan)
    runs = link_pairs(plan, specs, out_dir, charts=charts, keep_candidates=keep_candidates, previous=previous,
                      engine=engine, spark_master=spark_master)
    linked = time.perf_counter() - start
    result = cluster_runs(plan, specs, runs, previous)
    result.summary["seconds"] = {"pairs": linked, **result.summary["seconds"],
                                 "whole": time.perf_counter() - start}
    result.summary["peak_rss_gb"] = peak_rss_gb()
    if out_dir is not None:
        write_cluster_outputs(result, out_dir)
    return result


def write_cluster_outputs(result: MultiSourceResult, out_dir: Path) -> dict[str, Path]:
    out = ensure_output_dir(out_dir)
    paths = {"clusters": write_parquet(result.clusters, out / "clusters.parquet"),
             "conflicts": write_parquet(result.conflicts, out / "conflicts.parquet"),
             "summary": write_text(json.dumps(result.summary, indent=2) + "\n", out / "cluster_summary.json")}
    if result.changes is not None:
        paths["changes"] = write_parquet(result.changes, out / "changes.parquet")
    return paths
