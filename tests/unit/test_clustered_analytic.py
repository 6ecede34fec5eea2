"""The analytic dataset of a warehouse: one patient per Harmonie id, with the variables of every programme (#19 item 4).

Two programmes are cut out of one simulated cohort with an overlap, each under its own linkage ids, as CANTO
and ESME would send them; the clusters are what a perfect `harmonie link-all` would write.
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import linked_extracts
from harmonie.errors import HarmonieError
from synth.analytic import build_analytic
from synth.clustered import build_clustered_analytic, linked_in_clusters

LID = "linkage_id"


@pytest.fixture(scope="module")
def single(population):
    return linked_extracts(population)  # (cohort extract, SNDS extract, truth links)


def _warehouse(single):
    """(clusters, {canto, esme}, snds, facts): the cohort split into two programmes sharing 200 patients, a
    third of the shared ones not recording the subtype in ESME, one diagnosed earlier by ESME at another stage,
    one whose ESME record gives another cancer; one patient's claims filed under a second SNDS id."""
    cohort, snds, links = single
    patients = cohort["cohort_patients"].merge(links, left_on=LID, right_on="left_id")
    n = len(patients)
    canto_rows, esme_rows = patients.iloc[: n // 2 + 100], patients.iloc[n // 2 - 100:]
    shared = patients.iloc[n // 2 - 100: n // 2 + 100]
    esme = esme_rows.assign(**{LID: "E" + esme_rows[LID]})
    blank = shared.index[::3]
    esme.loc[blank, "subtype"] = None
    earlier, other_cancer = shared.index[1], shared.index[4]
    esme.loc[earlier, "diagnosis_date"] = (pd.Timestamp(shared.loc[earlier, "diagnosis_date"])
                                           - pd.Timedelta(days=40)).date().isoformat()
    esme.loc[earlier, "stage"] = 4 if shared.loc[earlier, "stage"] != 4 else 3
    esme.loc[other_cancer, "cancer_type"] = "lung" if shared.loc[other_cancer, "cancer_type"] != "lung" else "breast"
    recoded = shared.index[7]  # ESME codes sex as the NIR does: the same patient, not a disagreement
    esme.loc[recoded, "sex"] = {"F": "2", "M": "1"}.get(shared.loc[recoded, "sex"], shared.loc[recoded, "sex"])

    second = patients.iloc[5]["right_id"]  # a second SNDS id for one person, holding half of its stays
    beneficiaries = snds["snds_beneficiaries"]
    snds = dict(snds, snds_beneficiaries=pd.concat(
        [beneficiaries, beneficiaries[beneficiaries[LID] == second].assign(**{LID: "s-second"})], ignore_index=True))
    stays = snds["snds_stays"].copy()
    moved = stays.index[stays[LID] == second][::2]
    stays.loc[moved, LID] = "s-second"
    snds["snds_stays"] = stays

    hid = {lid: f"H{i:06d}" for i, lid in enumerate(patients[LID])}
    rows = [(hid[c], "canto", c) for c in canto_rows[LID]]
    rows += [(hid[c[1:]], "esme", c) for c in esme[LID]]
    rows += [(hid[c], "snds", s) for c, s in zip(patients[LID], patients["right_id"])]
    rows += [(hid[patients.iloc[5][LID]], "snds", "s-second")]
    unlinked = set(beneficiaries[LID]) - set(patients["right_id"])
    rows += [(f"U{i:06d}", "snds", s) for i, s in enumerate(sorted(unlinked))]
    clusters = pd.DataFrame(rows, columns=["harmonie_id", "source", LID])
    programmes = {"canto": {"cohort_patients": canto_rows[cohort["cohort_patients"].columns].reset_index(drop=True)},
                  "esme": {"cohort_patients": esme[cohort["cohort_patients"].columns].reset_index(drop=True)}}
    facts = {"shared": shared, "blank": blank, "earlier": earlier, "other_cancer": other_cancer,
             "stays_of_two_ids": int((snds["snds_stays"][LID].isin([second, "s-second"])).sum()),
             "two_ids_patient": hid[patients.iloc[5][LID]], "n": n}
    return clusters, programmes, snds, facts


def _content(tables: dict) -> pd.DataFrame:
    """The patients' variables without the (randomly assigned) patient ids, in a fixed order."""
    p = pd.concat([tables["train"]["patients"], tables["control"]["patients"]]).drop(columns="patient_id")
    return p.sort_values(list(p.columns)).reset_index(drop=True)


def test_one_patient_per_person_with_the_variables_of_both_programmes(single):
    clusters, programmes, snds, facts = _warehouse(single)
    result = build_clustered_analytic(clusters, programmes, snds, seed=3, control_fraction=0.2)
    counts = result.summary["programmes"]
    assert counts["in_two_programmes_or_more"] == 200 and counts["patients"] == facts["n"]
    assert counts["quarantined_disagreeing_records"] == 1 and counts["snds_second_ids_merged"] == 1
    assert result.summary["patients"]["quarantine_reasons"]["programmes disagree on the cancer type"] == 1
    p = pd.concat([result.train["patients"], result.control["patients"]])
    kept = result.summary["patients"]["kept"]
    assert len(p) == kept == facts["n"] - result.summary["patients"]["quarantined"]  # the shared are not doubled
    # the whole cohort, split into two programmes and combined again, is the single-cohort dataset: the ESME records
    # lacking the subtype took CANTO's; only the patient ESME saw first (another stage, an earlier date) and the one
    # with the disagreeing cancer differ
    cohort, _, links = single
    alone = build_analytic(links, cohort, single[1], seed=3, control_fraction=0.2)
    expected, got = _content({"train": alone.train, "control": alone.control}), _content(
        {"train": result.train, "control": result.control})
    merged = expected.merge(got, how="outer", indicator=True)
    assert (merged["_merge"] == "left_only").sum() == 2 and (merged["_merge"] == "right_only").sum() == 1


def test_the_earliest_diagnosis_is_the_primary_record_and_second_ids_bring_their_claims(single):
    clusters, programmes, snds, facts = _warehouse(single)
    result = build_clustered_analytic(clusters, programmes, snds, seed=3, control_fraction=0.0)
    p = result.train["patients"]
    esme = programmes["esme"]["cohort_patients"].set_index(LID)
    earlier = facts["shared"].loc[facts["earlier"]]
    row = p[(p["diagnosis_date"] == pd.Timestamp(esme.loc["E" + earlier[LID], "diagnosis_date"]))
            & (p["stage"] == int(esme.loc["E" + earlier[LID], "stage"]))]
    assert len(row) == 1  # ESME saw the cancer first: its date and stage
    # the person with two SNDS ids: every stay of both ids in the follow-up window is the patient's
    assert result.summary["stays"]["rows_in"] == len(snds["snds_stays"][snds["snds_stays"][LID].isin(
        set(clusters.loc[clusters["source"] == "snds", LID]))])


def test_each_holder_extracts_only_its_records_that_share_a_cluster(single):
    clusters, *_ = _warehouse(single)
    snds_linked = linked_in_clusters(clusters, "snds")
    assert "s-second" in snds_linked and not any(s.startswith("U") for s in snds_linked)
    assert all(lid.startswith("E") for lid in linked_in_clusters(clusters, "esme"))


def test_bad_inputs_are_one_line_errors(single):
    clusters, programmes, snds, _ = _warehouse(single)
    with pytest.raises(HarmonieError, match="not in the clusters"):
        build_clustered_analytic(clusters, {"odh": programmes["canto"]}, snds)
    with pytest.raises(HarmonieError, match="lack column"):
        build_clustered_analytic(clusters.drop(columns="source"), programmes, snds)
    with pytest.raises(HarmonieError, match="at least one cohort"):
        build_clustered_analytic(clusters, {}, snds)
    with pytest.raises(HarmonieError, match="in two places"):
        build_clustered_analytic(pd.concat([clusters, clusters.head(3).assign(harmonie_id="X")]), programmes, snds)
