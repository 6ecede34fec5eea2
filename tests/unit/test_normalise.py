"""French normalisation: a table of real-world cases, and properties (never crash, idempotent)."""

import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from linkage.normalise import (
    PartialDate, commune_code, departement_of_commune, departement_of_postcode, given_names, normalise_nir,
    normalise_sex, parse_date, split_annotation, surname,
)
from linkage.normalise.nir import NirStatus


@pytest.mark.parametrize("raw, expected", [
    ("Le Goff", "LEGOFF"), ("LE-GOFF", "LEGOFF"), ("le goff", "LEGOFF"),
    ("D'Almeida", "DALMEIDA"), ("D’ALMEIDA", "DALMEIDA"), ("d almeida", "DALMEIDA"),
    ("Lefèvre", "LEFEVRE"), ("LEFÈVRE", "LEFEVRE"), ("Noël", "NOEL"), ("Œuvrard", "OEUVRARD"),
    ("FONTAINE (DE LA)", "DELAFONTAINE"), ("de la Fontaine", "DELAFONTAINE"), ("Dupont (du)", "DUDUPONT"),
    ("Dupont-Moreau", "DUPONTMOREAU"), ("DUPONT MOREAU", "DUPONTMOREAU"),
    ("MARTIN NÉE DUPONT", "MARTIN"), ("Dupont épouse Martin", "MARTIN"), ("DUPONT EP. MARTIN", "MARTIN"),
    ("DUPONT VVE MARTIN", "MARTIN"), ("  ", None), ("---", None), ("N'Diaye", "NDIAYE"),
])
def test_surnames(raw, expected):
    assert surname(raw) == expected


def test_annotations_give_the_birth_name():
    assert split_annotation("Martin née Dupont") == ("MARTIN", "DUPONT")
    assert surname("DUPONT ÉPOUSE MARTIN", "birth") == "DUPONT"
    assert surname("MARTIN", "birth") is None
    assert surname("BENOIT", "birth") is None  # 'NE' inside a word is not an annotation


@pytest.mark.parametrize("raw, expected", [
    ("Marie-Claire Anne", ("MARIECLAIRE", "MARIECLAIREANNE")),
    ("JEAN PIERRE", ("JEAN", "JEANPIERRE")), ("Jean-Pierre", ("JEANPIERRE", "JEANPIERRE")),
    ("Hélène, Marie", ("HELENE", "HELENEMARIE")), ("Mme Sylvie", ("SYLVIE", "SYLVIE")),
    ("ANNE-SOPHIE", ("ANNESOPHIE", "ANNESOPHIE")), ("", None), (" , ", None),
])
def test_given_names(raw, expected):
    assert given_names(raw) == expected


@pytest.mark.parametrize("raw, body, status", [
    ("1840276451089" + "%02d" % (97 - 1840276451089 % 97), "1840276451089", NirStatus.OK),
    ("1 84 02 76 451 089 " + "%02d" % (97 - 1840276451089 % 97), "1840276451089", NirStatus.OK),
    ("1.84.02.76.451.089", "1840276451089", NirStatus.NO_KEY),
    ("1840276451089" + "%02d" % ((97 - 1840276451089 % 97) % 97 + 1), None, NirStatus.BAD_KEY),
    ("280012A004001" + "%02d" % (97 - 2800119004001 % 97), "280012A004001", NirStatus.OK),
    ("280012b004001" + "%02d" % (97 - 2800118004001 % 97), "280012B004001", NirStatus.OK),
    ("3840276451089" + "%02d" % (97 - 3840276451089 % 97), None, NirStatus.PROVISIONAL),
    ("18402764510", None, NirStatus.MALFORMED), ("ABCDEFGHIJKLMNO", None, NirStatus.MALFORMED),
    ("1841376451089" + "%02d" % (97 - 1841376451089 % 97), None, NirStatus.MALFORMED),  # month 13
    ("", None, NirStatus.MISSING), (None, None, NirStatus.MISSING),
])
def test_nirs(raw, body, status):
    assert normalise_nir(raw) == (body, status)


@pytest.mark.parametrize("raw, expected", [
    ("14/03/1956", PartialDate(1956, 3, 14)), ("14-03-1956", PartialDate(1956, 3, 14)),
    ("14.03.1956", PartialDate(1956, 3, 14)), ("1956-03-14", PartialDate(1956, 3, 14)),
    ("1956-03-14 00:00:00", PartialDate(1956, 3, 14)), ("19560314", PartialDate(1956, 3, 14)),
    ("14031956", PartialDate(1956, 3, 14)), ("4/3/1956", PartialDate(1956, 3, 4)),
    ("00/03/1956", PartialDate(1956, 3, 0)), ("1956-03-00", PartialDate(1956, 3, 0)),
    ("03/1956", PartialDate(1956, 3, 0)), ("1956", PartialDate(1956, 0, 0)), ("00/00/1956", PartialDate(1956, 0, 0)),
    ("14/03/56", PartialDate(1956, 3, 14)), ("03/12/05", PartialDate(2005, 12, 3)),
    ("03/25/1956", PartialDate(1956, 3, 25)),  # month-first: 25 cannot be a month
    ("31/02/2001", None), ("29/02/2001", None), ("29/02/2000", PartialDate(2000, 2, 29)),
    ("12/00/1956", None), ("hier", None), ("", None), ("1800-01-01", None),
    (dt.date(1956, 3, 14), PartialDate(1956, 3, 14)), (dt.datetime(1956, 3, 14, 8), PartialDate(1956, 3, 14)),
])
def test_dates(raw, expected):
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("1", 1), ("2", 2), ("M", 1), ("F", 2), ("H", 1), ("h", 1), ("f", 2), ("Homme", 1), ("FEMME", 2),
    ("Féminin", 2), ("masculin", 1), (1, 1), (2.0, 2), ("9", None), ("X", None), ("", None),
])
def test_sex_codes(raw, expected):
    assert normalise_sex(raw) == expected


@pytest.mark.parametrize("raw, code, dept", [
    ("75056", "75056", "75"), ("1001", "01001", "01"), (1001, "01001", "01"), ("2A004", "2A004", "2A"),
    ("2b033", "2B033", "2B"), ("97411", "97411", "974"), ("20004", None, None), ("7505", "07505", "07"),
    ("ABCDE", None, None), ("", None, None),
])
def test_communes(raw, code, dept):
    assert commune_code(raw) == code
    if code:
        assert departement_of_commune(code) == dept


@pytest.mark.parametrize("postcode, dept", [
    ("75011", "75"), ("20000", "2A"), ("20100", "2A"), ("20200", "2B"), ("20600", "2B"), ("97400", "974"),
    ("1000", "01"), ("00000", None), ("ABCDE", None),
])
def test_postcodes(postcode, dept):
    assert departement_of_postcode(postcode) == dept


text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60)


@settings(max_examples=300)
@given(text)
def test_name_normalisers_never_crash_and_are_idempotent(value):
    once = surname(value)
    assert once is None or (once.isalpha() and once.isascii() and once.isupper())
    if once:
        assert surname(once) == once
    names = given_names(value)
    if names:
        assert given_names(names[1]) == (names[1], names[1])


@settings(max_examples=300)
@given(st.one_of(text, st.integers(), st.floats(allow_nan=True), st.none()))
def test_identifier_normalisers_never_crash(value):
    body, status = normalise_nir(value)
    assert (body is None) == (status not in (NirStatus.OK, NirStatus.NO_KEY))
    if body:
        assert normalise_nir(body)[0] == body
    parsed = parse_date(value)
    if parsed and parsed.complete:
        assert parse_date(f"{parsed.year:04d}-{parsed.month:02d}-{parsed.day:02d}") == parsed
    code = commune_code(value) if not isinstance(value, float) or value == value else None
    if code:
        assert commune_code(code) == code
    sex = normalise_sex(value) if value is not None else None
    assert sex in (None, 1, 2)
    if sex:
        assert normalise_sex(str(sex)) == sex
