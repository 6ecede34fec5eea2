"""Membership attacks on the full sets, CI-aware decisions, degenerate measures and attacker models (#15 items 3, 4, 6).

The attacks are tested directly on the attack tables where they can be (a second each);
the gate runs twice, on a small measurement policy, for what only the gate shows.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from harmonie.errors import HarmonieError
from privacy.release import gate
from privacy.release.gate import ReleaseRefused, assess, release
from privacy.release.policy import _check, load_policy, measure_checks
from privacy.risk.features import attack_table
from privacy.risk.membership import (
    MembershipSettings,
    cell_frequency_scores,
    log_density,
    membership_metrics,
)
from privacy.risk.report import control_patients_needed, write_risk_report
from privacy.risk.roc import delong_auc, roc_curve, tpr_at_fpr
from privacy.risk.uniqueness import uniqueness_metrics

POLICY, _ = load_policy(None)
SMALL = {**POLICY, "measurement": {**POLICY["measurement"], "n_attacks": 300, "max_rows": 1000}}
ON_ESTIMATE = {**SMALL, "decisions": {"use_upper_ci": False}}
LIMIT = POLICY["membership"]["cell_frequency_auc"]
MEMBERSHIP_CHECKS = ("membership_cell_frequency", "membership_density_ratio", "membership_nearest_neighbour")


def _failed(checks: list[dict]) -> set[str]:
    return {c["name"] for c in checks if not c["passed"]}


def _cells_of_training_patients(replica: dict, train: dict, seed: int = 0) -> dict:
    """The genuine replica with each record's cancer, subtype, stage, département (and sex, which goes with the
    subtype) taken from a distinct training patient: a generator that memorises its patients' cells and synthesises
    the rest. No record copies a real patient, so the copy screen lets it through."""
    p = replica["patients"].copy()
    donors = train["patients"].sample(len(p), replace=len(p) > len(train["patients"]), random_state=seed)
    for column in ("cancer_type", "subtype", "stage", "departement", "sex"):
        p[column] = donors[column].to_numpy()
    return {**replica, "patients": p}


@pytest.fixture(scope="module")
def tables(release_data):
    _, train, control, replica = release_data
    return attack_table(train), attack_table(control), attack_table(replica)


@pytest.fixture(scope="module")
def genuine(tables):
    train, control, replica = tables
    return membership_metrics(train, replica, control, seed=0)


@pytest.fixture(scope="module")
def crafted(release_data):
    _, train, _, replica = release_data
    return _cells_of_training_patients(replica, train)


@pytest.fixture(scope="module")
def genuine_assessed(release_data):
    _, train, control, replica = release_data
    return assess(train, replica, control, SMALL, seed=3)


# --- the statistics -------------------------------------------------------------------------------------------


def test_delong_auc_matches_the_mann_whitney_count_and_its_interval_covers_it():
    rng = np.random.default_rng(0)
    members, non_members = rng.normal(0.3, 1, 400).round(1), rng.normal(0, 1, 300).round(1)  # rounded: many ties
    pairs = (members[:, None] > non_members[None, :]).mean() + 0.5 * (members[:, None] == non_members[None, :]).mean()
    result = delong_auc(members, non_members)
    assert result["auc"] == pytest.approx(pairs)
    assert result["ci"][0] < result["auc"] < result["ci"][1]
    assert 0.02 < result["se"] < 0.03  # ~ sqrt(AUC (1 - AUC) (1/m + 1/n)) for these sizes
    assert delong_auc(np.ones(50), np.ones(50))["auc"] == 0.5  # every score tied: a coin
    with pytest.raises(ValueError, match="at least 2"):
        delong_auc(np.ones(1), np.ones(10))


def test_roc_curve_and_low_false_positive_rate():
    members, non_members = np.arange(100.0) + 50, np.arange(100.0)
    curve = roc_curve(members, non_members)
    assert curve["fpr"][0] == 0 and curve["tpr"][-1] == 1 and all(np.diff(curve["tpr"]) >= 0)
    assert tpr_at_fpr(members, non_members, 0.01) == pytest.approx(0.51)  # flags above 98: members 99..149
    assert tpr_at_fpr(np.arange(10.0), np.arange(10.0), 0.0) == 0.0


def test_cell_frequency_score_is_the_replica_count_over_the_population_expectation():
    replica = pd.DataFrame({"cancer_type": ["lung"] * 4 + ["breast"] * 4, "subtype": "x", "stage": 1,
                            "departement": ["75", "75", "75", "13", "75", "13", "13", "13"]})
    population = pd.DataFrame({"cancer_type": "lung", "subtype": "x", "stage": 1, "departement": ["75", "13"]})
    targets = replica.iloc[[0, 3, 4]]
    # lung/75: 3 observed, 4 lung records x share 0.5 = 2 expected; lung/13: 1 vs 2; breast/75: 1 vs 4 x 0.5 = 2
    expected = np.log((np.array([3, 1, 1]) + 0.5) / (np.array([2, 2, 2]) + 0.5))
    assert cell_frequency_scores(targets, replica, population) == pytest.approx(expected)


def test_density_leaves_a_reference_target_out_of_its_own_density():
    points = np.array([[0.0], [10.0]])
    alone = log_density(points[:1], points, 1.0, leave_out=np.array([0]))  # only the far point remains
    assert alone[0] == pytest.approx(-100 / 2)
    assert log_density(points[:1], points, 1.0)[0] > alone[0]


def test_membership_settings_and_policy_reject_unknown_columns_and_bad_types(tmp_path):
    with pytest.raises(HarmonieError, match="attack columns"):
        MembershipSettings(quasi_identifiers=("cancer_type", "postcode"))
    bad = tmp_path / "p.toml"
    bad.write_text("[membership]\ncell_quasi_identifiers = ['cancer_type', 'postcode']\n")
    with pytest.raises(HarmonieError, match="postcode"):
        load_policy(bad)
    bad.write_text("[decisions]\nuse_upper_ci = 1\n")
    with pytest.raises(HarmonieError, match="true or false"):
        load_policy(bad)
    good = tmp_path / "g.toml"
    good.write_text("[decisions]\nuse_upper_ci = false\n[membership]\ncell_quasi_identifiers = ['cancer_type', "
                    "'departement']\n")
    policy, _ = load_policy(good)
    assert policy["decisions"]["use_upper_ci"] is False
    assert policy["membership"]["cell_quasi_identifiers"] == ["cancer_type", "departement"]
    assert load_policy(None)[0]["decisions"]["use_upper_ci"] is True  # a release decides on the CI by default


# --- the attacks on the genuine replica and on leaky ones ------------------------------------------------------


def test_genuine_replica_auc_is_reported_with_a_narrow_interval_on_every_patient(genuine, tables):
    train, control, _ = tables
    assert genuine["targets"]["members"] == len(train) and genuine["targets"]["non_members"] == len(control)
    assert not genuine["targets"]["sampled"]
    for attack in ("cell_frequency", "density_ratio", "nearest_neighbour"):
        r = genuine[attack]
        assert r["ci"][0] <= r["auc"] <= r["ci"][1]
        assert r["ci"][1] - r["ci"][0] < 0.04, r  # full sets: the interval is far narrower than the limit's margin
        assert r["attacker_model"]["knows"] and r["attacker_model"]["reference"]
    # the generic attacks see nothing; the cell attack is reported, and whether its upper CI meets the limit
    assert genuine["density_ratio"]["ci"][1] <= LIMIT and genuine["nearest_neighbour"]["ci"][1] <= LIMIT
    cell = genuine["cell_frequency"]
    assert set(cell["by_cancer"]) == set(train["cancer_type"])
    assert all(r["auc"] is None or r["ci"][0] <= r["auc"] <= r["ci"][1] for r in cell["by_cancer"].values())
    present = cell["share_with_a_replica_record_in_their_cell"]
    assert 0 < present["non_members"] <= present["members"] <= 1
    print(f"genuine replica at fixture size: cell AUC {cell['auc']} {cell['ci']} (upper CI <= {LIMIT}: "
          f"{cell['ci'][1] <= LIMIT}), DOMIAS {genuine['density_ratio']['auc']} {genuine['density_ratio']['ci']}, "
          f"nearest neighbour {genuine['nearest_neighbour']['auc']} {genuine['nearest_neighbour']['ci']}")


def test_a_replica_echoing_its_training_patients_cells_is_caught_by_the_cell_attack(crafted, genuine, tables):
    train, control, _ = tables
    leaky = membership_metrics(train, attack_table(crafted), control, seed=0)["cell_frequency"]
    assert leaky["ci"][0] > LIMIT and leaky["ci"][0] > genuine["cell_frequency"]["ci"][1]
    assert leaky["share_with_a_replica_record_in_their_cell"]["members"] == 1.0  # every member's cell is in it


def test_cell_attack_reads_chance_when_the_replica_does_not_echo_its_patients_cells(tables):
    """Its calibration: départements drawn from the population's shares, whoever trained the generator, give 0.5."""
    train, control, replica = tables
    null = replica.copy()
    pool = pd.concat([train, control])["departement"].to_numpy()
    null["departement"] = np.random.default_rng(0).choice(pool, len(null))
    cell = membership_metrics(train, null, control, seed=0)["cell_frequency"]
    assert cell["ci"][0] < 0.5 < cell["ci"][1] and cell["ci"][1] <= LIMIT


def test_stratified_target_sample_keeps_each_cancers_share(tables):
    train, control, replica = tables
    sampled = membership_metrics(train, replica, control, MembershipSettings(max_targets=600), seed=1)
    assert sampled["targets"]["sampled"] and sampled["targets"]["members"] == 600
    counts = {c: r["members"] for c, r in sampled["cell_frequency"]["by_cancer"].items()}
    shares = train["cancer_type"].value_counts(normalize=True)
    assert all(abs(counts[c] - 600 * shares[c]) <= 1 for c in counts)


def test_noisy_copies_of_training_patients_are_caught_by_the_density_and_distance_attacks(tables):
    train, control, _ = tables
    rng = np.random.default_rng(2)
    noisy = train.copy()
    noisy["age_at_diagnosis"] += rng.integers(-2, 3, len(noisy))
    noisy["diagnosis_day"] += rng.integers(-20, 21, len(noisy))
    result = membership_metrics(train, noisy, control, seed=0)
    assert result["nearest_neighbour"]["ci"][0] > 0.9
    assert result["density_ratio"]["ci"][0] > 0.8


def test_gate_refuses_the_cell_leaking_replica_after_the_copy_screen_lets_it_through(release_data, crafted,
                                                                                      genuine_assessed):
    _, train, control, _ = release_data
    risk, checks = assess(train, crafted, control, ON_ESTIMATE, seed=3)
    assert risk["measured"] and risk["screen"]["replica_patients_copying_a_real_patient"] == 0
    # the cell attack sees it (Anonymeter's attacks may too, now that the memorised cells no longer go with the
    # synthetic treatments and claims of the clinical world, #23: which one varies with the replica)
    assert "membership_cell_frequency" in _failed(checks)
    genuine_cell = genuine_assessed[0]["membership"]["cell_frequency"]
    assert risk["membership"]["cell_frequency"]["auc"] > genuine_cell["ci"][1]


# --- decisions that respect uncertainty --------------------------------------------------------------------


def test_a_check_whose_estimate_passes_but_upper_ci_crosses_is_amber_and_refuses_under_the_release_rule():
    on_ci, on_estimate = POLICY, {**POLICY, "decisions": {"use_upper_ci": False}}
    amber = _check("inference_death", "inference of death", 0.0927, 0.10, ci=[0.0, 0.2047], policy=on_ci)
    assert amber["status"] == "amber" and not amber["passed"] and amber["decided_on"] == "upper_ci"
    warned = _check("inference_death", "inference of death", 0.0927, 0.10, ci=[0.0, 0.2047], policy=on_estimate)
    assert warned["status"] == "amber" and warned["passed"] and warned["decided_on"] == "estimate"
    assert _check("x", "x", 0.03, 0.10, ci=[0.0, 0.08], policy=on_ci)["status"] == "pass"
    assert _check("x", "x", 0.12, 0.10, ci=[0.05, 0.2], policy=on_estimate)["status"] == "fail"
    assert _check("k", "k", 3, 2, "≥", ci=[1, 5], policy=on_ci)["status"] == "amber"  # a minimum: the lower end
    assert _check("copies", "copies", 0, 0, policy=on_ci)["decided_on"] == "value"  # counts have no interval
    assert control_patients_needed(amber, 1963) > 1963


def test_measure_checks_refuse_a_constructed_risk_whose_upper_ci_crosses(genuine_assessed):
    risk = copy.deepcopy({k: v for k, v in genuine_assessed[0].items() if k != "_arrays"})
    risk["inference"]["death"].update(risk=0.0927, ci=[0.0, 0.2047])
    on_ci = {c["name"]: c for c in measure_checks(risk, POLICY)}
    assert on_ci["inference_death"]["status"] == "amber" and not on_ci["inference_death"]["passed"]
    on_estimate = {c["name"]: c for c in measure_checks(risk, {**POLICY, "decisions": {"use_upper_ci": False}})}
    assert on_estimate["inference_death"]["passed"]


def test_release_gate_refuses_when_an_upper_ci_crosses_and_writes_nothing(release_data, genuine_assessed, tmp_path,
                                                                          monkeypatch):
    """Every figure passes on its estimate; one upper CI crosses its limit: the release policy refuses."""
    from privacy.release.signing import load_signing_key, new_signing_key

    root = release_data[0]
    measured = copy.deepcopy({k: v for k, v in genuine_assessed[0].items()
                              if k not in ("screen", "seed", "measured", "membership")})
    low = {"risk": 0.0, "ci": [0.0, 0.01]}
    measured["singling_out"] = {m: {**r, **low} for m, r in measured["singling_out"].items()}
    measured["linkability"] = {**measured["linkability"], **low}
    measured["inference"] = {s: {**r, **low} for s, r in measured["inference"].items()}
    measured["inference"]["death"].update(risk=0.0927, ci=[0.0, 0.2047])  # the demo's figures
    measured["distances"].update(dcr_share_closer_to_train=0.5, dcr_share_closer_to_train_ci=[0.48, 0.52])
    measured["uniqueness"]["replicated_uniques"].update(excess_share=0.0, ci=[0.0, 0.005])
    membership = copy.deepcopy(genuine_assessed[0]["membership"])
    for attack in ("cell_frequency", "density_ratio", "nearest_neighbour"):
        membership[attack].update(auc=0.51, ci=[0.49, 0.53])
    monkeypatch.setattr(gate, "measure_risk", lambda *a, **k: copy.deepcopy(measured))
    monkeypatch.setattr(gate, "membership_metrics", lambda *a, **k: membership)
    new_signing_key(tmp_path / "k", "release signing passphrase for tests")
    key = load_signing_key(tmp_path / "k", "release signing passphrase for tests")
    with pytest.raises(ReleaseRefused, match=r"inference_death = 0.0927, 95% CI \[0, 0.2047\]: upper end beyond the "
                                             r"limit ≤ 0.1") as refused:
        release(root / "replica", root / "train", root / "control", tmp_path / "bundle", signing_key=key)
    assert _failed(refused.value.checks) == {"inference_death"}
    assert not (tmp_path / "bundle").exists()


# --- the report: amber, degenerate measures, attacker models --------------------------------------------------


def test_report_shows_amber_degenerate_measures_and_each_attacker_model(genuine_assessed, tmp_path):
    risk, _ = genuine_assessed
    with_ci = next(c for c in measure_checks(risk, SMALL) if c["name"].startswith("inference_"))
    policy = {**SMALL, "anonymeter": {**SMALL["anonymeter"], "inference": (with_ci["value"] + with_ci["ci"][1]) / 2}}
    checks = measure_checks(risk, policy)
    assert with_ci["name"] in {c["name"] for c in checks if c["status"] == "amber"}
    document = write_risk_report(risk, checks, policy, tmp_path / "risk")
    html = (tmp_path / "risk" / "risk.html").read_text()
    assert 'class="amber"' in html and "passes on the estimate" in html
    assert with_ci["name"] in document["amber_checks"]
    saved = json.loads((tmp_path / "risk" / "risk.json").read_text())
    assert saved["control_patients_needed"][with_ci["name"]] > risk["sizes"]["targets"]["control"]
    # degenerate: on exact diagnosis dates every patient is unique; the decision moves to coarse columns
    assert "degenerate" in html
    exact = saved["uniqueness"]["levels"]["replicated_uniques"]["exact"]
    assert exact["degenerate"] and saved["uniqueness"]["replicated_uniques"]["level"] != "exact"
    assert {"measure": "replicated_uniques", "level": "exact"}.items() <= next(
        d for d in saved["degenerate_measures"] if d["measure"] == "replicated_uniques").items()
    # every measure states its attacker model, in the JSON and in the page
    models = [saved["linkability"], *saved["singling_out"].values(), *saved["inference"].values(),
              saved["distances"], saved["uniqueness"]["replicated_uniques"], saved["uniqueness"]["k_anonymity"],
              *(saved["membership"][a] for a in ("cell_frequency", "density_ratio", "nearest_neighbour"))]
    for figures in models:
        assert {"holds", "knows", "secret", "success", "reference", "targets"} <= set(figures["attacker_model"])
    assert saved["inference"]["death"]["attacker_model"]["secret"] == "death"
    assert "The attacker each measure assumes" in html and "membership ROC curves" in html


def test_uniqueness_is_decided_on_coarse_columns_when_exact_dates_make_everyone_unique(tables):
    train, control, replica = tables
    u = uniqueness_metrics(train, replica, control)
    assert u["levels"]["replicated_uniques"]["exact"]["degenerate"]
    assert u["levels"]["k_anonymity"]["exact"]["degenerate"]
    assert u["replicated_uniques"]["level"] == "coarse" and u["replicated_uniques"]["degenerate"] is None
    decided = u["replicated_uniques"]
    assert decided["ci"][0] <= decided["excess_share"] <= decided["ci"][1]
    assert u["k_anonymity"]["degenerate"] is None or u["k_anonymity"]["level"] == "coarse_without_date"


def test_genuine_replica_passes_every_membership_check_but_the_cell_attack(genuine_assessed):
    """Recorded, not hidden: the per-stratum copula echoes its patients' départements (issue #15 item 3); the
    generic attacks (DOMIAS, distance) find nothing."""
    _, checks = genuine_assessed
    membership = {c["name"]: c for c in checks if c["name"] in MEMBERSHIP_CHECKS}
    assert membership["membership_density_ratio"]["passed"] and membership["membership_nearest_neighbour"]["passed"]


def test_the_risk_measures_are_counted_so_a_log_says_how_many_are_left(tables, capsys):
    """#21 item 3: each measure's stage line says which of how many it is, and a count line follows each one
    (with its rate and ETA), so a release at 193,000 patients is never minutes of unlabelled silence."""
    from harmonie import progress
    from privacy.risk.measure import measure_risk

    train, control, replica = (frame.head(300) for frame in tables)
    progress.set_enabled(True)
    try:
        measure_risk({"train": train, "synthetic": replica, "control": control}, n_attacks=50, attack_targets=60,
                     seed=1, n_jobs=1)
    finally:
        progress.set_enabled(False)
    err = capsys.readouterr().err
    assert "risk [1/8]: singling out (univariate)" in err and "risk [8/8]: uniqueness" in err
    counts = [line for line in err.splitlines() if line.startswith("risk measures: ")]
    assert len(counts) == 8 and "3/8 measures" in counts[2] and "ETA" in counts[2], counts
