"""The linkage unit: kernels, blocking, EM, one-to-one, evaluation, and whole runs."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from linkage.blocking import PassReport, block, join_on_keys
from linkage.compare import Comparison
from linkage.decide import choose_threshold, one_to_one
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding import encode_holder, write_encoded
from linkage.encoding.encoded_file import read_encoded
from linkage.evaluate import pairs_completeness, precision_recall_curve, quality, truth_pairs
from linkage.kernels import dice_pairs, popcounts, shared_tokens, token_in_list
from linkage.link import link, write_link_outputs
from linkage.model import FellegiSunter
from linkage.spec import example_spec, example_spec_text
from privacy.bloom import BloomEncoder, BloomSettings, dice
from privacy.keys import LinkageKey

KEY = LinkageKey(bytes(range(32)))


def test_dice_kernel_matches_the_reference():
    filters, _ = BloomEncoder(KEY.subkey("p", "f", "bloom"), BloomSettings()).encode(
        ["MARTIN", "MARTINS", "DUPONT", None])
    words = filters.view(np.uint64)
    ones = popcounts(words)
    li, ri = np.array([0, 0, 1, 3], dtype=np.int32), np.array([1, 2, 2, 0], dtype=np.int32)
    got = dice_pairs(words, words, ones, ones, li, ri)
    assert got[:3] == pytest.approx([dice(filters[a], filters[b]) for a, b in zip(li[:3], ri[:3])], abs=1e-6)
    assert got[3] == -1  # an absent filter is missing, not dissimilar


def test_token_list_kernels():
    left_offsets, left_values = np.array([0, 3, 3]), np.array([5, 7, 5])  # row 0: 5, 7, 5 (duplicate)
    right_offsets, right_values = np.array([0, 2, 4]), np.array([5, 9, 7, 5])
    li, ri = np.array([0, 0, 1]), np.array([0, 1, 0])
    assert shared_tokens(left_offsets, left_values, right_offsets, right_values, li, ri).tolist() == [1, 2, 0]
    assert token_in_list(right_offsets, right_values, np.array([0, 1, 1]), np.array([9, 9, 0])).tolist() == \
        [True, False, False]


def test_blocks_too_large_are_skipped_and_reported():
    report = PassReport("test")
    left_key = np.array([1, 1, 2], dtype=np.uint64)
    right_key = np.array([1, 2, 2, 2, 3], dtype=np.uint64)
    li, ri = join_on_keys(left_key, np.arange(3, dtype=np.int32), right_key, np.arange(5, dtype=np.int32), report, 2)
    assert sorted(zip(li.tolist(), ri.tolist())) == [(0, 0), (1, 0)]
    assert (report.pairs, report.skipped_blocks, report.skipped_pairs) == (2, 1, 3)


def test_em_recovers_a_known_model():
    rng = np.random.default_rng(0)
    comparisons = [Comparison("a", "token", ("agree", "disagree")), Comparison("b", "dice", ("hi", "mid", "lo")),
                   Comparison("c", "token", ("agree", "disagree"))]
    m = [np.array([0.95, 0.05]), np.array([0.8, 0.15, 0.05]), np.array([0.9, 0.1])]
    u = [np.array([0.05, 0.95]), np.array([0.02, 0.08, 0.9]), np.array([0.3, 0.7])]

    def draw(n, tables):
        return np.stack([rng.choice(len(t), size=n, p=t) for t in tables], axis=1).astype(np.int8)

    matches, non_matches = draw(2_000, m), draw(18_000, u)
    levels = np.concatenate([matches, non_matches])
    levels[rng.random(levels.shape) < 0.05] = -1  # missing values are neutral
    model = FellegiSunter(comparisons).fit_u(draw(100_000, u))
    model.fit(levels, total_pairs=len(levels))  # every pair is a candidate here
    assert model.converged_
    for fitted, true in zip(model.m_, m):
        assert fitted == pytest.approx(true, abs=0.03)
    assert model.expected_matches_ == pytest.approx(2_000, rel=0.05)
    assert model.lambda_ == pytest.approx(0.1, rel=0.05)
    # a session that leaves a comparison out still estimates the others
    sessions = [("a forced to agree", levels[:, 0] == 0, {0}), ("all", np.ones(len(levels), dtype=bool), set())]
    other = FellegiSunter(comparisons).fit_u(draw(100_000, u)).fit(levels, total_pairs=len(levels), sessions=sessions)
    assert other.m_[1] == pytest.approx(m[1], abs=0.03)
    assert [s["session"] for s in other.sessions_][:2] == ["a forced to agree", "all"]
    restored = FellegiSunter.from_dict(model.to_dict())
    assert restored.match_weight(levels[:50]) == pytest.approx(model.match_weight(levels[:50]))


def test_one_to_one_keeps_the_best_pair_per_record():
    left = np.array([0, 0, 1, 1, 2], dtype=np.int32)
    right = np.array([0, 1, 0, 2, 2], dtype=np.int32)
    weight = np.array([5.0, 4.0, 6.0, 1.0, 3.0])
    kept = one_to_one(left, right, weight, 3, 3)
    assert kept.tolist() == [False, True, True, False, True]
    assert choose_threshold(np.array([0.99, 0.98, 0.6, 0.2])).probability >= 0.5


def test_evaluation_metrics_on_a_hand_made_case():
    truth = pd.DataFrame({"cohort_id": ["a", "b", "c", "d"], "snds_id": ["A", "B", "C", "D"]})
    left_cw = pd.DataFrame({"local_id": ["a", "b", "c", "d"], "linkage_id": ["la", "lb", "lc", "ld"]})
    right_cw = pd.DataFrame({"local_id": ["A", "B", "C", "X"], "linkage_id": ["lA", "lB", "lC", "lX"]})
    duplicates = pd.DataFrame({"snds_id": ["X"], "same_person_as": ["B"]})
    pairs = truth_pairs(truth, left_cw, right_cw, duplicates)
    assert len(pairs) == 4 and pairs.unmapped == 1  # D was not encoded
    links = pd.DataFrame({"left_id": ["la", "lb", "lc"], "right_id": ["lA", "lX", "lA"],
                          "match_probability": [0.99, 0.9, 0.6]})
    q = quality(links, pairs)
    assert (q["true_positives"], q["false_positives"], q["false_negatives"]) == (2, 1, 2)
    assert q["precision"] == pytest.approx(2 / 3) and q["recall"] == pytest.approx(0.5)
    curve = precision_recall_curve(links, pairs)
    assert curve.precision.tolist() == pytest.approx([1.0, 1.0, 2 / 3])
    assert pairs_completeness(np.array([0, 2]), np.array([0, 2]), ["la", "lb", "lc"], ["lA", "lB", "lC"],
                              pairs) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, population):
    """The small population encoded by both holders under each example spec."""
    out = tmp_path_factory.mktemp("encoded")
    paths = {}
    for name in ("names", "indirect"):
        for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                                   ("snds", "snds_beneficiaries", "snds_stays")):
            result = encode_holder(example_spec(name), KEY, role, population.tables[table], population.tables[stays])
            write_encoded(result.encoded, result.metadata, out / f"{name}_{role}.parquet")
            paths[(name, role)] = (out / f"{name}_{role}.parquet", result.crosswalk.to_pandas())
    return paths


@pytest.mark.parametrize("name", ["names", "indirect"])
def test_blocking_reports_each_join_so_its_first_pass_has_an_eta(encoded, name, capsys):
    from harmonie import progress
    from linkage.blocking import blocking_steps

    spec = example_spec(name)
    left, right = (EncodedRecords.from_table(read_encoded(encoded[(name, role)][0]).table) for role in ("cohort", "snds"))
    steps = []
    candidates = block(spec.blocking, left, right, seed=spec.model.seed, on_step=lambda: steps.append(len(steps)))
    # each join, each pass's deduplication and the final merge: more steps than passes, as many as announced
    assert len(steps) == blocking_steps(spec.blocking, left, right) > len(spec.blocking) + 1
    if name != "indirect":
        return
    # the indirect spec's first pass (shared stays: five joins and a deduplication, ~55 s at 193k x 3M)
    progress.set_enabled(True)
    try:
        link(spec, encoded[(name, "cohort")][0], encoded[(name, "snds")][0])
    finally:
        progress.set_enabled(False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"blocking, {len(spec.blocking)} passes:")]
    first_pass_joins = blocking_steps(spec.blocking[:1], left, right) - 2
    done = int(lines[0].split(": ")[1].split("/")[0])
    assert 1 <= done <= first_pass_joins, lines  # a line with an ETA before the first pass is over
    assert f"/{len(steps)} steps" in lines[0] and "ETA" in lines[0] and "ETA unknown" not in lines[0], lines
    assert len(candidates) > 0


@pytest.mark.parametrize("name, minimum_f1", [("names", 0.98), ("indirect", 0.97)])
def test_linkage_finds_nearly_all_true_pairs_one_to_one(encoded, population, tmp_path, name, minimum_f1):
    result = link(example_spec(name), encoded[(name, "cohort")][0], encoded[(name, "snds")][0])
    links = result.links.to_pandas()
    assert links.left_id.is_unique and links.right_id.is_unique
    pairs = truth_pairs(population["truth"], encoded[(name, "cohort")][1], encoded[(name, "snds")][1],
                        population["snds_duplicates"])
    q = quality(links, pairs)
    assert q["f1"] >= minimum_f1 and q["precision"] >= 0.98, q
    assert abs(result.summary["estimated"]["precision"] - q["precision"]) < 0.03
    paths = write_link_outputs(result, tmp_path)
    for key in ("links", "grey_zone", "model", "summary", "weight_histogram", "m_u", "waterfall"):
        assert paths[key].exists()
    model = FellegiSunter.load(paths["model"])
    assert [c.name for c in model.comparisons] == [c.field for c in example_spec(name).comparisons]
    assert all(level["label"] and level["m"] > 0 and level["u"] > 0 for c in model.to_dict()["comparisons"]
               for level in c["levels"])


def test_link_refuses_mismatched_files_and_handles_empty_ones(encoded, tmp_path):
    runner, cli = CliRunner(), app()
    spec_path = tmp_path / "names.toml"
    spec_path.write_text(example_spec_text("names"))
    other = encode_holder(example_spec("names"), LinkageKey(bytes(32)), "snds",
                          pa.table({c: pa.array(["2"], pa.string()) for c in
                                    ("snds_id", "sex", "birth_date", "birth_name", "use_name", "first_names",
                                     "commune_code")}))
    write_encoded(other.encoded, other.metadata, tmp_path / "other_key.parquet")

    def run(left, right, spec=spec_path):
        return runner.invoke(cli, ["--quiet", "link", "--spec", str(spec), "--left", str(left), "--right", str(right),
                                   "--out", str(tmp_path / "out"), "--no-charts"])

    result = run(encoded[("names", "cohort")][0], tmp_path / "other_key.parquet")
    assert result.exit_code == 2 and "different keys" in result.output and result.output.count("\n") == 1
    result = run(encoded[("names", "cohort")][0], encoded[("indirect", "snds")][0])
    assert result.exit_code == 2 and "different specs" in result.output
    indirect_spec = tmp_path / "indirect.toml"
    indirect_spec.write_text(example_spec_text("indirect"))
    result = run(encoded[("names", "cohort")][0], encoded[("names", "snds")][0], spec=indirect_spec)
    assert result.exit_code == 2 and "another spec" in result.output

    empty = encode_holder(example_spec("names"), KEY, "snds", pa.table(
        {c: pa.array([], pa.string()) for c in ("snds_id", "sex", "birth_date", "birth_name", "use_name",
                                                 "first_names", "commune_code")}))
    write_encoded(empty.encoded, empty.metadata, tmp_path / "empty.parquet")
    result = run(encoded[("names", "cohort")][0], tmp_path / "empty.parquet")
    assert result.exit_code == 0, result.output
    assert "no candidate pairs" in result.output
    links = pd.read_parquet(tmp_path / "out" / "links.parquet")
    assert len(links) == 0 and {"left_id", "right_id", "match_probability"} <= set(links.columns)


def test_link_and_evaluate_from_the_command_line(encoded, population, tmp_path):
    runner, cli = CliRunner(), app()
    (tmp_path / "spec.toml").write_text(example_spec_text("indirect"))
    result = runner.invoke(cli, ["--quiet", "link", "--spec", str(tmp_path / "spec.toml"),
                                 "--left", str(encoded[("indirect", "cohort")][0]),
                                 "--right", str(encoded[("indirect", "snds")][0]), "--out", str(tmp_path / "run"),
                                 "--keep-candidates"])
    assert result.exit_code == 0, result.output
    assert "links at match probability" in result.output
    population.write(tmp_path / "pop")
    for role in ("cohort", "snds"):
        encoded[("indirect", role)][1].to_parquet(tmp_path / f"{role}_cw.parquet")
    result = runner.invoke(cli, ["--quiet", "evaluate", "--links", str(tmp_path / "run" / "links.parquet"),
                                 "--truth", str(tmp_path / "pop" / "truth.parquet"),
                                 "--left-crosswalk", str(tmp_path / "cohort_cw.parquet"),
                                 "--right-crosswalk", str(tmp_path / "snds_cw.parquet"),
                                 "--duplicates", str(tmp_path / "pop" / "snds_duplicates.parquet")])
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and (tmp_path / "run" / "precision_recall.png").exists()
    import json

    report = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert report["f1"] > 0.97 and 0.99 < report["reduction_ratio"] < 1
    assert report["recall"] <= report["pairs_completeness"] <= 1 and "pairs completeness" in result.output


def test_agreeing_on_a_rare_value_weighs_more_than_on_a_common_one():
    from linkage.encoded_arrays import EncodedRecords
    from linkage.scoring import term_frequencies, term_frequency_adjustment

    comparison = Comparison("commune", "token", ("agree", "disagree"), ("commune",), term_frequency=True,
                            fields=("commune",))
    model = FellegiSunter([comparison])
    model.u_ = [np.array([0.01, 0.99])]
    right = EncodedRecords(ids=pa.array([str(i) for i in range(100)]),
                           tokens={"commune": np.array([7] * 90 + list(range(100, 110)), dtype=np.int64)})
    left = EncodedRecords(ids=pa.array(["a", "b"]), tokens={"commune": np.array([7, 105], dtype=np.int64)})
    adjustment = term_frequency_adjustment(model, term_frequencies(model, right), left, right, len(right),
                                           np.array([0, 1]), np.array([0, 95]), np.array([[0], [0]], dtype=np.int8))
    assert adjustment[0] == pytest.approx(np.log2(0.01 / 0.9))  # 'Paris': agreeing says little
    assert adjustment[1] == pytest.approx(np.log2(0.01 / 0.01))
    assert adjustment[1] > adjustment[0]


def test_agreeing_on_a_rare_name_weighs_more_than_on_a_common_one_through_bloom_filters():
    """Identical filters are identical names, so the linkage unit can count them: agreeing on a name one
    record in 100 carries says more than agreeing on one carried by 60 of 100 (Splink's TF on the exact level)."""
    from linkage.encoded_arrays import EncodedRecords
    from linkage.scoring import term_frequencies, term_frequency_adjustment

    encoder = BloomEncoder(KEY.subkey("p", "names", "bloom"), BloomSettings())
    names = ["MARTIN"] * 60 + [f"NAME{i:02d}X" for i in range(39)] + ["ZYGMUNTOWICZ"]
    right_filters = encoder.encode(names)[0].view(np.uint64)
    left_filters = encoder.encode(["MARTIN", "ZYGMUNTOWICZ", "MARTINE"])[0].view(np.uint64)
    comparison = Comparison("birth_name", "dice", ("Dice >= 0.95", "Dice >= 0.8", "Dice < 0.8"), ("birth_name",),
                            (0.95, 0.8), term_frequency=True, fields=("birth_name",))
    model = FellegiSunter([comparison])
    model.u_ = [np.array([0.2, 0.1, 0.7])]
    right = EncodedRecords(ids=pa.array([str(i) for i in range(100)]),
                           filters={"birth_name": (right_filters, popcounts(right_filters))})
    left = EncodedRecords(ids=pa.array(["a", "b", "c"]), filters={"birth_name": (left_filters, popcounts(left_filters))})
    levels = np.array([[0], [0], [1]], dtype=np.int8)
    adjustment = term_frequency_adjustment(model, term_frequencies(model, right), left, right, len(right),
                                           np.array([0, 1, 2]), np.array([0, 99, 0]), levels)
    assert adjustment[0] == pytest.approx(np.log2(0.2 / 0.6))     # MARTIN: 60 of the 100 records
    assert adjustment[1] == pytest.approx(np.log2(0.2 / 0.01))    # held once: the floor 1/100
    assert adjustment[2] == 0                                      # only the top level is adjusted


def test_a_saved_model_scores_new_runs_identically(encoded, tmp_path):
    first = link(example_spec("indirect"), encoded[("indirect", "cohort")][0], encoded[("indirect", "snds")][0])
    write_link_outputs(first, tmp_path, charts=False)
    again = link(example_spec("indirect"), encoded[("indirect", "cohort")][0], encoded[("indirect", "snds")][0],
                 model=FellegiSunter.load(tmp_path / "model.json"))
    assert again.links.equals(first.links)
    runner, cli = CliRunner(), app()
    (tmp_path / "spec.toml").write_text(example_spec_text("names"))
    result = runner.invoke(cli, ["--quiet", "link", "--spec", str(tmp_path / "spec.toml"),
                                 "--left", str(encoded[("names", "cohort")][0]),
                                 "--right", str(encoded[("names", "snds")][0]), "--out", str(tmp_path / "o"),
                                 "--model", str(tmp_path / "model.json")])
    assert result.exit_code == 2 and "differ from this spec" in result.output


def test_a_stay_a_day_off_counts_once_when_both_sides_emit_tolerance_tokens():
    from linkage.compare import _event_levels
    from linkage.encoded_arrays import EncodedRecords, TokenLists

    def lists(*rows):
        offsets = np.cumsum([0] + [len(r) for r in rows])
        return TokenLists(np.array(offsets, dtype=np.int64), np.array([t for r in rows for t in r], dtype=np.int64))

    # record 0 stays on day 10 (token 10, near 9 and 11) on both sides; record 1 is a day off (11 vs 10)
    left = EncodedRecords(ids=pa.array(["a", "b"]), lists={"stays": lists([10], [11]), "stays__near": lists([9, 11], [10, 12])})
    right = EncodedRecords(ids=pa.array(["A"]), lists={"stays": lists([10]), "stays__near": lists([9, 11])})
    comparison = Comparison("stays", "events", ("3+ shared", "2 shared", "1 shared", "none shared"), ("stays",),
                            (3, 2, 1), fields=("stays",))
    levels = _event_levels(comparison, left, right, np.array([0, 1]), np.array([0, 0]))
    assert levels.tolist() == [2, 2]  # one shared stay each, not two for the one a day off


def test_lsh_within_keys_only_pairs_similar_records_sharing_the_key():
    from linkage.blocking import block
    from linkage.encoded_arrays import EncodedRecords
    from linkage.spec import LshPass

    filters, _ = BloomEncoder(KEY.subkey("p", "names", "bloom"), BloomSettings(hashes=90)).encode(
        ["MARIECLAIRE", "MARIECLAIRE", "MARIECLAIRE", "JEANPIERRE"])
    words = filters.view(np.uint64)
    left = EncodedRecords(ids=pa.array(["a"]), tokens={"year": np.array([1956])},
                          filters={"first": (words[:1], popcounts(words[:1]))})
    right = EncodedRecords(ids=pa.array(["A", "B", "C"]), tokens={"year": np.array([1956, 1957, 1956])},
                           filters={"first": (words[1:], popcounts(words[1:]))})
    candidates = block((LshPass(name="lsh", lsh="first", keys=("year",), bands=8, rows=8),), left, right)
    assert list(zip(candidates.left.tolist(), candidates.right.tolist())) == [(0, 0)]  # same name, same year only


def test_random_pairs_for_u_are_many_reproducible_and_reuse_few_right_records():
    from linkage.plan import U_SAMPLE_RIGHT_RECORDS, LinkPlan
    from linkage.spec import ModelSettings

    def random_pairs(settings, n_left, n_right):
        return LinkPlan(replace(example_spec("indirect"), model=settings)).random_pairs(n_left, n_right)

    left, right = random_pairs(ModelSettings(), 20_000, 3_000_000)
    assert len(left) == len(right) == ModelSettings().u_sample_pairs == 5_000_000
    assert left.min() >= 0 and left.max() < 20_000 and right.min() >= 0 and right.max() < 3_000_000
    assert len(np.unique(right)) <= U_SAMPLE_RIGHT_RECORDS  # what the Spark driver fetches
    assert len(np.unique(left)) == 20_000  # every left record takes part
    again = random_pairs(ModelSettings(), 20_000, 3_000_000)
    assert np.array_equal(left, again[0]) and np.array_equal(right, again[1])
    small = random_pairs(ModelSettings(u_sample_pairs=1_000, seed=1), 50, 40)
    assert len(small[0]) == 1_000 and small[1].max() < 40
    # no more pairs than the sample: each pair once, whatever the seed
    every = random_pairs(ModelSettings(u_sample_pairs=1_000, seed=1), 25, 40)
    assert len(every[0]) == 1_000 and len(set(zip(every[0].tolist(), every[1].tolist()))) == 1_000
    other_seed = random_pairs(ModelSettings(u_sample_pairs=1_000, seed=2), 25, 40)
    assert np.array_equal(every[0], other_seed[0]) and np.array_equal(every[1], other_seed[1])


def test_a_nir_that_agrees_while_birth_month_or_sex_disagree_is_a_level_of_its_own():
    from linkage.compare import _token_levels
    from linkage.encoded_arrays import EncodedRecords

    comparison = Comparison("nir", "token", ("agree", "agree, but birth_date__ym or sex differ", "disagree"), ("nir",),
                            fields=("nir", "birth_date", "sex"), contradicted_by=("birth_date__ym", "sex"))
    left = EncodedRecords(ids=pa.array(list("abcd")), tokens={
        "nir": np.array([5, 5, 5, 0]), "birth_date__ym": np.array([1, 2, 0, 1]), "sex": np.array([1, 1, 1, 1])})
    right = EncodedRecords(ids=pa.array(["A", "B"]), tokens={
        "nir": np.array([5, 6]), "birth_date__ym": np.array([1, 1]), "sex": np.array([1, 2])})
    levels = _token_levels(comparison, left, right, np.array([0, 1, 2, 3, 0]), np.array([0, 0, 0, 0, 1]))
    # same NIR, same month: agree; same NIR, another month: contradicted; month missing: not contradicted;
    # NIR missing: missing; another NIR: disagree
    assert levels.tolist() == [0, 1, 0, -1, 2]


def test_contradicted_by_is_validated():
    from linkage.spec import SpecError, parse_spec

    text = example_spec_text("direct")
    with pytest.raises(SpecError, match="contradicted_by lists token columns"):
        parse_spec(text.replace('contradicted_by = ["birth_date__ym", "sex"]', 'contradicted_by = ["nope"]'))
    with pytest.raises(SpecError, match="applies to token comparisons"):
        parse_spec(text.replace('thresholds = [0.95, 0.85, 0.7]\nterm_frequency = true',
                                'thresholds = [0.95, 0.85, 0.7]\nterm_frequency = true\ncontradicted_by = ["sex"]', 1))


def test_record_posteriors_boost_a_lone_candidate_split_rivals_and_merge_one_persons_two_ids():
    from linkage.decide import record_posteriors

    # left 0: one candidate; left 1: two rivals of equal weight (different people); left 2: one person's
    # two SNDS ids (identical records); left 3: nothing plausible
    left_rows = np.array([0, 1, 1, 2, 2, 3])
    log2_lr = np.array([20.0, 20.0, 20.0, 20.0, 20.0, 0.0])
    signatures = np.array([1, 2, 3, 4, 4, 5], dtype=np.uint64)
    p, prior = record_posteriors(left_rows, log2_lr, n_left=4, n_right=100_000, right_signatures=signatures)
    assert prior.converged and 0.5 < prior.share < 1
    pair_level = 1 / (1 + 100_000 / 2 ** 20)  # the Fellegi-Sunter probability with one match in n_right pairs
    assert p[0] > 0.95 > pair_level            # the record surely has a match, and this is the only candidate
    assert p[1] == pytest.approx(p[2]) and p[1] < 0.5  # two different people: neither is more likely than not
    assert p[3] == pytest.approx(p[0])         # two ids of one person count once
    assert p[5] < 0.01


def test_the_record_match_share_is_learned_from_the_data():
    from linkage.decide import record_posteriors

    rng = np.random.default_rng(0)
    n_left, matched = 10_000, 7_000  # 70% of left records have a clear candidate, the rest a weak look-alike
    left_rows = np.arange(n_left)
    log2_lr = np.where(left_rows < matched, rng.normal(25, 2, n_left), rng.normal(-5, 2, n_left))
    _, prior = record_posteriors(left_rows, log2_lr, n_left, n_right=300_000)
    assert prior.share == pytest.approx(0.7, abs=0.01)


def test_the_link_summary_warns_when_em_does_not_converge(encoded, tmp_path):
    spec = example_spec("names")
    stubborn = replace(spec, model=replace(spec.model, em_max_iterations=2))
    result = link(stubborn, *(encoded[("names", role)][0] for role in ("cohort", "snds")))
    assert any("EM did not converge in 2 iterations" in w for w in result.summary["warnings"])
    assert any("recall estimate assumes" in w for w in result.summary["warnings"])
    calm = link(replace(spec, model=replace(spec.model, expected_match_share=0.97)),
                *(encoded[("names", role)][0] for role in ("cohort", "snds")))
    assert not any("EM did not converge" in w or "recall estimate assumes" in w for w in calm.summary["warnings"])


def test_a_session_observing_a_single_comparison_is_not_fitted():
    """One indicator cannot tell matches from non-matches: the session is recorded as skipped, and the
    comparison is estimated elsewhere (here by the session where both comparisons are observed)."""
    rng = np.random.default_rng(1)
    comparisons = [Comparison("a", "token", ("agree", "disagree")), Comparison("b", "token", ("agree", "disagree"))]
    model = FellegiSunter(comparisons).fit_u(rng.integers(0, 2, size=(10_000, 2)).astype(np.int8))
    levels = np.r_[np.zeros((300, 2)), rng.integers(0, 2, size=(3_000, 2))].astype(np.int8)
    only_a = levels.copy()
    only_a[:, 1] = -1  # b missing on every pair of the first session
    both = np.r_[only_a, levels]
    mask_first = np.r_[np.ones(len(levels), bool), np.zeros(len(levels), bool)]
    model.fit(both, total_pairs=10 ** 7, sessions=[("b never observed", mask_first, set()),
                                                    ("both observed", ~mask_first, set())])
    first, second = model.sessions_[0], model.sessions_[1]
    assert first["skipped"].startswith("fewer than two comparisons observed") and first["iterations"] == 0
    assert "skipped" not in second and second["expected_matches"] > 100
    assert model.m_[0][0] > 0.5  # agreement on 'a' is learned as a sign of a match
