import pytest
from hypothesis import given, strategies as st

from linkage.nir import is_valid_nir, nir_digits, nir_key


def test_key_is_97_minus_the_body_mod_97():
    body = "1840276451089"
    assert nir_key(body) == 97 - 1840276451089 % 97
    assert is_valid_nir(body + f"{nir_key(body):02d}")


def test_corsica_is_read_as_19_and_18():
    assert nir_digits("180012A004001") == 1800119004001
    assert nir_digits("180012B004001") == 1800118004001
    assert nir_key("180012A004001") == 97 - 1800119004001 % 97
    assert nir_key("180012a004001") == nir_key("180012A004001")


@pytest.mark.parametrize("bad", ["", "12345", "1800175004001XX", "18001750040019", "A800175004001 12"])
def test_malformed_nirs_are_not_valid(bad):
    assert not is_valid_nir(bad)


@given(st.from_regex(r"[12][0-9]{2}(0[1-9]|1[0-2])[0-9]{8}", fullmatch=True), st.integers(0, 12), st.integers(1, 9))
def test_a_single_digit_substitution_breaks_the_key(body, position, delta):
    nir = body + f"{nir_key(body):02d}"
    changed = nir[:position] + str((int(nir[position]) + delta) % 10) + nir[position + 1:]
    assert is_valid_nir(nir)
    assert not is_valid_nir(changed)
