"""Several sources linked pair by pair, then clustered source-aware into one patient id per person (#19)."""

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from linkage.datasets.cohorts import parse_cohorts
from linkage.datasets.warehouse import make_warehouse
from linkage.multisource import ClusterSettings, Edges, cluster, evaluate_clusters, example_plan, link_all, load_plan
from linkage.multisource.examples import encode_simulated
from linkage.multisource.plan import PlanError, check_plan, parse_plan
from linkage.multisource.run import PreviousRun
from privacy.keys import LinkageKey

cli = app()
KEY = LinkageKey(bytes(range(32)))
CANTO, ESME, SNDS = 0, 1, 2
SOURCES = np.array([True, True, False])  # canto and esme are duplicate-free, snds is not
PAIRS = [(CANTO, SNDS), (ESME, SNDS), (CANTO, ESME)]


def run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def edges(*links):
    """(u, v, weight, pair) tuples -> Edges."""
    u, v, w, k = zip(*links)
    return Edges(np.array(u), np.array(v), np.array(w, dtype=float), np.array(k))


# --- the clustering on hand-made graphs ----------------------------------------------------------

def test_two_records_of_one_cohort_are_never_one_patient_and_the_weakest_link_goes():
    # nodes: 0 canto a, 1 canto a', 2 esme e, 3 snds s. a-s 20, e-s 15, a'-e 10: a and a' would meet
    source = np.array([CANTO, CANTO, ESME, SNDS])
    result = cluster(source, SOURCES, edges((0, 3, 20, 0), (2, 3, 15, 1), (1, 2, 10, 2)), PAIRS)
    assert result.labels[0] == result.labels[2] == result.labels[3] != result.labels[1]
    [conflict] = result.conflicts
    assert (conflict.u, conflict.v, conflict.weight, conflict.kind) == (1, 2, 10.0, "duplicate_free")
    assert {conflict.clash_u, conflict.clash_v} == {0, 1}


def test_when_the_weaker_link_is_elsewhere_it_is_that_one_that_goes():
    source = np.array([CANTO, CANTO, ESME, SNDS])
    result = cluster(source, SOURCES, edges((0, 3, 6, 0), (2, 3, 15, 1), (1, 2, 30, 2)), PAIRS)
    assert result.labels[1] == result.labels[2] == result.labels[3] != result.labels[0]
    assert [(c.u, c.v) for c in result.conflicts] == [(0, 3)]


def test_a_contradicted_chain_is_cut_by_weight_and_listed_and_a_mild_one_kept():
    # canto a - snds s (8), esme e - snds s (25); the canto-esme pair did not link a and e
    source = np.array([CANTO, ESME, SNDS])
    links = edges((0, 2, 8, 0), (1, 2, 25, 1))
    scored = []

    def strongly_against(k, left, right):
        scored.append((k, left.tolist(), right.tolist()))
        return np.full(len(left), -20.0)

    cut = cluster(source, SOURCES, links, PAIRS, scorer=strongly_against)
    assert scored == [(2, [0], [1])]  # the pair that did not link them scores them
    assert cut.labels[1] == cut.labels[2] != cut.labels[0]
    [conflict] = cut.conflicts
    assert (conflict.kind, conflict.u, conflict.v, conflict.clash_pair, conflict.clash_weight) == \
        ("contradiction", 0, 2, 2, -20.0)
    kept = cluster(source, SOURCES, links, PAIRS, scorer=lambda k, l, r: np.full(len(l), -3.0))
    assert len(set(kept.labels)) == 1 and not kept.conflicts
    margin = cluster(source, SOURCES, links, PAIRS, scorer=lambda k, l, r: np.full(len(l), -3.0),
                     settings=ClusterSettings(contradiction_margin=10.0))
    assert len(set(margin.labels)) == 2  # a stricter margin refuses it too
    off = cluster(source, SOURCES, links, PAIRS, scorer=strongly_against,
                  settings=ClusterSettings(check_contradictions=False))
    assert len(set(off.labels)) == 1


def test_a_persons_two_snds_ids_share_one_patient():
    # canto a - snds s1, esme e - snds s2 (a second id), a - e: one person, two SNDS ids
    source = np.array([CANTO, ESME, SNDS, SNDS])
    result = cluster(source, SOURCES, edges((0, 2, 20, 0), (1, 3, 18, 1), (0, 1, 30, 2)), PAIRS,
                     scorer=lambda k, l, r: np.full(len(l), 4.0))
    assert len(set(result.labels)) == 1 and not result.conflicts


def test_random_graphs_never_give_a_cohort_two_records_in_one_patient_whatever_the_edge_order():
    rng = np.random.default_rng(5)
    source = np.repeat([CANTO, ESME, SNDS], [40, 40, 60])
    for _ in range(20):
        links = []
        for k, (a, b) in enumerate(PAIRS):
            left, right = np.flatnonzero(source == a), np.flatnonzero(source == b)
            for x, y in zip(rng.choice(left, 30), rng.choice(right, 30)):
                links.append((int(x), int(y), float(rng.normal(10, 5)), k))
        result = cluster(source, SOURCES, edges(*links), PAIRS, scorer=lambda k, l, r: rng.normal(0, 10, len(l)))
        for s in (CANTO, ESME):
            labels = result.labels[source == s]
            assert len(np.unique(labels)) == len(labels)
        shuffled = [links[i] for i in rng.permutation(len(links))]
        again = cluster(source, SOURCES, edges(*shuffled), PAIRS, scorer=lambda k, l, r: np.zeros(len(l)))
        base = cluster(source, SOURCES, edges(*links), PAIRS, scorer=lambda k, l, r: np.zeros(len(l)))
        assert np.array_equal(again.labels, base.labels)


# --- the plan -------------------------------------------------------------------------------------

PLAN = """format_version = 1
[sources.canto]
duplicate_free = true
[sources.snds]
duplicate_free = false
[[pairs]]
left = "canto"
right = "snds"
spec = "s.toml"
left_file = "a.parquet"
right_file = "b.parquet"
"""


@pytest.mark.parametrize("change, message", [
    (("right = \"snds\"", "right = \"sndss\""), "'sndss' is not a source"),
    (("duplicate_free = true", "duplicate_free = 1"), "duplicate_free = true"),
    (("format_version = 1", "format_version = 2"), "format_version must be 1"),
    (("right = \"snds\"", "right = \"canto\""), "two different sources"),
    (("spec = \"s.toml\"", "spec = \"s.toml\"\nthreshold = 1.5"), "threshold is a match probability"),
    (("[[pairs]]", "[[pairz]]"), "unknown key 'pairz'"),
    (("[sources.snds]", "[sources.esme]\nduplicate_free = true\n[sources.snds]"), "'esme' is in no pair"),
])
def test_a_malformed_plan_is_one_line_naming_the_fix(change, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(PLAN.replace(*change), "plan.toml")
    with pytest.raises(PlanError, match="listed twice"):
        parse_plan(PLAN + PLAN[PLAN.index("[[pairs]]"):].replace('left = "canto"\nright = "snds"',
                                                                   'left = "snds"\nright = "canto"'))


# --- three cohorts and SNDS, end to end -------------------------------------------------------------

def _plan(folder, population, key):
    for name, text in example_plan(["canto", "esme", "odh"]).items():  # fewer random pairs for u: a fast test
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(text.replace("u_sample_pairs = 5000000", "u_sample_pairs = 200000"))
    plan = load_plan(folder / "plan.toml")
    return plan, encode_simulated(plan, population, key)


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """The 2026 extraction of a small warehouse (2025-2026), every pair linked and clustered."""
    root = tmp_path_factory.mktemp("multisource")
    warehouse = make_warehouse(parse_cohorts("canto:100,esme:420,odh:200"), 5_000, seed=8, years=(2025, 2026))
    warehouse.write(root / "wh")
    (root / "pop").symlink_to(root / "wh" / "2026")
    plan, crosswalks = _plan(root / "plan", root / "pop", KEY)
    result = link_all(plan, root / "run")
    return root, plan, crosswalks, result


def test_one_patient_per_person_across_three_cohorts_and_snds(linked):
    root, plan, crosswalks, result = linked
    clusters = result.clusters.to_pandas()
    per_patient = clusters[clusters.source != "snds"].groupby(["harmonie_id", "source"]).size()
    assert per_patient.max() == 1  # at most one record of each cohort in a patient
    assert clusters.harmonie_id.str.fullmatch(r"HP[0-9a-f]{20}").all()
    pairs = [(r.pair.name, r.pair.left, r.pair.right, r.links.to_pandas()) for r in result.runs]
    report = evaluate_clusters(result.clusters, pq.read_table(root / "pop" / "record_truth.parquet"), crosswalks,
                               {s.name: s.duplicate_free for s in plan.sources}, pair_links=pairs,
                               conflicts=result.conflicts)
    cohort_pairs = report["clusters"]["pairwise_with_a_cohort_record"]
    assert cohort_pairs["precision"] >= 0.99 and cohort_pairs["recall"] >= 0.97
    assert report["clusters"]["exact"]["recall"] >= 0.95 and report["clusters"]["exact"]["precision"] >= 0.95
    assert {q["pair"] for q in report["pairs"]} == {"canto-snds", "esme-snds", "odh-snds", "canto-esme",
                                                    "canto-odh", "esme-odh"}
    assert min(q["f1"] for q in report["pairs"]) >= 0.9
    assert report["patients"]["patients_in_two_programmes_or_more"] > 0
    assert report["patients"]["of_which_one_cluster"] >= 0.95
    # a transitive cluster finds more than each pair: patients whose cohort records all meet their SNDS id
    assert report["patients"]["with_their_snds_id"] >= max(q["recall"] for q in report["pairs"][:3]) - 0.01


def test_holders_extract_from_the_clusters_and_the_analytic_dataset_has_one_row_per_patient(linked, tmp_path):
    """#19 item 4 from the command line: each holder extracts its records that share a patient, the data team
    builds one analytic row per Harmonie id holding a cohort record and an SNDS id."""
    root, plan, _, result = linked
    clusters = root / "run" / "clusters.parquet"
    extracts = {}
    for source in ("canto", "esme", "odh", "snds"):
        holder = tmp_path / f"holder_{source}"
        holder.mkdir()
        tables = {t: t for t in ("snds_beneficiaries", "snds_stays", "snds_dispensings")} if source == "snds" else \
            {"cohort_patients": f"{source}_patients"}
        for name, table in tables.items():  # each holder's own folder, under the names `synth extract` reads
            (holder / f"{name}.parquet").symlink_to(root / "pop" / f"{table}.parquet")
        crosswalk = next((root / "plan" / "crosswalks").glob(f"*.{source}.parquet"))
        extracts[source] = tmp_path / f"extract_{source}"
        done = run("synth", "extract", "--role", "snds" if source == "snds" else "cohort", "--data", str(holder),
                   "--crosswalk", str(crosswalk), "--clusters", str(clusters), "--source", source,
                   "--out", str(extracts[source]))
        assert done.exit_code == 0, done.output
    frame = result.clusters.to_pandas()
    with_snds = set(frame.loc[frame.source == "snds", "harmonie_id"])
    patients = frame[(frame.source != "snds") & frame.harmonie_id.isin(with_snds)].harmonie_id.nunique()
    made = run("synth", "analytic", "--clusters", str(clusters), "--snds", str(extracts["snds"]),
               *[x for s in ("canto", "esme", "odh") for x in ("--cohort", f"{s}={extracts[s]}")],
               "--out", str(tmp_path / "analytic"), "--control-fraction", "0.2")
    assert made.exit_code == 0, made.output
    summary = json.loads((tmp_path / "analytic" / "analytic.json").read_text())
    assert summary["programmes"]["patients"] == patients
    assert summary["programmes"]["in_two_programmes_or_more"] > 0
    assert summary["patients"]["kept"] + summary["patients"]["quarantined"] == patients
    kept = pd.concat([pd.read_parquet(tmp_path / "analytic" / part / "patients.parquet") for part in ("train", "control")])
    assert len(kept) == summary["patients"]["kept"] and kept.patient_id.is_unique
    wrong = run("synth", "analytic", "--clusters", str(clusters), "--snds", str(extracts["snds"]), "--cohort",
                str(extracts["canto"]), "--out", str(tmp_path / "a2"))
    assert wrong.exit_code == 2 and "NAME=EXTRACT" in wrong.output


def test_the_linkage_unit_saw_encoded_files_only_and_wrote_every_output(linked):
    root, plan, _, result = linked
    run_dir = root / "run"
    assert {p.name for p in (run_dir / "pairs").iterdir()} == {p.name for p in plan.pairs}
    for pair in plan.pairs:
        assert (run_dir / "pairs" / pair.name / "links.parquet").is_file()
    summary = json.loads((run_dir / "cluster_summary.json").read_text())
    assert summary["clustering"]["records"] == len(result.clusters)
    patients = pd.read_parquet(root / "pop" / "canto_patients.parquet")
    written = b"".join(p.read_bytes() for p in run_dir.rglob("*.parquet"))
    for value in patients.birth_name.dropna().head(20):  # no plaintext identifier in what the unit writes
        assert value.encode() not in written
    assert not any(v in written for v in patients.cohort_id.head(20).str.encode("ascii"))


def test_link_all_is_deterministic_and_the_commands_give_the_same_clusters(linked, tmp_path):
    root, plan, _, result = linked
    out = tmp_path / "run"
    done = run("link-all", "--plan", str(root / "plan" / "plan.toml"), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "patients" in done.output and "links refused for review" in done.output
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    for name in ("clusters.parquet", "conflicts.parquet", "pairs/esme-odh/links.parquet"):
        assert digest(out / name) == digest(root / "run" / name), name
    crosswalks = root / "plan" / "crosswalks"
    args = ["--run", str(out), "--truth", str(root / "pop" / "record_truth.parquet")]
    for source, pair in (("canto", "canto-snds"), ("esme", "esme-snds"), ("odh", "odh-snds"), ("snds", "canto-snds")):
        args += ["--crosswalk", f"{source}={crosswalks / f'{pair}.{source}.parquet'}"]
    evaluated = run("evaluate-clusters", *args)
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((out / "cluster_evaluation.json").read_text())
    assert report["clusters"]["exact"]["recall"] >= 0.95 and len(report["pairs"]) == 6
    missing = run("evaluate-clusters", *args[:4], "--crosswalk", f"canto={crosswalks / 'canto-snds.canto.parquet'}",
                  "--overwrite")  # (without it, the earlier evaluation is refused first)
    assert missing.exit_code != 0 and "no crosswalk for source" in missing.output
    again = run("cluster", "--plan", str(root / "plan" / "plan.toml"), "--run", str(out), "--out",
                str(tmp_path / "again"), "--no-contradictions")
    assert again.exit_code == 0, again.output
    assert len(pd.read_parquet(tmp_path / "again" / "clusters.parquet")) == len(result.clusters)
    plain = run("cluster", "--plan", str(root / "plan" / "plan.toml"), "--run", str(out), "--out",
                str(tmp_path / "plain"), "--components-only")
    assert plain.exit_code == 0, plain.output
    summary = json.loads((tmp_path / "plain" / "cluster_summary.json").read_text())["clustering"]
    assert summary["settings"]["components_only"] and summary["clusters"] == summary["components"]
    assert summary["clusters"] <= result.summary["clustering"]["clusters"]  # constraints only ever split


def test_a_plan_whose_files_do_not_fit_it_is_refused_before_linking(linked, tmp_path):
    root, plan, _, _ = linked
    text = (root / "plan" / "plan.toml").read_text()
    swapped = text.replace('left_file = "encoded/canto-snds.canto.parquet"\nright_file = '
                           '"encoded/canto-snds.snds.parquet"',
                           'left_file = "encoded/canto-snds.snds.parquet"\nright_file = '
                           '"encoded/canto-snds.canto.parquet"')
    assert swapped != text
    (root / "plan" / "swapped.toml").write_text(swapped)
    with pytest.raises(HarmonieError, match="was encoded by holder 'snds'"):
        check_plan(load_plan(root / "plan" / "swapped.toml"))
    other_spec = text.replace('spec = "canto_esme.toml"', 'spec = "canto_odh.toml"', 1)
    (root / "plan" / "other.toml").write_text(other_spec)
    result = run("link-all", "--plan", str(root / "plan" / "other.toml"), "--out", str(tmp_path / "x"))
    assert result.exit_code != 0 and "has holders canto, odh, not canto and esme" in result.output
    assert not (tmp_path / "x" / "clusters.parquet").exists()


# --- the yearly refresh (#19 item 3) ----------------------------------------------------------------

@pytest.fixture(scope="module")
def refreshed(linked):
    """2025 linked from scratch, then 2026 refreshed from it (only what changed is scored)."""
    root, plan, _, _ = linked
    plan_2025, crosswalks_2025 = _plan(root / "plan2025", root / "wh" / "2025", KEY)
    link_all(plan_2025, root / "run2025")
    result = link_all(plan, root / "run2026", previous=PreviousRun.load(root / "run2025", plan))
    return root, plan, crosswalks_2025, result


def _persons(root, year):
    truth = pd.read_parquet(root / "wh" / str(year) / "record_truth.parquet")
    return truth


def _ids_by_person(clusters, crosswalks, truth):
    """person -> the set of Harmonie ids of their records."""
    walk = pd.concat([cw.assign(source=s) for s, tables in crosswalks.items() for cw in tables]).drop_duplicates()
    mapped = truth.merge(walk, on=["source", "local_id"]).merge(clusters, on=["source", "linkage_id"])
    return mapped.groupby("person").harmonie_id.agg(frozenset)


def test_a_refresh_scores_only_what_changed_and_finds_the_links_of_a_relink_with_last_years_model(linked,
                                                                                                   refreshed):
    from linkage.link import link
    from linkage.model import load_model
    from linkage.spec import load_spec

    root, plan, _, result = refreshed
    for run in result.runs:
        assert run.refreshed
        r = run.summary["refresh"]
        assert r["left_changed"] < len(pq.read_table(run.pair.left_file)) or run.pair.left == "esme"
        assert r["pairs_kept_from_last_year"] > 0
    pair = plan.pairs[1]  # esme-snds: the relink with 2025's model, no EM
    relinked = link(load_spec(pair.spec), pair.left_file, pair.right_file,
                    model=load_model(root / "run2025" / "pairs" / pair.name / "model.json"))
    mine = set(zip(result.runs[1].links["left_id"].to_pylist(), result.runs[1].links["right_id"].to_pylist()))
    theirs = set(zip(relinked.links["left_id"].to_pylist(), relinked.links["right_id"].to_pylist()))
    assert len(mine ^ theirs) <= 0.005 * len(theirs)


def test_patients_whose_records_did_not_change_keep_their_id_and_every_change_is_logged(linked, refreshed):
    root, plan, crosswalks_2025, result = refreshed
    _, _, crosswalks_2026, _ = linked
    before = _ids_by_person(pd.read_parquet(root / "run2025" / "clusters.parquet"), crosswalks_2025,
                            _persons(root, 2025))
    after = _ids_by_person(result.clusters.to_pandas(), crosswalks_2026, _persons(root, 2026))
    flags = pd.read_parquet(root / "wh" / "2026" / "changes.parquet")
    changed = flags[flags[["new", "events_added", "death_added", "moved", "identity_corrected"]].any(axis=1)]
    truth = _persons(root, 2026)
    touched = set(truth.merge(changed, on=["source", "local_id"]).person)
    steady = [p for p in before.index if p not in touched and p in after.index]
    kept = sum(before[p] == after[p] for p in steady)
    assert len(steady) > 1000 and kept / len(steady) >= 0.999
    log = result.changes.to_pandas()
    clusters = result.clusters.to_pandas()
    previous = pd.read_parquet(root / "run2025" / "clusters.parquet")
    joined = clusters.merge(previous, on=["source", "linkage_id"], how="left", suffixes=("", "_before"))
    moved = joined[joined.harmonie_id_before.notna() & (joined.harmonie_id != joined.harmonie_id_before)]
    logged = log[log.kind == "record_moved"]
    assert set(zip(moved.source, moved.linkage_id)) == set(zip(logged.source, logged.linkage_id))
    added = joined[joined.harmonie_id_before.isna()]
    assert set(zip(added.source, added.linkage_id)) == set(zip(*(log[log.kind == "record_added"][c]
                                                                 for c in ("source", "linkage_id"))))
    assert (log.kind == "new_patient").sum() > 0 and (log.kind == "link_added").sum() > 0
    new_links = log[log.kind == "link_added"]
    assert new_links.match_weight.notna().all() and new_links.previous_match_weight.isna().all()


def test_a_key_rotation_keeps_the_harmonie_ids(linked, refreshed, tmp_path):
    root, plan, _, result = refreshed
    rotated, crosswalks = _plan(tmp_path / "rotated", root / "pop", LinkageKey(bytes(range(1, 33))))
    args = []
    for source in ("canto", "esme", "odh", "snds"):
        pair = f"{source}-snds" if source != "snds" else "canto-snds"
        done = run("rekey-map", "--old-crosswalk", str(root / "plan2025" / "crosswalks" / f"{pair}.{source}.parquet"),
                   "--new-crosswalk", str(tmp_path / "rotated" / "crosswalks" / f"{pair}.{source}.parquet"),
                   "--out", str(tmp_path / f"{source}.map.parquet"))
        assert done.exit_code == 0, done.output
        args += ["--rekey", f"{source}={tmp_path / f'{source}.map.parquet'}"]
    done = run("link-all", "--plan", str(tmp_path / "rotated" / "plan.toml"), "--out", str(tmp_path / "run"),
               "--previous", str(root / "run2025"), *args)
    assert done.exit_code == 0, done.output
    assert "changes since" in done.output
    rekeyed = _ids_by_person(pd.read_parquet(tmp_path / "run" / "clusters.parquet"), crosswalks, _persons(root, 2026))
    plain = _ids_by_person(result.clusters.to_pandas(), linked[2], _persons(root, 2026))
    known = set(_persons(root, 2025).person)  # patients of last year (a new patient's new id depends on the key)
    same = [rekeyed.get(p) == plain[p] for p in plain.index if p in known]
    assert len(same) > 1000 and sum(same) / len(same) >= 0.999  # the ids the refresh gives under the old key
