"""Building blocks of the simulator: geography, names, corruption primitives."""

import numpy as np
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
