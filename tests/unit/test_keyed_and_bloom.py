"""Keyed tokens and Bloom filters: known answers, key separation, similarity, hardening."""

import hashlib
import hmac

import numpy as np
import pytest

from harmonie.errors import HarmonieError
from privacy.bloom import BloomEncoder, BloomSettings, dice, qgrams
from privacy.keyed import MISSING, hmac_tokens, message, value_tokens

K1, K2 = bytes(range(32)), bytes(range(1, 33))


def test_tokens_are_truncated_hmac_sha256():
    msg = message("sex", "2")
    expected = int.from_bytes(hmac.new(K1, msg, hashlib.sha256).digest()[:8], "little", signed=True)
    assert hmac_tokens(K1, [msg])[0] == expected
    assert hmac_tokens(K1, [b"harmonie"])[0] == 7802353207358795655  # known answer


def test_value_tokens_separate_domains_and_keys_and_keep_missing():
    tokens = value_tokens(K1, "sex", ["1", "2", None, "1"])
    assert tokens[0] == tokens[3] != tokens[1] and tokens[2] == MISSING
    assert value_tokens(K1, "ym", ["1"])[0] != tokens[0]
    assert value_tokens(K2, "sex", ["1"])[0] != tokens[0]


def test_qgrams_are_padded_and_unique():
    assert qgrams("ANNA", 2) == ["_A", "AN", "NN", "NA", "A_"]
    assert qgrams("AB", 3) == ["__A", "_AB", "AB_", "B__"]


def _dice(encoder, a, b):
    filters, _ = encoder.encode([a, b])
    return dice(filters[0], filters[1])


def test_typos_stay_close_and_unrelated_names_do_not():
    encoder = BloomEncoder(K1, BloomSettings(hashes=90))
    typo = np.mean([_dice(encoder, a, b) for a, b in [("MARTIN", "MARTINS"), ("LEFEBVRE", "LEFEVRE"),
                                                    ("DUPONT", "DUPOND"), ("GIRARD", "GIRRAD")]])
    unrelated = np.mean([_dice(encoder, a, b) for a, b in [("MARTIN", "DUPONT"), ("LEFEBVRE", "GARCIA"),
                                                         ("BERNARD", "NGUYEN"), ("ROUSSEAU", "PETIT")]])
    assert typo > 0.8 and unrelated < 0.65 and typo - unrelated > 0.25


def test_about_half_of_the_bits_are_set_for_a_typical_surname():
    filters, present = BloomEncoder(K1, BloomSettings(hashes=90)).encode(["MARTIN", "BERNARD", "DUBOIS", None])
    fill = np.unpackbits(filters[:3], axis=1).mean(axis=1)
    assert np.all((fill > 0.4) & (fill < 0.6))
    assert present.tolist() == [True, True, True, False] and not filters[3].any()


def test_different_keys_give_unrelated_filters():
    a, _ = BloomEncoder(K1, BloomSettings()).encode(["MARTIN"])
    b, _ = BloomEncoder(K2, BloomSettings()).encode(["MARTIN"])
    assert dice(a[0], b[0]) < 0.6


def test_hardening_options():
    balanced, _ = BloomEncoder(K1, BloomSettings(balance=True)).encode(["AL", "MARIECLAIRE"])
    assert balanced.shape[1] == 256
    assert np.unpackbits(balanced, axis=1).sum(axis=1).tolist() == [1024, 1024]
    folded, _ = BloomEncoder(K1, BloomSettings(xor_fold=True)).encode(["MARTIN"])
    assert folded.shape[1] == 64
    salted = BloomEncoder(K1, BloomSettings(hashes=90))
    filters, _ = salted.encode(["MARTIN", "MARTIN", "MARTIN"], salts=["1956", "1957", "1956"])
    assert (filters[0] == filters[2]).all() and dice(filters[0], filters[1]) < 0.65
    _, present = salted.encode(["MARTIN"], salts=[None])
    assert not present[0]


@pytest.mark.parametrize("settings", [BloomSettings(bits=1000), BloomSettings(qgram=0), BloomSettings(hashes=0)])
def test_invalid_settings_are_refused(settings):
    with pytest.raises(HarmonieError):
        BloomEncoder(K1, settings)
