"""The linkage report (issue #21): written by `link`, enriched by `evaluate`, drawn by a real browser;
readable level labels; progress that never goes quiet; errors that name their fix.

One small run is linked once (the shared population, indirect spec with fewer random pairs for u)
and read by every test; the browser test runs Debian's Chromium headless and is skipped, saying
why, where none is installed.
"""

import json
import re
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.io import write_parquet
from linkage.encoding import encode_holder, write_encoded
from linkage.spec import example_spec_text, parse_spec
from privacy.keys import LinkageKey

KEY = LinkageKey(bytes(range(32)))
SPEC_TEXT = example_spec_text("indirect").replace("u_sample_pairs = 5000000", "u_sample_pairs = 300000")
cli = app()


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


@pytest.fixture(scope="module")
def linked(tmp_path_factory, population):
    """Encoded files, crosswalks (with the holders' metadata, as `encode` writes them), a `link` run and an
    `evaluate` of it into a folder of its own."""
    root = tmp_path_factory.mktemp("report")
    (root / "spec.toml").write_text(SPEC_TEXT)
    spec = parse_spec(SPEC_TEXT)
    for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                               ("snds", "snds_beneficiaries", "snds_stays")):
        encoded = encode_holder(spec, KEY, role, population.tables[table], population.tables[stays])
        write_encoded(encoded.encoded, encoded.metadata, root / f"{role}.encoded.parquet")
        write_parquet(encoded.crosswalk, root / f"{role}.crosswalk.parquet",
                      metadata={"harmonie.holder": role, "harmonie.key_fingerprint": KEY.fingerprint})
    population.write(root / "pop", tables=("truth", "snds_duplicates", "hard_cases"))
    result = run("link", "--spec", str(root / "spec.toml"), "--left", str(root / "cohort.encoded.parquet"),
                 "--right", str(root / "snds.encoded.parquet"), "--out", str(root / "run"))
    assert result.exit_code == 0, result.output
    evaluated = run("evaluate", "--links", str(root / "run" / "links.parquet"),
                    "--truth", str(root / "pop" / "truth.parquet"),
                    "--left-crosswalk", str(root / "cohort.crosswalk.parquet"),
                    "--right-crosswalk", str(root / "snds.crosswalk.parquet"),
                    "--duplicates", str(root / "pop" / "snds_duplicates.parquet"), "--out", str(root / "evaluator"))
    assert evaluated.exit_code == 0, evaluated.output
    return root


def _data(path):
    return json.loads(path.read_text())


# --- what link writes ---------------------------------------------------------------------------------------------

def test_link_writes_the_report_its_data_and_the_one_to_one_pairs(linked):
    run_dir = linked / "run"
    summary, data = _data(run_dir / "summary.json"), _data(run_dir / "report_data.json")
    html = (run_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "vegaEmbed" in html and "<script src" not in html  # all inline
    assert not re.search(r"""(src|href)=["']?https?://""", html)  # nothing fetched: it works air-gapped
    pairs = pq.read_table(run_dir / "one_to_one.parquet").to_pandas()
    assert len(pairs) == summary["one_to_one_pairs"] and pairs.left_id.is_unique and pairs.right_id.is_unique
    assert (pairs.match_probability >= summary["threshold"]["probability"]).sum() == summary["links"]
    links = pq.read_table(run_dir / "links.parquet").to_pandas()
    assert set(zip(links.left_id, links.right_id)) <= set(zip(pairs.left_id, pairs.right_id))
    assert data["run"]["links"] == summary["links"] and data["format"] == "harmonie-link-report/1"


def test_patterns_and_passes_account_for_every_candidate_pair(linked):
    summary, data = _data(linked / "run" / "summary.json"), _data(linked / "run" / "report_data.json")
    p = data["patterns"]
    by_status = np.array(p["by_status"])
    assert sum(p["count"]) == summary["candidate_pairs"] and (by_status.sum(axis=1) == p["count"]).all()
    assert by_status[:, 0].sum() + by_status[:, 1].sum() == summary["links"]  # links, and links in the grey zone
    assert by_status[:, 1].sum() + by_status[:, 2].sum() == summary["grey_zone_pairs"]
    assert sum(p["one_to_one"]) == summary["one_to_one_pairs"]
    assert len({tuple(levels) for levels in p["levels"]}) == len(p["levels"])  # distinct patterns
    model = _data(linked / "run" / "model.json")
    weights = [[level["weight"] for level in c["levels"]] for c in model["comparisons"]]
    for levels, weight in list(zip(p["levels"], p["weight"]))[:50]:  # a pattern's weight is its waterfall's sum
        assert weight == pytest.approx(model["prior_weight"] + sum(weights[j][lv] for j, lv in enumerate(levels)
                                                                   if lv >= 0), abs=1e-4)
    passes = data["blocking"]
    assert sum(row["new"] for row in passes) == summary["candidate_pairs"]  # each pair is new to one pass
    for row, reported in zip(passes, summary["blocking"]):
        assert row["only"] <= row["new"] <= row["pairs"] <= row["proposed"] == reported["pairs"]


def test_the_threshold_tool_agrees_with_the_decision_and_with_the_truth(linked):
    summary, data = _data(linked / "run" / "summary.json"), _data(linked / "run" / "report_data.json")
    curve, chosen = data["threshold"], summary["threshold"]["probability"]
    i = curve["threshold"].index(chosen)
    assert curve["links"][i] == summary["links"]
    for metric in ("precision", "recall", "f1"):
        assert curve[metric][i] == pytest.approx(summary["estimated"][metric], abs=1e-5)
    assert curve["expected_tp"][i] == pytest.approx(summary["estimated"]["precision"] * summary["links"], rel=1e-5)
    assert curve["links"] == sorted(curve["links"], reverse=True)  # a higher threshold never links more
    assert curve["threshold"][0] == 0 and curve["threshold"][-1] == 1 and len(curve["threshold"]) > 200
    evaluation = _data(linked / "evaluator" / "evaluation.json")
    truth = _data(linked / "run" / "report_data.json")["truth"]
    assert truth is None  # the linkage unit's own report holds no truth ...
    enriched = (linked / "evaluator" / "report.html").read_text()
    truth = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', enriched,
                                 re.S).group(1))["truth"]  # ... the evaluator's does
    at = truth["threshold"]
    assert at["true_tp"][i] == evaluation["true_positives"]
    assert at["precision"][i] == pytest.approx(evaluation["precision"], abs=1e-6)
    assert at["recall"][i] == pytest.approx(evaluation["recall"], abs=1e-6)
    assert sum(truth["patterns"]["correct"]) + sum(truth["patterns"]["wrong"]) == summary["one_to_one_pairs"]
    assert {r["case"] for r in truth["by_hard_case"]} >= {"all", "married_name", "moved"}  # hard_cases beside truth
    assert "../run/report.html" in enriched  # back, never to itself (either quote style)
    assert not re.search(r"""href=['"]report\.html['"]""", enriched)


def test_the_report_is_byte_identical_for_the_same_run(linked, tmp_path):
    again = run("link", "--spec", str(linked / "spec.toml"), "--left", str(linked / "cohort.encoded.parquet"),
                "--right", str(linked / "snds.encoded.parquet"), "--out", str(tmp_path / "run"))
    assert again.exit_code == 0, again.output
    for name in ("report.html", "report_data.json", "one_to_one.parquet", "links.parquet", "waterfall.png"):
        assert (tmp_path / "run" / name).read_bytes() == (linked / "run" / name).read_bytes(), name


def test_the_report_shows_linkage_ids_never_a_plaintext_identifier(linked, population):
    text = (linked / "run" / "report.html").read_text() + (linked / "evaluator" / "report.html").read_text()
    crosswalk = pq.read_table(linked / "cohort.crosswalk.parquet").to_pandas()
    data = _data(linked / "run" / "report_data.json")
    assert set(data["pairs"]["left_id"]) <= set(crosswalk.linkage_id)  # pairs are named by linkage id
    patients, beneficiaries = population["cohort_patients"], population["snds_beneficiaries"]
    words = set(re.findall(r"[^\W_]+", text))  # every run of letters and digits of both pages
    plaintext = set(patients.cohort_id) | set(beneficiaries.snds_id) | set(patients.nir.dropna().str.replace(" ", ""))\
        | set(beneficiaries.nir.dropna()) | {n for n in patients.birth_name.dropna() if len(n) >= 7 and n.isalpha()}
    assert len(plaintext) > 20_000 and not plaintext & words
    assert bytes(range(32)).hex() not in text and bytes(range(32)).hex()[:16] not in text  # nor the secret


def test_links_and_grey_zone_carry_readable_level_labels(linked):
    model = _data(linked / "run" / "model.json")
    for name in ("links", "grey_zone"):
        table = pq.read_table(linked / "run" / f"{name}.parquet").to_pandas()
        for c in model["comparisons"]:
            labels = [level["label"] for level in c["levels"]] + ["missing"]
            levels = table[f"level_{c['name']}"].to_numpy()
            assert (table[f"level_{c['name']}_label"].astype(str).to_numpy()
                    == np.array(labels, dtype=object)[np.where(levels < 0, len(labels) - 1, levels)]).all()
    stays = next(c for c in model["comparisons"] if c["name"] == "stays")
    assert [level["label"] for level in stays["levels"]][:4] == ["8+ shared", "5-7 shared", "3-4 shared", "2 shared"]


def test_a_model_saved_with_the_old_stays_labels_still_scores(linked, tmp_path):
    old = (linked / "run" / "model.json").read_text().replace('"5-7 shared"', '"5 shared"').replace(
        '"3-4 shared"', '"3 shared"')
    (tmp_path / "old.json").write_text(old)
    result = run("link", "--spec", str(linked / "spec.toml"), "--left", str(linked / "cohort.encoded.parquet"),
                 "--right", str(linked / "snds.encoded.parquet"), "--out", str(tmp_path / "run"),
                 "--model", str(tmp_path / "old.json"), "--no-charts")
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "run" / "links.parquet").num_rows == _data(linked / "run" / "summary.json")["links"]
    assert not (tmp_path / "run" / "report.html").exists()  # --no-charts: no charts, no report


def test_em_sessions_record_their_own_estimates(linked):
    model = _data(linked / "run" / "model.json")
    names = {c["name"]: len(c["levels"]) for c in model["comparisons"]}
    fitted = [s for s in model["em"]["sessions"] if not s.get("skipped")]
    assert fitted and all(set(s["m"]) == set(names) - set(s["left_out"]) for s in fitted)
    assert all(len(m) == names[c] and sum(m) == pytest.approx(1) for s in fitted for c, m in s["m"].items())


# --- the browser ----------------------------------------------------------------------------------------------------

def test_the_report_draws_every_chart_in_headless_chromium(linked):
    from linkage.report.browser import chromium, render

    if chromium() is None:
        pytest.skip("no Chromium on PATH: install Debian's `chromium` package to draw the report in a test")
    for page, charts in ((linked / "run" / "report.html", 8), (linked / "evaluator" / "report.html", 9)):
        drawn = render(page)
        assert drawn.ready and not drawn.errors and not drawn.console_errors, (drawn.errors, drawn.console_errors)
        assert drawn.charts == charts
        ids = ["chart-blocking", "chart-weights", "chart-m-u", "chart-sessions", "chart-histogram",
               "chart-threshold", "chart-patterns", "chart-waterfall"] + (["chart-hard-cases"] if charts == 9 else [])
        assert all(drawn.svg_count(i) >= 1 for i in ids), {i: drawn.svg_count(i) for i in ids}
        marks = {i: drawn.data_marks(i) for i in ids}  # each drew its data, not only a frame and axes
        assert min(marks.values()) >= 3, marks
        assert marks["chart-blocking"] >= 9 and marks["chart-patterns"] >= 100, marks  # 3 passes x 3 measures
        # the script filled what it owns: the pattern table, the waterfall of the commonest linked pattern, the
        # threshold readout at the chosen threshold
        assert drawn.dom.count("<tr") > 20 and "Pattern #" in drawn.dom and "harmonie link ... --model" in drawn.dom


# --- progress -------------------------------------------------------------------------------------------------------

def test_a_quiet_stage_sends_a_heartbeat_with_counts_rate_and_eta(capsys):
    from harmonie import progress

    progress.set_enabled(True)
    progress.set_heartbeat(0.3)
    try:
        with progress.stage("outer"):
            with progress.progress("compare 1,000 pairs", 1000, unit="pairs", lines=1) as bar:
                bar.advance(250)
                time.sleep(1.0)  # silent work: the heartbeat speaks
                bar.advance(750)
    finally:
        progress.set_heartbeat(30)
        progress.set_enabled(False)
    err = capsys.readouterr().err
    beats = [line for line in err.splitlines() if line.startswith("…")]
    assert beats and "outer: running" in beats[0] and "compare 1,000 pairs: 250/1k pairs (25%)" in beats[0]
    assert "pairs/s" in beats[0] and "ETA" in beats[0]
    assert "done compare 1,000 pairs" in err and "done outer" in err


# --- errors that name the fix ---------------------------------------------------------------------------------------

def _evaluate(linked, left, right):
    return run("evaluate", "--links", str(linked / "run" / "links.parquet"),
               "--truth", str(linked / "pop" / "truth.parquet"), "--left-crosswalk", str(left),
               "--right-crosswalk", str(right), "--out", str(linked / "swapped"))


def test_evaluate_with_swapped_crosswalks_says_so_and_fails(linked, tmp_path):
    with_metadata = _evaluate(linked, linked / "snds.crosswalk.parquet", linked / "cohort.crosswalk.parquet")
    assert with_metadata.exit_code == 2 and "swap --left-crosswalk and --right-crosswalk" in with_metadata.output
    for role in ("cohort", "snds"):  # crosswalks copied without their metadata, as the demo's evaluator gets them
        pd.read_parquet(linked / f"{role}.crosswalk.parquet").to_parquet(tmp_path / f"{role}.parquet")
    bare = _evaluate(linked, tmp_path / "snds.parquet", tmp_path / "cohort.parquet")
    truth = len(pd.read_parquet(linked / "pop" / "truth.parquet"))
    assert bare.exit_code == 2 and f"0 of {truth:,} truth pairs map — are the crosswalks swapped?" in bare.output
    assert bare.output.count("\n") == 1 and not (linked / "swapped" / "evaluation.json").exists()


def test_the_python_evaluation_refuses_a_truth_that_maps_to_nothing(linked):
    from harmonie.errors import HarmonieError
    from linkage.evaluate import evaluate_links

    links = pd.read_parquet(linked / "run" / "links.parquet")
    truth = pd.read_parquet(linked / "pop" / "truth.parquet")
    cohort, snds = (pd.read_parquet(linked / f"{r}.crosswalk.parquet") for r in ("cohort", "snds"))
    with pytest.raises(HarmonieError, match="are the crosswalks swapped"):
        evaluate_links(links, truth, snds, cohort)
    assert evaluate_links(links, truth, cohort, snds)["f1"] > 0.95


def test_a_cp1252_csv_read_as_utf8_is_told_to_pass_its_encoding(tmp_path, population):
    patients = population["cohort_patients"]
    assert patients.use_name.str.contains("[ÉÈËÊ]").any()  # accents that cp1252 writes as single bytes
    patients.to_csv(tmp_path / "patients.csv", sep=";", index=False, encoding="cp1252")
    (tmp_path / "spec.toml").write_text(example_spec_text("names"))
    result = run("encode", "--spec", str(tmp_path / "spec.toml"), "--key", str(tmp_path / "missing.key"),
                 "--in", str(tmp_path / "patients.csv"), "--out", str(tmp_path / "e.parquet"),
                 "--crosswalk", str(tmp_path / "cw.parquet"))
    assert result.exit_code == 2 and "is not utf-8 text" in result.output and "--encoding cp1252" in result.output
    assert "cannot tell which holder" not in result.output


def test_the_passphrase_rule_is_in_the_readme_and_in_help():
    from pathlib import Path

    from privacy.keys import PASSPHRASE_RULE

    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert " ".join(PASSPHRASE_RULE.split()) in readme
    assert "12 characters" in " ".join(run("keys", "new", "--help").output.split())


def test_sampling_more_patients_than_the_model_learnt_from_warns(population, tmp_path, monkeypatch):
    """The warning is the command's: the model's sampling is stood in for by the analytic dataset it would have
    learnt from (fitting a replica model takes longer than this whole file)."""
    import synth.replica
    from conftest import linked_extracts
    from synth.analytic import build_analytic

    cohort, snds, links = linked_extracts(population)
    train = build_analytic(links, cohort, snds, seed=1).train
    trained = len(train["patients"])
    manifest = {"mode": "fitted", "generator": "copula", "seed": 0, "versions": {}, "trained_on": {"patients": trained}}
    monkeypatch.setattr(synth.replica, "sample_model", lambda model_dir, rows, seed: (train, manifest))
    (tmp_path / "model").mkdir()
    for rows, warned in ((trained, False), (trained * 100, True)):
        result = run("synth", "sample", "--model", str(tmp_path / "model"), "--rows", str(rows),
                     "--out", str(tmp_path / f"replica{rows}"))
        assert result.exit_code == 0, result.output
        warning = f"warning: {rows:,} synthetic patients from a model of {trained:,} real ones"
        assert (warning in result.output) == warned
    assert "other --seed values" in result.output


def test_every_chart_spec_is_valid_vega_lite(linked):
    from linkage.report.charts import specs
    from linkage.report.data import LinkReportData

    data = LinkReportData.load(linked / "run" / "report_data.json")
    assert len(specs(data, validate=True)) == 8  # Altair checks each against the Vega-Lite schema


def test_the_spark_engines_aggregates_give_the_same_report(linked):
    """A Spark run keeps only the pairs considered for a link (p >= 0.01) and the cluster's pattern table of
    all the others; its report's counts, passes and threshold curve are those of the local run's."""
    import pyarrow as pa
    from dataclasses import replace

    from linkage.decide import ASSIGNMENT_FLOOR
    from linkage.engines.spark import ROW, SparkLinkResult
    from linkage.link import link
    from linkage.model import FellegiSunter, pattern_count_table
    from linkage.report import build_link_report

    local = link(parse_spec(SPEC_TEXT), linked / "cohort.encoded.parquet", linked / "snds.encoded.parquet")
    considered = np.flatnonzero(FellegiSunter.probability(local.weights) >= ASSIGNMENT_FLOOR)
    at = lambda positions: np.searchsorted(considered, positions)  # noqa: E731
    d = local.decision
    decision = replace(d, kept=at(d.kept), linked=at(d.linked), grey=at(d.grey), probability=d.probability[considered])
    kept_rows = np.unique(local.candidates.right[d.kept])
    spark_like = SparkLinkResult(
        local.links, local.grey_zone, local.model, local.summary,
        replace(local.candidates, left=local.candidates.left[considered], right=local.candidates.right[considered],
                proposed_by=None),
        local.weights[considered], local.levels[considered], local.left_ids, None, decision=decision,
        weight_values=local.weights, weight_counts=np.ones(len(local.weights), dtype=np.int64),
        candidate_patterns=pattern_count_table(local.levels, local.candidates.proposed_by),
        fetched_right=pa.table({ROW: pa.array(kept_rows.astype(np.int32)),
                                "linkage_id": local.right_ids.take(pa.array(kept_rows.astype(np.int64)))}))
    ours, theirs = build_link_report(local).data, build_link_report(spark_like).data
    assert theirs.patterns["levels"] == ours.patterns["levels"] and theirs.patterns["count"] == ours.patterns["count"]
    assert theirs.patterns["by_status"] == ours.patterns["by_status"] and theirs.blocking == ours.blocking
    assert theirs.threshold == ours.threshold and theirs.weight_histogram == ours.weight_histogram
    assert set(theirs.pairs["right_id"]) <= set(ours.pairs["right_id"]) and None not in theirs.pairs["right_id"]


def test_text_from_the_spec_cannot_break_out_of_the_page(linked):
    """Pass names are free text in the spec: in the page they are escaped in markup and in the embedded JSON."""
    from linkage.report.data import LinkReportData
    from linkage.report.page import render_page

    data = LinkReportData.load(linked / "run" / "report_data.json")
    hostile = "</script><img src=x onerror=alert(1)><!--"
    data.blocking[0]["name"] = hostile
    page = render_page(data)
    assert hostile not in page and "<img src=x" not in page
    assert page.count("</script>") == 4  # the Vega bundle, the two JSON blocks and the page's script
