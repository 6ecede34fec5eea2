"""Splink 5 on DuckDB, configured as its documentation recommends, on the plaintext fields.

    .venv-peers/bin/python benchmarks/peers/splink_runner.py --data DIR --out DIR [--variant full]

As in Splink's own FEBRL4 and link-only examples: equality blocking rules whose union
covers the true matches, out-of-the-box comparisons (NameComparison with Jaro-Winkler
levels and term-frequency adjustment, DateOfBirthComparison, ExactMatch, array
intersection sizes for care events), the prior from deterministic rules at an assumed
recall, u by random sampling (10 million pairs, as the docs recommend), m by EM sessions
on blocking rules that leave each comparison free at least once, then
``predict(threshold_match_probability=0.5)``. Splink does not make links one-to-one.

Training rules must exist in the data: a rule that pairs no records (the death-date rule
when the cohort records no death dates, as in the harsh preset) makes Splink raise
EMTrainingException. Each EM rule is therefore checked first (one DuckDB join, LIMIT 1);
one that pairs nobody is replaced by its fallback, a rule that leaves the same comparisons
free (indirect: equal first stay token instead of equal death date and sex), or dropped
if it has none; what was used and dropped is in timings.json.

``--variant full`` (FEBRL only) adds FEBRL's other columns (social security number, street
number, address, suburb), as Splink's FEBRL4 example does; the default uses the same
fields as Harmonie's names spec.
"""

from __future__ import annotations

import logging
import os

import duckdb
import pandas as pd

from common import Run

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

PREDICT_THRESHOLD = 0.5
# indirect: records whose first stay token (in sort order) is the same stay. It leaves sex,
# birth month and residence free, as the death-date rule does, and reads the stays column,
# so Splink does not train the stays comparison on it (the rule forces one shared stay)
FIRST_STAY_RULE = "list_min(l.stays) = list_min(r.stays)"


def surname_comparison() -> cl.CustomComparison:
    """Surname at birth, with married names: a birth name on one side may be a use name on the other."""
    jw = "jaro_winkler_similarity(birth_name_l, birth_name_r)"
    return cl.CustomComparison(
        output_column_name="surname",
        comparison_levels=[
            cll.CustomLevel("(birth_name_l IS NULL AND use_name_l IS NULL) OR "
                            "(birth_name_r IS NULL AND use_name_r IS NULL)").configure(is_null_level=True),
            cll.ExactMatchLevel("birth_name").configure(tf_adjustment_column="birth_name"),
            cll.CustomLevel("birth_name_l = use_name_r OR use_name_l = birth_name_r OR use_name_l = use_name_r",
                            label_for_charts="birth and use names cross-match"),
            cll.CustomLevel(f"{jw} >= 0.92", label_for_charts="Jaro-Winkler >= 0.92"),
            cll.CustomLevel(f"{jw} >= 0.88", label_for_charts="Jaro-Winkler >= 0.88"),
            cll.CustomLevel(f"{jw} >= 0.7", label_for_charts="Jaro-Winkler >= 0.7"),
            cll.ElseLevel(),
        ])


def residence_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="residence",
        comparison_levels=[
            cll.NullLevel("commune"),
            cll.ExactMatchLevel("commune").configure(tf_adjustment_column="commune"),
            cll.ExactMatchLevel("departement"),
            cll.ElseLevel(),
        ])


def birth_month_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="birth_ym",
        comparison_levels=[cll.NullLevel("birth_ym"), cll.ExactMatchLevel("birth_ym"),
                           cll.ExactMatchLevel("birth_year"), cll.ElseLevel()])


def _describe(rule) -> str:
    if isinstance(rule, str):
        return rule
    return rule.get_blocking_rule("duckdb").blocking_rule_sql


def configure(run: Run, n_left: int, n_right: int) -> dict:
    """(settings, deterministic rules, recall, EM rules) per scenario."""
    dob = cl.DateOfBirthComparison("birth_date", input_is_string=True, datetime_format="%Y-%m-%d")
    if run.scenario == "febrl":
        comparisons = [cl.NameComparison("first_name"), cl.NameComparison("birth_name"), dob,
                       cl.ExactMatch("commune").configure(term_frequency_adjustments=True)]
        blocking = [block_on("first_name", "birth_name"), "l.first_name = r.birth_name and l.birth_name = r.first_name",
                    block_on("birth_date"), block_on("commune")]
        deterministic = [block_on("first_name", "birth_name", "birth_date")]
        em_rules = [block_on("birth_date"), block_on("commune")]
        fallbacks = {}
        if run.args.variant == "full":
            comparisons += [cl.DamerauLevenshteinAtThresholds("raw_soc_sec_id", [1, 2]),
                            cl.ExactMatch("raw_street_number").configure(term_frequency_adjustments=True),
                            cl.JaroWinklerAtThresholds("raw_address_1", [0.9, 0.7]),
                            cl.JaroWinklerAtThresholds("raw_suburb", [0.9, 0.7])]
            blocking += [block_on("raw_soc_sec_id"), block_on("raw_state", "raw_address_1"),
                         block_on("raw_street_number", "raw_address_1")]
            deterministic = [block_on("raw_soc_sec_id"), *deterministic]
        recall = 0.8
    elif run.scenario in ("names", "direct"):
        comparisons = [surname_comparison(), cl.NameComparison("first_name"), dob, cl.ExactMatch("sex"),
                       residence_comparison()]
        blocking = [block_on("birth_date"), block_on("birth_name"), "l.use_name = r.birth_name",
                    "l.birth_name = r.use_name", block_on("use_name"), block_on("first_name", "birth_year"),
                    block_on("birth_ym", "sex", "departement")]
        deterministic = [block_on("first_name", "birth_name", "birth_date"),
                         block_on("first_name", "use_name", "birth_date")]
        em_rules = [block_on("birth_date"), block_on("first_name", "birth_name")]
        fallbacks = {}
        recall = 0.7
        if run.scenario == "direct":
            comparisons.insert(0, cl.DamerauLevenshteinAtThresholds("nir", [1]))
            blocking.insert(0, block_on("nir"))
            deterministic.insert(0, block_on("nir", "birth_date"))
    else:  # indirect: no names, no NIR; sex, birth month, residence, death date and hospital stays
        comparisons = [cl.ArrayIntersectAtSizes("stays", [8, 5, 3, 2, 1]), cl.ExactMatch("sex"),
                       birth_month_comparison(), residence_comparison(),
                       cl.AbsoluteDateDifferenceAtThresholds("death_date", input_is_string=True, metrics=["day"],
                                                             thresholds=[3])]
        blocking = [block_on("stays", arrays_to_explode=["stays"]), block_on("birth_ym", "sex", "commune"),
                    block_on("death_date", "sex")]
        deterministic = None  # no rule is near-certain without names: the prior is one match per cohort record
        # EM cannot train on an exploding rule (Splink refuses): the other two rules leave every comparison free once
        em_rules = [block_on("birth_ym", "sex", "commune"), block_on("death_date", "sex")]
        fallbacks = {1: FIRST_STAY_RULE}  # no death dates: the first stay frees what death date and sex would
        recall = None
    settings = SettingsCreator(
        link_type="link_only", unique_id_column_name="id", blocking_rules_to_generate_predictions=blocking,
        comparisons=comparisons, retain_intermediate_calculation_columns=False,
        **({} if deterministic else {"probability_two_random_records_match": min(n_left, n_right) /
                                     (n_left * n_right)}))
    return {"settings": settings, "deterministic": deterministic, "recall": recall, "em_rules": em_rules,
            "em_fallbacks": fallbacks, "blocking": [_describe(b) for b in blocking]}


def training_rules(con, left: pd.DataFrame, right: pd.DataFrame, rules: list, fallbacks: dict
                   ) -> tuple[list, list[str]]:
    """The EM rules that pair at least one record in these data (a rule that pairs none is
    replaced by its fallback when that one does), and a note per rule left out."""
    check = con.cursor()  # its own connection: Splink's stays free of unfinished results and views
    check.register("em_check_l", left)
    check.register("em_check_r", right)

    def pairs_some(rule) -> bool:
        sql = _describe(rule)
        return len(check.execute(f"SELECT 1 FROM em_check_l AS l JOIN em_check_r AS r ON {sql} LIMIT 1")
                   .fetchall()) > 0

    used, notes = [], []
    for i, rule in enumerate(rules):
        if pairs_some(rule):
            used.append(rule)
            continue
        fallback = fallbacks.get(i)
        if fallback is not None and pairs_some(fallback):
            used.append(fallback)
            notes.append(f"{_describe(rule)} pairs no records: replaced by {_describe(fallback)}")
        else:
            notes.append(f"{_describe(rule)} pairs no records: left out")
    check.close()
    return used, notes


def main() -> int:
    run = Run("splink", __doc__)
    logging.getLogger("splink").setLevel(logging.WARNING)
    fields = ["id", *run.meta["fields"]]
    if run.args.variant == "full":
        fields += ["raw_soc_sec_id", "raw_street_number", "raw_address_1", "raw_suburb", "raw_state"]
    with run.stage("read plaintext"):
        left, right = run.read(fields)
    with run.stage("configure and register tables"):
        con = duckdb.connect()
        con.execute(f"SET threads = {os.cpu_count()}")
        con.execute("SET memory_limit = '10GB'")
        con.execute("SET preserve_insertion_order = false")
        db_api = DuckDBAPI(connection=con)
        cfg = configure(run, len(left), len(right))
        tables = [db_api.register(left, dataset_display_name="file_a"),
                  db_api.register(right, dataset_display_name="file_b")]
        linker = Linker(tables, cfg["settings"])
    if cfg["deterministic"]:
        with run.stage("prior from deterministic rules"):
            linker.training.estimate_probability_two_random_records_match(cfg["deterministic"],
                                                                         recall=cfg["recall"])
    with run.stage("u by random sampling (1e7 pairs)"):
        linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    with run.stage("m by EM"):
        em_rules, em_notes = training_rules(con, left, right, cfg["em_rules"], cfg["em_fallbacks"])
        for note in em_notes:
            print(f"EM: {note}", flush=True)
        for rule in em_rules:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
    threshold = run.args.threshold or PREDICT_THRESHOLD
    with run.stage(f"predict (match probability >= {threshold})"):
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        frame = predictions.as_duckdbpyrelation().select(
            "source_dataset_l, id_l, id_r, match_probability").df()
    flipped = frame.source_dataset_l != "file_a"
    links = pd.DataFrame({"left_id": frame.id_l.where(~flipped, frame.id_r),
                          "right_id": frame.id_r.where(~flipped, frame.id_l),
                          "score": frame.match_probability})
    run.config = {"threshold_match_probability": threshold, "blocking_rules": cfg["blocking"],
                  "em_rules": [_describe(r) for r in em_rules], "em_rules_replaced_or_left_out": em_notes,
                  "u_max_pairs": 1e7,
                  "variant": run.args.variant or "same fields as Harmonie"}
    run.finish(links)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
