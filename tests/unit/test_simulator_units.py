"""Building blocks of the simulator: geography, names, corruption primitives."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from linkage.datasets.coded import CodedStrings
from linkage.datasets.corruption import TYPO_KINDS, digit_typo, title_case, typo
from linkage.normalise.text import strip_accents
from linkage.datasets.geography import _luhn_digit, draw_within_groups, france
from linkage.datasets.names import surnames
from linkage.datasets.reference import DEPARTEMENTS


def test_geography_codes_follow_insee_and_finess_layouts():
    geo = france()
    assert len(set(geo.commune_codes)) == len(geo.commune_codes)
    for code, dept in zip(geo.commune_codes, geo.commune_dept):
        assert len(code) == 5 and code.startswith(geo.dept_codes[dept])
    assert set(geo.dept_codes) == set(DEPARTEMENTS)
    assert {"2A", "2B", "971", "974"} <= set(geo.dept_codes)
    assert len(set(geo.hospital_finess)) == len(geo.hospital_finess)
    assert all(len(f) == 9 and f[-1] == _luhn_digit(f[:8]) for f in geo.hospital_finess)
    assert geo.n_centres == 20
    np.testing.assert_allclose(geo.dept_centre_cum[:, -1], 1.0)


def test_draw_within_groups_stays_in_the_group():
    cum = np.array([0.5, 1.0, 0.2, 0.7, 1.0])
    start = np.array([0, 2, 5])
    group = np.array([0, 0, 1, 1, 1, 1])
    u = np.array([0.1, 0.9, 0.0, 0.3, 0.8, 0.999])
    np.testing.assert_array_equal(draw_within_groups(cum, start, group, u), [0, 1, 2, 3, 4, 4])


def test_surname_frequencies_are_skewed_like_french_registers():
    vocab = surnames()
    assert vocab.values[0] == "MARTIN"
    top1, top10 = vocab.cum[0], vocab.cum[9]
    assert 0.002 < top1 < 0.006 and 0.015 < top10 < 0.04
    assert len(vocab.values) > 10_000


@given(st.text(alphabet="ABCDEÉÈÊËFGHIÏJKLMNOÔPQRSTUÙVWXYZ-' ", min_size=1, max_size=30),
       st.sampled_from(TYPO_KINDS), st.integers(0, 2**32 - 1))
def test_a_typo_always_changes_the_value(value, kind, seed):
    assert typo(value, kind, np.random.default_rng(seed)) != value


@given(st.from_regex(r"[0-9]{15}", fullmatch=True), st.integers(0, 2**32 - 1))
def test_a_digit_typo_changes_exactly_one_or_two_adjacent_digits(value, seed):
    out = digit_typo(value, np.random.default_rng(seed))
    diff = [i for i, (a, b) in enumerate(zip(value, out)) if a != b]
    assert len(out) == len(value) and 1 <= len(diff) <= 2
    if len(diff) == 2:
        assert diff[1] == diff[0] + 1 and sorted(value[diff[0]:diff[1] + 1]) == sorted(out[diff[0]:diff[1] + 1])


@given(st.text(max_size=40))
def test_strip_accents_is_idempotent_and_leaves_no_combining_marks(value):
    once = strip_accents(value)
    assert strip_accents(once) == once


def test_french_style_helpers():
    assert strip_accents("LEFÈVRE NOËL ŒUVRARD") == "LEFEVRE NOEL OEUVRARD"
    assert title_case("LE GOFF") == "Le Goff"
    assert title_case("MARIE-CLAIRE") == "Marie-Claire"
    assert title_case("D'ALMEIDA") == "D'Almeida"


def test_coded_strings_share_values_so_codes_can_move_between_columns():
    a = CodedStrings(np.array([0, 1, -1]), ["X", "Y"])
    b = a.take(np.array([1, 0, 2]))
    b.restyle(np.array([0, 1]), str.lower)
    a.codes[0] = b.codes[0]
    assert a.to_list() == ["y", "Y", None]
    assert b.to_list() == ["y", "x", None]
    b.edit(np.array([2]), ["Z"])
    assert b.to_list() == ["y", "x", "Z"]


def test_every_site_belongs_to_a_legal_entity_and_centres_have_sister_sites():
    from linkage.datasets.geography import finess_entities

    geo = france()
    assert len(geo.hospital_entity) == len(geo.hospital_finess)
    assert set(geo.entity_finess).isdisjoint(geo.hospital_finess)
    assert all(len(f) == 9 and f[-1] == _luhn_digit(f[:8]) for f in geo.entity_finess)
    for k, centre in enumerate(geo.centre_hospital):
        sisters = geo.centre_sister_hospital[geo.centre_site_start[k]:geo.centre_site_start[k + 1]]
        assert 1 <= len(sisters) <= 2
        assert (geo.hospital_entity[sisters] == geo.hospital_entity[centre]).all()
        assert (geo.hospital_dept[sisters] == geo.hospital_dept[centre]).all()
        members = np.flatnonzero(geo.hospital_entity == geo.hospital_entity[centre])
        assert set(members) == {centre, *sisters}
    sizes = np.bincount(geo.hospital_entity)
    assert sizes.min() >= 1 and sizes.max() <= 3 and (sizes > 1).any()
    table = finess_entities(geo)
    assert table.column_names == ["finess", "finess_juridique"] and table.num_rows == len(geo.hospital_finess)
    assert table["finess"].to_pylist() == sorted(geo.hospital_finess)
    # the centres and general hospitals drawn before the entities are unchanged
    assert geo.hospital_finess[geo.centre_hospital[0]] == "759000003"


def test_name_concentration_sharpens_frequencies_monotonically():
    default = surnames()
    assert np.array_equal(surnames(concentration=0.0).cum, default.cum)
    tops = [surnames(concentration=c).cum[0] for c in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert tops == sorted(tops) and tops[0] < 0.006 and 0.18 < tops[-1] < 0.23
    assert 0.45 < surnames(concentration=1.0).cum[9] < 0.55
    assert surnames(concentration=1.0).values == default.values
    from linkage.datasets.names import first_names

    assert first_names("F", "before1950").cum[0] < 0.15 and 0.3 < first_names("F", "before1950", 1.0).cum[0] < 0.4


def test_far_shifts_move_both_dates_by_two_days_or_more_and_spare_the_excluded():
    from linkage.datasets.care import Stays, shift_days_far

    n = 10_000
    base = np.arange(n, dtype=np.int32)
    stays = Stays(base, base, base * 0 + 100, base * 0 + 103, base.astype(np.int16))
    excluded = np.arange(0, n, 2)
    shifted, rows = shift_days_far(np.random.default_rng(0), stays, 0.5, 6, excluded)
    delta = shifted.admission - stays.admission
    assert (delta[excluded] == 0).all() and not np.isin(rows, excluded).any()
    assert 2 <= np.abs(delta[rows]).min() and np.abs(delta[rows]).max() <= 6
    assert (shifted.discharge - shifted.admission == 3).all()
    assert abs(len(rows) / (n / 2) - 0.5) < 0.05 and (delta[rows] < 0).mean() == pytest.approx(0.5, abs=0.05)


def test_sister_sites_take_a_share_of_centre_stays_only():
    from linkage.datasets.care import Stays, send_to_sister_sites

    geo = france()
    n = 20_000
    hospital = np.where(np.arange(n) % 2 == 0, geo.centre_hospital[np.arange(n) % geo.n_centres], 0).astype(np.int32)
    zeros = np.zeros(n, dtype=np.int32)
    stays = Stays(zeros, hospital.copy(), zeros, zeros, zeros.astype(np.int16))
    rows = send_to_sister_sites(np.random.default_rng(1), geo, stays, 0.3)
    assert (hospital[rows] != 0).all() and (stays.hospital[hospital == 0] == 0).all()
    assert len(rows) / (n / 2) == pytest.approx(0.3, abs=0.03)
    assert np.isin(stays.hospital[rows], geo.centre_sister_hospital).all()
    assert (geo.hospital_entity[stays.hospital[rows]] == geo.hospital_entity[hospital[rows]]).all()
    assert len(send_to_sister_sites(np.random.default_rng(1), geo, stays, 0.0)) == 0
