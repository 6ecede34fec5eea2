"""The linkage plan on Apache Spark: same stages, same kernels, same results as the local engine.

Plan (each stage a Spark job, its name set as the job description):

1. **load**: both encoded files are read by Spark, each row numbered by its position in
   the file (``_metadata.row_index``, the local engine's row index). The metadata checks
   (same key fingerprint, same spec hash, two holders) read the Parquet footers only. The
   left file (the cohort, the small side) is collected once and broadcast as Arrow IPC to
   the executors; the right file (SNDS) is spread over partitions and never collected.
2. **blocking**, a broadcast hash join per pass (:mod:`linkage.engines.blocking_keys`):
   the left side's join keys (token lists exploded, LSH bands, combined keys) form an
   index; the executors count the right side's keys that the index holds, the driver
   applies the local engine's oversized-block guard to those counts (same blocks skipped,
   same pass reports), and the guarded index is broadcast.
3. **compare**: an Arrow-batched function (``mapInArrow``) over the right partitions
   probes the index for each batch's candidate pairs (deduplicated, passes ORed as
   locally), calls :func:`linkage.compare.compare` (the numba kernels) and returns only the
   counts of distinct (levels, passes) rows, added up on the cluster. Pairs never leave the
   Python worker that made them.
4. **EM** on the driver: u from the same random pairs as the local engine (their right
   records fetched by row number), m and the prior from the pattern counts
   (:meth:`linkage.model.FellegiSunter.fit_pattern_table`), which give the local engine's model bit
   for bit.
5. **score**: the model and the right file's term frequencies (counted on the cluster)
   are shipped to the executors, which compare again and score every pair with
   :func:`linkage.scoring.score_partition`, returning the pairs with p >= 0.01 and a
   histogram of all weights; one-to-one assignment, threshold and grey zone run on the
   driver with :meth:`linkage.plan.LinkPlan.decide` over those pairs in candidate order.
6. **write**: links, grey zone, model, summary and charts as the local engine writes
   them (on the driver's file system); ``candidates.parquet`` from the executors.

Comparing twice (steps 3 and 5) costs less than keeping every pair's levels: on Spark,
tens of millions of rows written and read back through the JVM cost several times the
numba comparison itself.

The secret never reaches Spark: the files hold keyed tokens and Bloom filters only, and no
stage needs the key.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from harmonie.errors import HarmonieError
from harmonie.progress import stage
from linkage.blocking import Candidates
from linkage.compare import compare
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding.encoded_file import (check_same_encoding, read_columns, read_footer, token_columns_of,
                                            verify_file_data)
from linkage.engines import require_spark
from linkage.engines.blocking_keys import (
    LEFT,
    RIGHT,
    KeyIndex,
    guard,
    join_keys,
    probe,
    shared_key_counts,
)
from linkage.decide import ASSIGNMENT_FLOOR
from linkage.link import LinkResult, _pairs_table, write_link_outputs
from linkage.model import FellegiSunter, pattern_count_table
from linkage.plan import LinkPlan
from linkage.scoring import (
    filter_frequency_table,
    filter_value_counts,
    identity_signatures,
    score_partition,
)
from linkage.spec import Spec

ROW = "__row"  # position of a record in its file; '__' cannot start a spec column name
RIGHT_ROWS_PER_PARTITION = 250_000  # right records per partition (a few million candidate pairs at SNDS density)
DEFAULT_CONF = {
    "spark.ui.showConsoleProgress": "false",
    # Spark runs one task per core; numba's own threads inside each task would oversubscribe
    "spark.executorEnv.NUMBA_NUM_THREADS": "1",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "50000",
}


@dataclass
class SparkLinkResult(LinkResult):
    """A :class:`LinkResult` whose ``candidates``, ``weights`` and ``levels`` hold only the pairs
    considered for a link (p >= 0.01): all candidate pairs stay on the cluster. The weight
    histogram of all pairs is ``weight_values`` (distinct weights) with ``weight_counts``."""

    weight_values: np.ndarray | None = None
    weight_counts: np.ndarray | None = None
    candidate_patterns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the cluster's pattern table
    fetched_right: pa.Table | None = None  # ROW and linkage_id of the right records of the one-to-one pairs

    def weight_distribution(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.weight_values is None:
            return super().weight_distribution()
        return self.weight_values, self.weight_counts

    def pattern_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        return self.candidate_patterns

    def pair_ids(self, positions: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """Right ids are known for the one-to-one pairs only (fetched from the cluster); null elsewhere."""
        positions = np.asarray(positions, dtype=np.int64)
        left_ids = self.left_ids.take(pa.array(self.candidates.left[positions].astype(np.int64)))
        rows = self.fetched_right[ROW].to_numpy() if self.fetched_right is not None else np.zeros(0, np.int64)
        wanted = self.candidates.right[positions]
        at = np.searchsorted(rows, wanted).clip(0, max(len(rows) - 1, 0))
        found = (at < len(rows)) & (rows[at] == wanted) if len(rows) else np.zeros(len(wanted), dtype=bool)
        right_ids = self.fetched_right["linkage_id"].take(pa.array(at.astype(np.int64))) if len(rows) else \
            pa.nulls(len(wanted), pa.string())
        return left_ids, pc.if_else(pa.array(found), right_ids, pa.scalar(None, right_ids.type))


def spark_session(master: str | None = None, conf: dict | None = None, app_name: str = "harmonie link"):
    """A SparkSession: the running one under spark-submit, else one on ``master`` (default
    ``local[*]``). Local masters get SPARK_LOCAL_IP=127.0.0.1 and this Python for workers."""
    require_spark()
    from pyspark.sql import SparkSession

    under_submit = bool(os.environ.get("PYSPARK_GATEWAY_PORT"))
    if master is None and not under_submit:
        master = "local[*]"
    if master and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say why in one line
        raise HarmonieError(f"could not start Spark on {master or 'the spark-submit master'}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def _job(spark, label: str):
    """A progress stage whose Spark jobs carry ``harmonie: label`` as description (for the event log)."""
    spark.sparkContext.setJobDescription(f"harmonie: {label}")
    try:
        with stage(label):
            yield
    finally:
        spark.sparkContext.setJobDescription(None)


# --- reading ---------------------------------------------------------------------------

def _spark_path(path) -> str:
    text = str(path)
    return text if "://" in text else str(Path(text).resolve())


def _read(spark, path):
    from pyspark.sql import functions as F

    frame = spark.read.parquet(_spark_path(path))
    return frame.select(*frame.columns, F.col("_metadata.row_index").cast("int").alias(ROW))


def _restore(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The encoded columns of a Spark Arrow batch with their file types (Spark reads a
    fixed-size binary Bloom filter as plain binary)."""
    columns, names = [], []
    for field in schema:
        if field.name in table.column_names:
            column = table[field.name]
            columns.append(column if column.type.equals(field.type) else column.cast(field.type))
            names.append(field.name)
    return pa.table(columns, names=names)


def _records(table: pa.Table, schema: pa.Schema) -> EncodedRecords:
    return EncodedRecords.from_table(_restore(table, schema))


_LEFT_RECORDS: dict[int, EncodedRecords] = {}


@dataclass(frozen=True)
class _Shipped:
    """Left records broadcast to the executors as Arrow IPC, with a token naming this run."""

    token: str
    broadcast: object


def _left_records(left: _Shipped) -> EncodedRecords:
    """The broadcast left records, decoded once per Python worker (and per run)."""
    records = _LEFT_RECORDS.get(left.token)
    if records is None:
        _LEFT_RECORDS.clear()
        records = EncodedRecords.from_table(pa.ipc.open_stream(left.broadcast.value).read_all())
        _LEFT_RECORDS[left.token] = records
    return records


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _to_arrow(frame) -> pa.Table:
    return frame.toArrow()


# --- functions run on the executors (Arrow batches of right records in, small Arrow batches out)

@dataclass(frozen=True)
class _Plan:
    """What every executor function needs, shipped in its closure (the big parts as broadcasts)."""

    spec_blocking: tuple
    seed: int
    left_lists: frozenset
    right_lists: frozenset
    schema: pa.Schema          # the right file's
    comparisons: tuple = ()
    left: _Shipped | None = None  # the left records (Arrow IPC)
    index: object = None       # broadcast: the guarded left KeyIndex, or the left's distinct keys


def _right_slice(batch: pa.RecordBatch, plan: _Plan):
    table = pa.Table.from_batches([batch])
    records = _records(table, plan.schema)
    parts = join_keys(plan.spec_blocking, records, RIGHT, seed=plan.seed, left_lists=set(plan.left_lists),
                      right_lists=set(plan.right_lists))
    return table, records, parts


def _key_count_batches(batches, *, plan: _Plan):
    distinct = plan.index.value
    for batch in batches:
        counted = shared_key_counts(_right_slice(batch, plan)[2], distinct)
        if counted:
            yield pa.RecordBatch.from_arrays([
                pa.array(np.concatenate([np.full(len(k), p, dtype=np.int32) for p, _, k, _ in counted])),
                pa.array(np.concatenate([np.full(len(k), j, dtype=np.int32) for _, j, k, _ in counted])),
                pa.array(np.concatenate([k.view(np.int64) for _, _, k, _ in counted])),
                pa.array(np.concatenate([c for _, _, _, c in counted]))], names=["pass", "join", "key", "count"])


def _compared(batch: pa.RecordBatch, plan: _Plan):
    """The batch's candidate pairs (probe of the guarded left index) and their levels."""
    table, records, parts = _right_slice(batch, plan)
    li, position, bits = probe(plan.index.value, parts)
    levels = compare(list(plan.comparisons), _left_records(plan.left), records, li, position)
    return table, records, li, position, bits, levels


def _level_names(n: int) -> list[str]:
    return [f"level_{j}" for j in range(n)]


def _pattern_batches(batches, *, plan: _Plan):
    names = _level_names(len(plan.comparisons))
    for batch in batches:
        _, _, _, _, bits, levels = _compared(batch, plan)
        patterns, pattern_bits, counts = pattern_count_table(levels, bits)
        if len(counts):
            yield pa.RecordBatch.from_arrays(
                [pa.array(patterns[:, j]) for j in range(len(names))]
                + [pa.array(pattern_bits.view(np.int32)), pa.array(counts)], names=[*names, "bits", "pairs"])


def _score_batches(batches, *, plan: _Plan, model, frequencies, n_right):
    """Kind 0 rows: the pairs with p >= ASSIGNMENT_FLOOR (l, r, weight, levels); kind 1 rows: a
    histogram of every pair's weight (weight, pairs)."""
    names = _level_names(len(plan.comparisons))
    for batch in batches:
        table, records, li, position, _, levels = _compared(batch, plan)
        weights = score_partition(model, frequencies, _left_records(plan.left), records, n_right, li, position,
                                  levels)
        keep = FellegiSunter.probability(weights) >= ASSIGNMENT_FLOOR
        values, counts = np.unique(weights, return_counts=True)
        k, h = int(keep.sum()), len(values)
        right_rows = table[ROW].to_numpy()[position[keep]].astype(np.int32)
        signatures = identity_signatures(records, position[keep]).view(np.int64)
        yield pa.RecordBatch.from_arrays(
            [pa.array(np.r_[np.zeros(k, np.int8), np.ones(h, np.int8)]),
             pa.array(np.r_[li[keep], np.zeros(h, np.int32)].astype(np.int32)),
             pa.array(np.r_[right_rows, np.zeros(h, np.int32)].astype(np.int32)),
             pa.array(np.r_[weights[keep], values]),
             pa.array(np.r_[np.zeros(k, np.int64), counts.astype(np.int64)]),
             pa.array(np.r_[signatures, np.zeros(h, np.int64)].astype(np.int64))]
            + [pa.array(np.r_[levels[keep, j], np.zeros(h, np.int8)].astype(np.int8)) for j in range(len(names))],
            names=["kind", "l", "r", "weight", "pairs", "signature", *names])


def _candidate_batches(batches, *, plan: _Plan):
    left_ids = _left_records(plan.left).ids
    for batch in batches:
        table, records, parts = _right_slice(batch, plan)
        li, position, _ = probe(plan.index.value, parts)
        yield pa.RecordBatch.from_arrays([left_ids.take(pa.array(li.astype(np.int64))),
                                          records.ids.take(pa.array(position.astype(np.int64)))],
                                         names=["left_id", "right_id"])


# --- the plan ----------------------------------------------------------------------------

def _list_columns(schema: pa.Schema) -> set[str]:
    return {f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)}


def _blocking(spark, spec: Spec, left: EncodedRecords, right_df, plan: _Plan):
    """The guarded left key index (broadcast) and the pass reports: left keys on the driver,
    right keys counted on the executors (only those the left side has), the guard on the driver."""
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    left_index = KeyIndex.build(join_keys(spec.blocking, left, LEFT, seed=plan.seed,
                                          left_lists=set(plan.left_lists), right_lists=set(plan.right_lists)))
    distinct = sc.broadcast(left_index.distinct())
    try:
        counted = _to_arrow(right_df.mapInArrow(partial(_key_count_batches, plan=replace(plan, index=distinct)),
                                                "pass int, join int, key long, count long")
                            .groupBy("pass", "join", "key").agg(F.sum("count").alias("count")))
    finally:
        distinct.unpersist()
    right_counts = {}
    if counted.num_rows:
        passes, joins = counted["pass"].to_numpy(), counted["join"].to_numpy()
        keys, counts = counted["key"].to_numpy().view(np.uint64), counted["count"].to_numpy()
        for pj in set(zip(passes.tolist(), joins.tolist())):
            mask = (passes == pj[0]) & (joins == pj[1])
            order = np.argsort(keys[mask])
            right_counts[pj] = (keys[mask][order], counts[mask][order])
    return guard(spec.blocking, left_index, right_counts)


def _fetch_right(spark, right_df, rows: np.ndarray, columns: list[str] | None = None) -> pa.Table:
    """The right records at these rows (unique, any order), sorted by row, via a broadcast join."""
    from pyspark.sql import functions as F

    wanted = spark.createDataFrame(pa.table({ROW: pa.array(np.unique(rows).astype(np.int32))}))
    frame = right_df if columns is None else right_df.select(ROW, *columns)
    return _to_arrow(frame.join(F.broadcast(wanted), ROW)).sort_by(ROW)


def _filter_count_batches(batches, *, plan: _Plan, columns: tuple[str, ...]):
    """Per slice of right records: kind 0 rows, each distinct filter hash with the records
    carrying it; one kind 1 row, the records holding a filter. Slices' counts add up."""
    for batch in batches:
        values, counts, present = filter_value_counts(_records(pa.Table.from_batches([batch]), plan.schema), columns)
        yield pa.RecordBatch.from_arrays([pa.array(np.r_[np.zeros(len(values), np.int8), 1].astype(np.int8)),
                                          pa.array(np.r_[values.view(np.int64), 0]),
                                          pa.array(np.r_[counts, present].astype(np.int64))],
                                         names=["kind", "value", "count"])


def _term_frequencies(model: FellegiSunter, right_df, plan: _Plan) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`linkage.scoring.term_frequencies`, counted on the cluster."""
    from pyspark.sql import functions as F

    tables = {}
    for j, c in enumerate(model.comparisons):
        if c.term_frequency and c.kind == "token":
            column = c.columns[0]
            counted = _to_arrow(right_df.where(F.col(column).isNotNull() & (F.col(column) != 0))
                                .groupBy(column).count())
            values = counted[column].to_numpy().astype(np.int64)
            counts = counted["count"].to_numpy().astype(np.int64)
            order = np.argsort(values, kind="stable")
            values, counts = values[order], counts[order]
            tables[j] = (values, counts / max(counts.sum(), 1))
        elif c.term_frequency and c.kind == "dice":
            counted = right_df.mapInArrow(partial(_filter_count_batches, plan=plan, columns=c.columns),
                                          "kind byte, value long, count long").groupBy("kind", "value") \
                .agg(F.sum("count").alias("count"))
            values = _to_arrow(counted.where(F.col("kind") == 0))
            present = int(sum(_to_arrow(counted.where(F.col("kind") == 1))["count"].to_pylist()))
            tables[j] = filter_frequency_table(values["value"].to_numpy().view(np.uint64),
                                               values["count"].to_numpy().astype(np.int64), present)
    return tables


def link_spark(spec: Spec, left_path, right_path, *, threshold: float | None = None,
               model: FellegiSunter | None = None, master: str | None = None, spark=None,
               conf: dict | None = None, candidates_out: str | Path | None = None) -> SparkLinkResult:
    """:func:`linkage.link.link` on Spark (see the module docstring): same arguments and
    results, plus ``master`` (or an existing ``spark`` session) and ``conf``. With
    ``candidates_out`` (a folder), every candidate pair is also written there as
    ``candidates.parquet`` by the executors."""
    require_spark()
    from pyspark import StorageLevel
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    link_plan = LinkPlan(spec, threshold=threshold, model=model)
    owned = spark is None and SparkSession.getActiveSession() is None
    with stage("start Spark" if spark is None else "attach to Spark"):
        spark = spark or spark_session(master, conf)
    sc = spark.sparkContext
    cached, broadcasts = [], []
    try:
        with _job(spark, "load encoded files"):
            left_schema, left_metadata = read_footer(left_path)
            right_schema, right_metadata = read_footer(right_path)
            link_plan.check_inputs(left_metadata, right_metadata)
            for path, schema, metadata in ((left_path, left_schema, left_metadata),
                                           (right_path, right_schema, right_metadata)):
                verify_file_data(path, schema, metadata)  # in the driver, batch by batch: changed bytes are refused
            check_same_encoding(*(read_columns(p, token_columns_of(schema))
                                  for p, schema in ((left_path, left_schema), (right_path, right_schema))))
            left_df, right_df = _read(spark, left_path), _read(spark, right_path)
            left_table = _restore(_to_arrow(left_df).sort_by(ROW), left_schema)
            left = EncodedRecords.from_table(left_table)
            left_broadcast = _Shipped(uuid.uuid4().hex, sc.broadcast(_ipc(left_table)))
            broadcasts.append(left_broadcast.broadcast)
            n_right = right_df.count()
            # the right file's row groups are too few and too big to spread the work: spread its
            # records over the cores (and more as it grows), once, and keep them for every pass
            right_df = right_df.repartition(max(2 * sc.defaultParallelism, -(-n_right // RIGHT_ROWS_PER_PARTITION))) \
                .persist(StorageLevel.DISK_ONLY)
            cached.append(right_df)
            right_df.count()
        comparisons = link_plan.comparisons(set(left_schema.names), set(right_schema.names))
        plan = _Plan(spec.blocking, spec.model.seed, frozenset(_list_columns(left_schema)),
                     frozenset(_list_columns(right_schema)), right_schema, tuple(comparisons), left_broadcast)
        with _job(spark, "blocking"):
            index, reports = _blocking(spark, spec, left, right_df, plan)
            plan = replace(plan, index=sc.broadcast(index))
            broadcasts.append(plan.index)
        with _job(spark, "compare candidate pairs"):
            names = _level_names(len(comparisons))
            table = _to_arrow(right_df.mapInArrow(partial(_pattern_batches, plan=plan),
                                                  ", ".join([f"{name} byte" for name in names]
                                                            + ["bits int", "pairs long"]))
                              .groupBy(*names, "bits").agg(F.sum("pairs").alias("pairs")))
            patterns = (np.stack([table[name].to_numpy() for name in names], axis=1).astype(np.int8)
                        if names and table.num_rows else np.zeros((table.num_rows, len(names)), dtype=np.int8))
            bits = table["bits"].to_numpy().astype(np.int64).astype(np.uint32) if table.num_rows else \
                np.zeros(0, dtype=np.uint32)
            counts = table["pairs"].to_numpy().astype(np.int64) if table.num_rows else np.zeros(0, dtype=np.int64)
        n = int(counts.sum())
        summary = link_plan.summary(left_metadata, right_metadata, len(left), n_right, reports, n)
        summary.engine = {"name": "spark", "master": sc.master, "spark_version": spark.version,
                          "default_parallelism": sc.defaultParallelism}
        right_id_type = right_schema.field("linkage_id").type
        if n == 0 or len(left) == 0 or n_right == 0:
            none = Candidates(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), reports)
            right_view = EncodedRecords(ids=pa.array([], right_id_type))
            empty = _pairs_table(none, np.zeros(0, dtype=np.int64), left, right_view, np.zeros(0), np.zeros(0),
                                 np.zeros((0, 0)), [])
            return SparkLinkResult(empty, empty, None, summary.to_dict(), none, np.zeros(0),
                                   np.zeros((0, len(comparisons))), left.ids, None)

        model = link_plan.saved_model
        if link_plan.needs_em:
            with _job(spark, "EM: u from random pairs, m per blocking pass, prior"):
                model = link_plan.new_model(comparisons)
                rl, rr = link_plan.random_pairs(len(left), n_right)
                sample = _fetch_right(spark, right_df, rr)
                sample_rows = sample[ROW].to_numpy()
                model.fit_u(compare(comparisons, left, _records(sample, right_schema), rl,
                                    np.searchsorted(sample_rows, rr).astype(np.int32)))
                pass_pairs = [int(counts[(bits >> np.uint32(i)) & np.uint32(1) == 1].sum())
                              for i in range(len(spec.blocking))]
                sessions = link_plan.training_plan(comparisons, pass_pairs, len(left))
                model.fit_pattern_table(patterns, bits, counts, total_pairs=len(left) * n_right,
                                        sessions=sessions, max_matches=min(len(left), n_right))
        with _job(spark, "score and assign one-to-one"):
            frequencies = _term_frequencies(model, right_df, plan)
            scored = right_df.mapInArrow(
                partial(_score_batches, plan=plan, model=model, frequencies=frequencies, n_right=n_right),
                "kind byte, l int, r int, weight double, pairs long, signature long"
                + "".join(f", {name} byte" for name in names)
            ).persist(StorageLevel.MEMORY_AND_DISK)  # small: the pairs worth assigning, and histograms
            cached.append(scored)
            considered = _to_arrow(scored.where(F.col("kind") == 0).drop("kind", "pairs"))
            signatures = considered["signature"].to_numpy().view(np.uint64) if considered.num_rows else \
                np.zeros(0, dtype=np.uint64)
            histogram = _to_arrow(scored.where(F.col("kind") == 1).groupBy("weight").agg(F.sum("pairs").alias("pairs")))
            order = np.lexsort((considered["r"].to_numpy(), considered["l"].to_numpy())) if considered.num_rows \
                else np.zeros(0, dtype=np.int64)
            cl = considered["l"].to_numpy()[order].astype(np.int32) if considered.num_rows else \
                np.zeros(0, dtype=np.int32)
            cr = considered["r"].to_numpy()[order].astype(np.int32) if considered.num_rows else \
                np.zeros(0, dtype=np.int32)
            weights = considered["weight"].to_numpy()[order] if considered.num_rows else np.zeros(0)
            levels = (np.stack([considered[name].to_numpy()[order] for name in names], axis=1).astype(np.int8)
                      if considered.num_rows else np.zeros((0, len(names)), dtype=np.int8))
            decision = link_plan.decide(model, cl, cr, weights, len(left), n_right, signatures[order])
            wanted = decision.kept.astype(np.int64)  # links, grey zone and the one-to-one pairs below (the report)
            ids = _fetch_right(spark, right_df, cr[wanted], ["linkage_id"]) if len(wanted) else \
                pa.table({ROW: pa.array([], pa.int32()), "linkage_id": pa.array([], right_id_type)})
            # the tables take right ids by position into `ids` (sorted by row), not by row number
            right_view = EncodedRecords(ids=ids["linkage_id"].combine_chunks())
            positions = np.searchsorted(ids[ROW].to_numpy(), cr).clip(0, max(ids.num_rows - 1, 0)).astype(np.int32)
            view = Candidates(cl, positions)
            links = _pairs_table(view, decision.linked, left, right_view, weights, decision.probability, levels,
                                 comparisons)
            grey_zone = _pairs_table(view, decision.grey, left, right_view, weights, decision.probability, levels,
                                     comparisons)
        summary = link_plan.decided(summary, model, decision)
        if candidates_out is not None:
            with _job(spark, "write candidate pairs"):
                _write_candidates(right_df, plan, Path(candidates_out))
        hist_values = histogram["weight"].to_numpy()
        hist_counts = histogram["pairs"].to_numpy().astype(np.int64)
        return SparkLinkResult(links, grey_zone, model, summary.to_dict(), Candidates(cl, cr, reports), weights, levels,
                               left.ids, None, decision=decision, weight_values=hist_values, weight_counts=hist_counts,
                               candidate_patterns=(patterns, bits, counts), fetched_right=ids.sort_by(ROW))
    finally:
        for frame in cached:
            frame.unpersist()
        for broadcast in broadcasts:
            broadcast.unpersist()
        if owned:
            spark.stop()


def _write_candidates(right_df, plan: _Plan, out: Path) -> Path:
    """Every candidate pair as (left_id, right_id), one Parquet file like the local engine's."""
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / ".candidates.spark"
    shutil.rmtree(scratch, ignore_errors=True)
    (right_df.mapInArrow(partial(_candidate_batches, plan=plan), "left_id string, right_id string")
     .write.option("compression", "zstd").parquet(str(scratch)))
    import pyarrow.parquet as pq

    final = out / "candidates.parquet"
    schema = pa.schema([("left_id", pa.string()), ("right_id", pa.string())])
    with pq.ParquetWriter(final, schema, compression="zstd") as writer:  # the executors' parts, streamed into one
        for part in sorted(scratch.glob("part-*.parquet")):
            for batch in pq.ParquetFile(part).iter_batches(batch_size=1 << 20):
                writer.write_batch(batch.cast(schema))
    shutil.rmtree(scratch, ignore_errors=True)
    return final


def write_spark_outputs(result: SparkLinkResult, out_dir, *, charts: bool = True) -> dict[str, Path]:
    """:func:`linkage.link.write_link_outputs` for a Spark run (its weight histogram covers every
    candidate pair, from the cluster's counts: :meth:`SparkLinkResult.weight_distribution`)."""
    paths = write_link_outputs(result, out_dir, charts=charts)
    candidates = Path(out_dir) / "candidates.parquet"
    if candidates.exists():
        paths["candidates"] = candidates
    return paths
