"""The Spark engine (issue 10): same inputs, spec and seed give the local engine's links and model.

The pieces the Spark engine adds (join keys computed per slice of records, EM from pattern
counts) are checked against the local engine without Spark. The end-to-end identity runs
on Spark local[2] wherever PySpark and Java 17 are installed (`make test` installs the
``spark`` extra) and is skipped, with the reason in the test summary, elsewhere.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding import encode_holder, read_encoded, write_encoded
from linkage.engines import spark_available
from linkage.engines.blocking_keys import LEFT, RIGHT, KeyIndex, guard, join_keys, probe, shared_key_counts
from linkage.link import link
from linkage.plan import LinkPlan
from linkage.model import FellegiSunter, merge_pattern_counts, pattern_count_table
from linkage.spec import example_spec_text, parse_spec
from privacy.keys import LinkageKey

KEY = LinkageKey(bytes(range(32)))
SPARK_OK, SPARK_MISSING = spark_available()
needs_spark = pytest.mark.skipif(not SPARK_OK, reason=f"Spark engine identity not tested here: {SPARK_MISSING}")


def _spec_texts() -> dict[str, str]:
    # u from 200,000 random pairs, not 5,000,000: the engines' identity does not depend on the sample's size, and
    # at 500 x 6,000 records the default would draw more pairs than the 3,000,000 there are
    texts = {name: example_spec_text(name).replace("u_sample_pairs = 5000000", "u_sample_pairs = 200000")
             for name in ("names", "indirect")}
    assert all("u_sample_pairs = 200000" in text for text in texts.values())
    assert "max_block_size = 2000" in texts["indirect"]
    # a small guard, so the oversized-block path runs on a small population too
    return {**texts, "indirect": texts["indirect"].replace("max_block_size = 2000", "max_block_size = 3")}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Small populations encoded by both holders: the default population under the names spec, and the harsh
    preset's (stays days apart, sister sites of one establishment group: the wider event levels of issue #17)
    under a guarded indirect spec with the FINESS map."""
    from linkage.datasets import make_population
    from linkage.datasets.params import preset_params

    populations = {"names": make_population(500, 6_000, seed=5),
                   "indirect": make_population(500, 6_000, seed=5, params=preset_params("harsh"))}
    out = tmp_path_factory.mktemp("spark-encoded")
    cases = {}
    for name, text in _spec_texts().items():
        spec, tables = parse_spec(text, name), populations[name].tables
        (out / f"{name}.toml").write_text(text)
        paths = {}
        for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                                   ("snds", "snds_beneficiaries", "snds_stays")):
            result = encode_holder(spec, KEY, role, tables[table], tables[stays],
                                   finess_map=tables["finess_entities"] if name == "indirect" else None)
            paths[role] = write_encoded(result.encoded, result.metadata, out / f"{name}_{role}.parquet")
        cases[name] = (spec, out / f"{name}.toml", paths["cohort"], paths["snds"])
    return cases


def test_the_indirect_case_reaches_the_wider_event_levels(local_runs):
    """So that the engines' identity below holds for the group and days-apart levels too."""
    local = local_runs["indirect"]
    labels = dict(zip([c.name for c in local.model.comparisons], [c.labels for c in local.model.comparisons]))
    levels = local.levels[:, [c.name for c in local.model.comparisons].index("stays")]
    reached = {labels["stays"][level] for level in np.unique(levels[levels >= 0])}
    assert any("group" in label for label in reached) and any("days apart" in label for label in reached)


@pytest.fixture(scope="module")
def local_runs(small):
    return {name: link(spec, left, right) for name, (spec, _, left, right) in small.items()}


def _list_columns(schema: pa.Schema) -> set[str]:
    return {f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)}


def _records(path) -> EncodedRecords:
    return EncodedRecords.from_table(read_encoded(path).table)


@pytest.mark.parametrize("name", ["names", "indirect"])
def test_broadcast_join_over_slices_reproduces_the_local_blocking(small, local_runs, name):
    """The Spark engine's blocking without Spark: left key index, right key counts added up
    over slices (partitions), the guard, then each slice probing the guarded index."""
    spec, _, left_path, right_path = small[name]
    left, right_table = _records(left_path), read_encoded(right_path).table
    lists = {"left_lists": _list_columns(read_encoded(left_path).table.schema),
             "right_lists": _list_columns(right_table.schema)}
    index = KeyIndex.build(join_keys(spec.blocking, left, LEFT, seed=0, **lists))
    slices = [(int(c[0]), len(c)) for c in np.array_split(np.arange(right_table.num_rows), 3)]
    counted = {}
    for offset, length in slices:
        records = EncodedRecords.from_table(right_table.slice(offset, length))
        for p, j, keys, counts in shared_key_counts(join_keys(spec.blocking, records, RIGHT, seed=0, **lists),
                                                    index.distinct()):
            counted.setdefault((p, j), []).append((keys, counts))
    right_counts = {}
    for pj, parts in counted.items():
        keys = np.concatenate([k for k, _ in parts])
        values, inverse = np.unique(keys, return_inverse=True)
        right_counts[pj] = (values, np.bincount(inverse, weights=np.concatenate([c for _, c in parts])).astype(int))
    guarded, reports = guard(spec.blocking, index, right_counts)
    found = []
    for offset, length in slices:
        records = EncodedRecords.from_table(right_table.slice(offset, length))
        li, position, bits = probe(guarded, join_keys(spec.blocking, records, RIGHT, seed=0, **lists))
        found.append((li, position + offset, bits))
    li, ri, bits = (np.concatenate(x) for x in zip(*found))
    expected = local_runs[name].candidates
    order = np.lexsort((ri, li))
    assert np.array_equal(li[order], expected.left) and np.array_equal(ri[order], expected.right)
    assert np.array_equal(bits[order], expected.proposed_by)
    assert [vars(r) for r in reports] == [vars(r) for r in expected.passes]
    if name == "indirect":
        assert expected.passes[0].skipped_blocks > 0  # the guard ran


@pytest.mark.parametrize("name", ["names", "indirect"])
def test_em_from_merged_pattern_counts_is_the_local_model(small, local_runs, name):
    spec, _, left_path, right_path = small[name]
    local = local_runs[name]
    levels, proposed_by = local.levels, local.candidates.proposed_by
    parts = [pattern_count_table(levels[s], proposed_by[s]) for s in np.array_split(np.arange(len(levels)), 4)]
    patterns, bits, counts = merge_pattern_counts(*(np.concatenate(x) for x in zip(*parts)))
    assert counts.sum() == len(levels)
    model = FellegiSunter(local.model.comparisons, max_iterations=local.model.max_iterations,
                          tolerance=local.model.tolerance)
    model.u_, model.u_pairs_ = local.model.u_, local.model.u_pairs_
    pass_pairs = [int(counts[(bits >> np.uint32(i)) & np.uint32(1) == 1].sum()) for i in range(len(spec.blocking))]
    plan = LinkPlan(spec).training_plan(model.comparisons, pass_pairs, local.summary["left"]["records"])
    n_left, n_right = local.summary["left"]["records"], local.summary["right"]["records"]
    model.fit_pattern_table(patterns, bits, counts, total_pairs=n_left * n_right, sessions=plan,
                            max_matches=min(n_left, n_right))
    assert model.to_dict() == local.model.to_dict()  # bit for bit, not approximately


def test_spark_engine_missing_pyspark_or_java_is_one_line(small, tmp_path, monkeypatch):
    import importlib.util
    import shutil

    spec, spec_path, left, right = small["names"]
    runner, cli = CliRunner(), app()

    def run(*extra):
        return runner.invoke(cli, ["--quiet", "link", "--spec", str(spec_path), "--left", str(left), "--right",
                                   str(right), "--out", str(tmp_path / "out"), "--no-charts", *extra])

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else
                        real_find_spec(name, *a))
    result = run("--engine", "spark")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "pip install 'harmonie[spark]'" in result.output
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "pyspark" else
                        real_find_spec(name, *a))
    monkeypatch.setattr(shutil, "which", lambda name, *a: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    result = run("--engine", "spark")
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "needs Java 17" in result.output
    result = run("--spark-master", "local[2]")
    assert result.exit_code == 2 and "--spark-master goes with --engine spark" in result.output
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def spark():
    from linkage.engines.spark import spark_session

    session = spark_session("local[2]", {"spark.driver.memory": "1g"}, app_name="harmonie tests")
    yield session
    session.stop()


def _same_run(spark_result, local_result):
    assert spark_result.links.equals(local_result.links)
    assert spark_result.grey_zone.equals(local_result.grey_zone)
    assert spark_result.model.to_dict() == local_result.model.to_dict()
    summary = dict(spark_result.summary)
    assert summary.pop("engine")["name"] == "spark"
    assert summary == local_result.summary
    assert spark_result.weight_counts.sum() == local_result.summary["candidate_pairs"]
    values, counts = np.unique(local_result.weights, return_counts=True)
    order = np.argsort(spark_result.weight_values)
    assert np.array_equal(spark_result.weight_values[order], values)
    assert np.array_equal(spark_result.weight_counts[order], counts)


@needs_spark
def test_spark_engine_gives_the_local_links_and_model(spark, small, local_runs):
    """The names spec through the Python API (the indirect one through the command line, below)."""
    from linkage.engines.spark import link_spark

    spec, _, left, right = small["names"]
    result = link_spark(spec, left, right, spark=spark)
    assert result.links.num_rows > 400
    _same_run(result, local_runs["names"])


@needs_spark
def test_link_command_on_spark_writes_what_the_local_engine_writes(spark, small, tmp_path):
    """The guarded indirect spec with wide and group event levels, from the command line: same files."""
    spec, spec_path, left, right = small["indirect"]
    runner, cli = CliRunner(), app()
    outputs = {}
    for engine in ("local", "spark"):
        extra = ["--engine", "spark", "--spark-master", "local[2]"] if engine == "spark" else []
        result = runner.invoke(cli, ["--quiet", "link", "--spec", str(spec_path), "--left", str(left), "--right",
                                     str(right), "--out", str(tmp_path / engine), "--keep-candidates", *extra])
        assert result.exit_code == 0, result.output
        outputs[engine] = result.output
    assert outputs["spark"] == outputs["local"].replace(str(tmp_path / "local"), str(tmp_path / "spark"))
    for name in ("links.parquet", "grey_zone.parquet"):
        assert pq.read_table(tmp_path / "spark" / name).equals(pq.read_table(tmp_path / "local" / name))
    assert (tmp_path / "spark" / "model.json").read_text() == (tmp_path / "local" / "model.json").read_text()
    summary = json.loads((tmp_path / "spark" / "summary.json").read_text())
    assert summary.pop("engine")["master"].startswith("local")
    assert summary == json.loads((tmp_path / "local" / "summary.json").read_text())

    def pairs(path):
        table = pq.read_table(path)
        return sorted(zip(table["left_id"].to_pylist(), table["right_id"].to_pylist()))

    assert pairs(tmp_path / "spark" / "candidates.parquet") == pairs(tmp_path / "local" / "candidates.parquet")
    for chart in ("match_weight_histogram.png", "m_u_per_comparison.png", "waterfall.png"):
        assert (tmp_path / "spark" / chart).exists()


@needs_spark
@pytest.mark.slow  # three Spark links: ~1.5 min here; `pytest -m slow tests/e2e/test_spark_engine.py`
def test_link_all_on_spark_gives_the_local_clusters(spark, tmp_path):
    """A multi-source plan (two programmes and SNDS, three pairs) on Spark: the local engine's clusters (#19)."""
    from linkage.datasets.cohorts import parse_cohorts
    from linkage.datasets.warehouse import make_warehouse
    from linkage.multisource import example_plan, link_all, load_plan
    from linkage.multisource.examples import encode_simulated

    make_warehouse(parse_cohorts("canto:80,esme:150"), 2_000, seed=3).write(tmp_path / "wh")
    for name, text in example_plan(["canto", "esme"]).items():
        (tmp_path / "plan").mkdir(exist_ok=True)
        (tmp_path / "plan" / name).write_text(text.replace("u_sample_pairs = 5000000", "u_sample_pairs = 200000"))
    plan = load_plan(tmp_path / "plan" / "plan.toml")
    encode_simulated(plan, tmp_path / "wh", KEY)
    local = link_all(plan, tmp_path / "local")
    on_spark = link_all(plan, tmp_path / "spark", engine="spark")
    assert on_spark.clusters.equals(local.clusters) and on_spark.conflicts.equals(local.conflicts)
    for a, b in zip(on_spark.runs, local.runs):
        assert a.links.equals(b.links) and a.model.to_dict() == b.model.to_dict()
        for state in ("records.parquet", "scored_pairs.parquet"):
            assert pq.read_table(tmp_path / "spark" / "pairs" / a.pair.name / state).equals(
                pq.read_table(tmp_path / "local" / "pairs" / b.pair.name / state))
    with pytest.raises(Exception, match="keeps no candidate pairs"):
        link_all(plan, tmp_path / "again", engine="spark", keep_candidates=True)
