"""Disclosure control: nothing written about real patients shows fewer than min_cell of them or one patient's value.

Unit and property tests of each rule of :mod:`privacy.disclosure`, then a utility report built
on small real data with planted rare values, scanned against the data that produced it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmonie.errors import InvalidParameter
from privacy.disclosure import (
    MONTH_DAYS,
    DisclosureRule,
    RealColumn,
    RealSurvival,
    bin_index,
    grouped_kaplan_meier,
    histogram,
    interpolated,
    kaplan_meier_at,
    median_interval,
    merge_histogram,
    named_categories,
    safe_quantiles,
    safe_range,
    scan_folder,
    scan_report,
    step_containing,
)
from synth.report import build_utility_report
from synth.report.build import write_pages
from synth.report.disclosed import real_sources
from test_synth_report import make_dataset

RULE = DisclosureRule()
PROPERTY = settings(max_examples=150, deadline=None)
min_cells = st.integers(min_value=1, max_value=15)


# --- the rule ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "11"])
def test_min_cell_must_be_a_positive_integer(bad):
    with pytest.raises(InvalidParameter, match="min_cell"):
        DisclosureRule(min_cell=bad)


def test_small_counts_are_suppressed_and_described():
    assert RULE.min_cell == 11
    assert [RULE.count(n) for n in (0, 1, 10, 11, 500)] == [0, None, None, 11, 500]
    assert RULE.describe(7) == "fewer than 11" and RULE.describe(1234) == "1,234" and RULE.describe(0) == "0"


@PROPERTY
@given(total=st.integers(1, 10**7), count=st.integers(0, 10**7), k=min_cells)
def test_a_rounded_share_stands_for_at_least_min_cell_counts(total, count, k):
    rule = DisclosureRule(min_cell=k)
    count = min(count, total)
    step = rule.share_step(total)
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert round(mantissa, 9) in (1, 2, 5) and step <= 1
    assert step * total >= k * (1 - 1e-9) or step == 1  # one step covers min_cell counts
    share = rule.share(count, total)
    if rule.is_small(count) or rule.is_small(total - count):
        assert share is None
    else:
        assert abs(share / step - round(share / step)) < 1e-6
        assert abs(share - count / total) <= step / 2 + 1e-9


# --- histograms -------------------------------------------------------------------------------------

@PROPERTY
@given(counts=st.lists(st.integers(0, 30), min_size=1, max_size=40), k=min_cells)
def test_merged_histogram_has_no_thin_bin_and_keeps_the_total(counts, k):
    rule = DisclosureRule(min_cell=k)
    edges = np.arange(len(counts) + 1, dtype=float)
    merged = merge_histogram(counts, edges, rule)
    total = sum(counts)
    if 0 < total < k:
        assert merged is None
        return
    assert merged.counts.sum() == total
    assert not any(0 < c < k for c in merged.counts)
    assert set(merged.edges) <= set(edges) and merged.edges[0] == edges[0] and merged.edges[-1] == edges[-1]
    assert np.all(np.diff(merged.edges) > 0)
    for lo, hi, c in zip(merged.edges[:-1], merged.edges[1:], merged.counts):  # each bin holds what it says
        assert c == sum(counts[int(lo):int(hi)])


def test_merging_keeps_empty_bins_and_dense_ones_apart():
    merged = merge_histogram([40, 0, 0, 3, 20, 5, 0, 2], np.arange(9.0), RULE)
    # 40 | 0 | 0 | 3+20 closes at 23 | 5+0+2 is too few, so it joins the bin before it
    assert merged.counts.tolist() == [40, 0, 0, 30] and merged.edges.tolist() == [0, 1, 2, 3, 8]


@PROPERTY
@given(rows=st.lists(st.tuples(st.floats(-5, 25, allow_nan=False), st.integers(0, 40)), max_size=300), k=min_cells)
def test_histogram_counts_patients_not_rows(rows, k):
    rule = DisclosureRule(min_cell=k)
    values = np.array([v for v, _ in rows], dtype=float)
    holders = pd.Series([h for _, h in rows])
    edges = np.linspace(0, 20, 11)  # values beyond go to the outer bins
    merged = histogram(values, edges, rule, holders=holders)
    patients = holders.nunique()
    if 0 < patients < k:
        assert merged is None
        return
    bins = bin_index(values, merged.edges)
    for i in range(len(merged.edges) - 1):
        held = holders[bins == i].nunique()
        assert held == merged.counts[i] and not 0 < held < k


def test_one_patient_with_many_rows_is_still_one_patient():
    values = np.r_[np.full(30, 5.0), np.arange(11.0) + 10]  # 30 rows of one patient in bin 0..
    holders = pd.Series(["p0"] * 30 + [f"q{i}" for i in range(11)])
    merged = histogram(values, [0, 8, 16, 24], RULE, holders=holders)
    assert merged.counts.tolist() == [12]  # bin 0 (1 patient) merged with the rest


# --- categories -------------------------------------------------------------------------------------

@PROPERTY
@given(rows=st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 60)), max_size=300),
       k=min_cells, top=st.integers(1, 8))
def test_named_categories_and_other_hold_enough_patients(rows, k, top):
    rule = DisclosureRule(min_cell=k)
    labels = pd.Series([c for c, _ in rows], dtype="object")
    holders = pd.Series([h for _, h in rows])
    shown = named_categories(labels, rule, holders=holders, top=top)
    if rule.is_small(holders.nunique()):
        assert shown is None
        return
    assert len(shown) <= top
    for category in shown:
        assert holders[labels == category].nunique() >= k
    assert not rule.is_small(holders[~labels.isin(shown)].nunique())


def test_a_category_of_many_rows_but_one_patient_is_not_named():
    labels = pd.Series(["common"] * 50 + ["also common"] * 30 + ["rare"] * 20)
    holders = pd.Series([f"p{i}" for i in range(80)] + ["one patient"] * 20)
    assert named_categories(labels, RULE) == ["common", "also common", "rare"]  # as rows they would be enough
    # "rare" is one patient; naming both others would leave that one patient as "other", so one joins it
    assert named_categories(labels, RULE, holders=holders) == ["common"]


# --- quantiles and ranges ---------------------------------------------------------------------------

@PROPERTY
@given(values=st.lists(st.integers(0, 60), max_size=80), k=min_cells)
def test_safe_quantiles_have_min_cell_patients_on_each_side(values, k):
    rule = DisclosureRule(min_cell=k)
    x = np.array(values, dtype=float)
    probabilities = (0.01, 0.1, 0.5, 0.9, 0.99)
    for p, q in zip(probabilities, safe_quantiles(x, probabilities, rule)):
        if q is not None:
            assert (x <= q).sum() >= k and (x >= q).sum() >= k
            assert q == np.quantile(x, p)


def test_range_never_ends_on_a_rare_extreme():
    x = np.r_[np.arange(100.0), 10_000.0]  # one patient far out
    lo, hi = safe_range(x, RULE)
    assert lo > x.min() and hi < 10_000
    assert (x <= lo).sum() >= 11 and (x >= hi).sum() >= 11
    assert safe_range(np.arange(15.0), RULE) is None  # too few patients for two ends of 11


# --- survival ---------------------------------------------------------------------------------------

def _survival_data(draw_seed: int, n: int):
    rng = np.random.default_rng(draw_seed)
    return np.round(rng.exponential(700, n)) + 1, (rng.random(n) < 0.7).astype(float)


def test_kaplan_meier_matches_lifelines():
    from lifelines import KaplanMeierFitter

    t, e = _survival_data(1, 300)
    times = np.arange(0, 4000, 17.5)
    expected = KaplanMeierFitter().fit(t, e).survival_function_at_times(times).to_numpy()
    assert np.allclose(kaplan_meier_at(t, e, times), expected, atol=1e-12)


@PROPERTY
@given(seed=st.integers(0, 10**6), n=st.integers(0, 400), k=min_cells)
def test_grouped_kaplan_meier_never_shows_a_thin_step(seed, n, k):
    rule = DisclosureRule(min_cell=k)
    t, e = _survival_data(seed, n)
    curve = grouped_kaplan_meier(t, e, rule)
    if not curve.months:
        assert e.sum() < k or not any(((e > 0) & (t <= z * MONTH_DAYS)).sum() >= k and (t > z * MONTH_DAYS).sum() >= k
                                      for z in range(1, int(t.max() / MONTH_DAYS) + 2))
        return
    assert curve.months[0] == 0 and curve.survival[0] == 1.0
    assert all(isinstance(m, int) for m in curve.months) and list(curve.months) == sorted(set(curve.months))

    def deaths(a, z):
        return ((e > 0) & (t > a * MONTH_DAYS) & (t <= z * MONTH_DAYS)).sum()

    def at_risk_after(month):
        return (t > month * MONTH_DAYS).sum()

    for a, z in zip(curve.months[:-1], curve.months[1:]):
        assert deaths(a, z) >= k and at_risk_after(a) >= k and at_risk_after(z) >= k
    end = curve.months[-1]
    later = range(end + 1, int(t.max() / MONTH_DAYS) + 2)
    # it stops only when no further step could gather k deaths with k patients still at risk after it
    assert not any(deaths(end, z) >= k and at_risk_after(z) >= k for z in later)
    expected = kaplan_meier_at(t, e, np.array(curve.months) * MONTH_DAYS)
    assert np.allclose(curve.survival, expected, atol=0.0005 + 1e-12)  # rounded to 3 decimals


def test_medians_and_distances_are_steps_not_days():
    months, survival = (0, 3, 7, 12), (1.0, 0.8, 0.45, 0.3)
    assert median_interval(months, survival) == [3, 7]
    assert median_interval(months, (1.0, 0.9, 0.7, 0.6)) is None
    assert step_containing(months, 100.0) == [3, 7] and step_containing(months, 5000.0) == [12, None]
    assert interpolated(months, survival, 5) == pytest.approx(0.625) and interpolated(months, survival, 13) is None


# --- the scanner ------------------------------------------------------------------------------------

def test_scanner_finds_each_kind_of_leak():
    t, e = _survival_data(3, 200)
    labels = pd.Series(["a"] * 40 + ["b"] * 5)
    values = pd.Series(np.r_[np.arange(44.0), 1000.0])
    leaky = {
        "sizes": {"real": {"patients": 7}},
        "extremes": {"max": 1000.0},
        "distributions": [
            {"name": "label",
             "categories": [{"value": "a", "real_share": 0.888889}, {"value": "b", "real_share": 0.1}]},
            {"name": "value", "histogram": {"edges": [0, 40, 1000], "real_share": [0.9, 0.1], "unit": None},
             "real": {"quantiles": {"p50": 22.0, "p99": 999.0}, "mean": 20.0, "missing_share": 0.0}}],
        "survival": {"kaplan_meier": [{"cancer_type": "x", "median_days_real": float(t[e > 0][0]),
                                       "curve": {"months": [0, 1], "survival_real": [1.0, 0.99]}}]},
    }
    findings = scan_report(leaky, RULE, columns={"label": RealColumn(labels), "value": RealColumn(values)},
                           survival={"x": RealSurvival(t, e)})
    text = "\n".join(findings)
    for expected in ("/sizes/real/patients: a count", "/extremes/max: a minimum or maximum",
                     "category 'b' holds fewer", "real share of category 'a' is not rounded",
                     "histogram bin 1 holds fewer", "quantile p99", "median_days_real: an exact real death time",
                     "curve step 1", "a real minimum or maximum"):
        assert expected in text, expected
    assert "1000" not in text and str(t[e > 0][0]) not in text  # findings name places, never the values


# --- end to end: a utility report on small real data ------------------------------------------------

RARE_ATC, RARE_DEPARTEMENT, RARE_CANCER = "L01XE07", "976", "sarcoma"


def _real_with_rare_values(n: int = 400) -> dict[str, pd.DataFrame]:
    """Small real data with what must never show: one patient's extreme age and follow-up, a département
    of three patients, a drug dispensed 15 times to one patient (15 rows, one patient), a cancer type of
    four patients."""
    data = make_dataset(n, seed=1)
    patients = data["patients"].copy()
    patients.loc[0, "age_at_diagnosis"] = 104
    patients.loc[0, ["followup_days", "death"]] = [6_100, True]
    patients.loc[1:3, "departement"] = RARE_DEPARTEMENT
    patients.loc[6:9, "cancer_type"] = RARE_CANCER
    one = patients.loc[5]
    extra = pd.DataFrame({"patient_id": one["patient_id"], "atc_code": RARE_ATC, "quantity": 1,
                          "dispensing_date": one["diagnosis_date"] + pd.to_timedelta(np.arange(15) * 30, unit="D")})
    data["dispensings"] = pd.concat([data["dispensings"], extra], ignore_index=True)
    data["patients"] = patients
    return data


@pytest.fixture(scope="module")
def small_real():
    return _real_with_rare_values()


@pytest.fixture(scope="module")
def small_report(small_real, tmp_path_factory):
    out = tmp_path_factory.mktemp("disclosed")
    return out, build_utility_report(small_real, make_dataset(400, seed=2), out, seed=0)


def test_written_report_shows_no_small_cell_and_no_single_patient_value(small_real, small_report):
    out, report = small_report
    columns, survival = real_sources(small_real, seed=0)
    assert scan_folder(out, RULE, columns=columns, survival=survival) == []
    assert report["disclosure"]["min_cell"] == 11
    assert report["verdict"] == "adequate"  # the rule costs no check on a faithful replica
    text = (out / "utility.json").read_text()
    page = (out / "utility.html").read_text()
    assert RARE_ATC not in text and RARE_ATC not in page
    named = {c["value"] for d in report["distributions"] if d.get("categories") for c in d["categories"]}
    assert RARE_DEPARTEMENT not in named and RARE_ATC not in named
    for km in report["survival"]["kaplan_meier"]:
        assert not any(key.endswith("_days") for key in km)  # steps in months, never a day
        assert all(isinstance(m, int) for m in km["curve"]["months"])
    rare = next(km for km in report["survival"]["kaplan_meier"] if km["cancer_type"] == RARE_CANCER)
    assert rare["n_real"] is None and rare["deaths_real"] is None and rare["curve"]["survival_real"] == []
    assert f"Kaplan–Meier for {RARE_CANCER} not checked: fewer than 11 real patients" in " ".join(report["notes"])


def test_pages_and_figures_are_drawn_from_the_json_alone(small_report, tmp_path):
    out, _ = small_report
    write_pages(json.loads((out / "utility.json").read_text()), tmp_path)
    assert (tmp_path / "utility.html").read_bytes() == (out / "utility.html").read_bytes()
    for png in (out / "figures").iterdir():
        assert (tmp_path / "figures" / png.name).read_bytes() == png.read_bytes(), png.name


def test_min_cell_changes_what_is_shown_not_the_verdict(small_real, small_report, tmp_path):
    _, default = small_report
    strict = build_utility_report(small_real, make_dataset(400, seed=2), tmp_path, seed=0, min_cell=40)
    assert strict["checks"] == default["checks"] and strict["verdict"] == default["verdict"]
    columns, survival = real_sources(small_real, seed=0)
    assert scan_folder(tmp_path, DisclosureRule(min_cell=40), columns=columns, survival=survival) == []
    assert scan_folder(tmp_path, RULE, columns=columns, survival=survival) == []  # stricter is also safe at 11
    with pytest.raises(InvalidParameter, match="min_cell"):
        build_utility_report(small_real, make_dataset(400, seed=2), tmp_path, min_cell=0)
