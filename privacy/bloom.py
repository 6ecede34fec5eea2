"""Bloom-filter encodings of fuzzy fields (names), keyed and hardened.

A value is split into q-grams (bigrams by default, padded with '_' at both ends). Each
q-gram sets ``hashes`` bit positions drawn by *keyed random hashing*: the positions come
from HMAC-SHA-256(subkey, q-gram) and its continuation blocks, independently per q-gram,
not from the double-hashing scheme (h1 + i*h2) whose structure published attacks exploit.
Similar values share q-grams and so share bits; the Dice coefficient of two filters
estimates the similarity of the values.

Hardening options (all keyed, all deterministic):

- ``salt``: a stable record attribute (e.g. birth year) mixed into every q-gram's hash, so
  the same name gives unrelated filters for different salts and whole-filter frequencies
  no longer follow name frequencies; records only compare when the salt agrees.
- ``balance``: the filter is concatenated with its complement and the bits permuted by a
  keyed permutation: every filter has exactly half of its bits set, which hides the
  length of the value and flattens bit frequencies (Schnell & Borgs 2016).
- ``xor_fold``: the two halves are XORed together, halving the length and mixing bits.

The number of positions per q-gram is set in the spec (it must be the same for every
holder); about ``bits * ln 2 / typical_qgrams`` keeps about half of the bits set.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from harmonie.errors import HarmonieError


@dataclass(frozen=True)
class BloomSettings:
    bits: int = 1024
    qgram: int = 2
    hashes: int = 40
    balance: bool = False
    xor_fold: bool = False

    def validate(self) -> "BloomSettings":
        if self.bits < 64 or self.bits > 8192 or self.bits & (self.bits - 1):
            raise HarmonieError("bloom bits must be a power of two between 64 and 8192")
        if not 1 <= self.qgram <= 4:
            raise HarmonieError("bloom qgram must be between 1 and 4")
        if not 1 <= self.hashes <= 256:
            raise HarmonieError("bloom hashes must be between 1 and 256")
        if self.output_bits % 64:
            raise HarmonieError("bloom filters must keep a multiple of 64 bits (xor_fold halves them)")
        return self

    @property
    def output_bits(self) -> int:
        bits = self.bits * 2 if self.balance else self.bits
        return bits // 2 if self.xor_fold else bits

    @property
    def output_bytes(self) -> int:
        return self.output_bits // 8


def qgrams(value: str, q: int) -> list[str]:
    """Padded q-grams: 'ANNA', 2 -> ['_A', 'AN', 'NN', 'NA', 'A_'] (duplicates kept once)."""
    padded = "_" * (q - 1) + value + "_" * (q - 1)
    return list(dict.fromkeys(padded[i:i + q] for i in range(len(padded) - q + 1)))


def _positions(subkey: bytes, feature: bytes, count: int, bits: int) -> np.ndarray:
    """``count`` bit positions for one feature: 16-bit words of HMAC(subkey, feature || block)."""
    stream = b"".join(hmac.digest(subkey, feature + block.to_bytes(2, "big"), "sha256")
                      for block in range((2 * count + 31) // 32))
    return np.frombuffer(stream[: 2 * count], dtype=">u2").astype(np.int64) % bits


def _keyed_permutation(subkey: bytes, n: int) -> np.ndarray:
    """A permutation of range(n) ordered by HMAC(subkey, position): keyed and reproducible."""
    ranks = [hmac.digest(subkey, b"perm" + i.to_bytes(4, "big"), "sha256") for i in range(n)]
    return np.array(sorted(range(n), key=ranks.__getitem__), dtype=np.int64)


class BloomEncoder:
    """Encode text values into Bloom filters under one subkey (one field of one project)."""

    def __init__(self, subkey: bytes, settings: BloomSettings):
        self.subkey = subkey
        self.settings = settings.validate()
        self._permutation = _keyed_permutation(subkey, 2 * settings.bits) if settings.balance else None

    def encode(self, values: Sequence[str | None], salts: Sequence[str | None] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(filters as an (n, output_bytes) uint8 array, present mask).

        Each distinct (salt, value) is encoded once. Missing values (None or empty) and
        records whose salt is missing when salting give an all-zero row marked absent.
        """
        s = self.settings
        n = len(values)
        salts = [""] * n if salts is None else list(salts)
        keys = [(salt, value) if value and salt is not None else None for salt, value in zip(salts, values)]
        distinct = sorted({k for k in keys if k is not None})
        index = {k: i for i, k in enumerate(distinct)}
        filters = self.encode_distinct(distinct)
        rows = np.fromiter((index[k] if k is not None else -1 for k in keys), dtype=np.int64, count=n)
        present = rows >= 0
        out = np.zeros((n, s.output_bytes), dtype=np.uint8)
        out[present] = filters[rows[present]]
        return out, present

    def encode_distinct(self, distinct: list[tuple[str, str]]) -> np.ndarray:
        """Filters of distinct (salt, value) pairs, as an (n, output_bytes) uint8 array."""
        s = self.settings
        grams_of = [qgrams(value, s.qgram) for _, value in distinct]
        features = sorted({(salt, g) for (salt, _), grams in zip(distinct, grams_of) for g in grams})
        feature_index = {f: i for i, f in enumerate(features)}
        feature_bits = np.zeros((len(features), s.bits), dtype=bool)
        for i, (salt, gram) in enumerate(features):
            feature = salt.encode("utf-8") + b"\x1f" + gram.encode("utf-8") + b"\x1f"
            feature_bits[i, _positions(self.subkey, feature, s.hashes, s.bits)] = True
        packed = np.packbits(feature_bits, axis=1)
        flat = [feature_index[(salt, g)] for (salt, _), grams in zip(distinct, grams_of) for g in grams]
        starts = np.cumsum([0] + [len(g) for g in grams_of[:-1]]) if distinct else np.zeros(0, dtype=np.int64)
        filters = (np.bitwise_or.reduceat(packed[flat], starts, axis=0) if distinct
                   else np.zeros((0, s.bits // 8), dtype=np.uint8))
        if s.balance:
            bits = np.unpackbits(filters, axis=1)
            filters = np.packbits(np.concatenate([bits, 1 - bits], axis=1)[:, self._permutation], axis=1)
        if s.xor_fold:
            half = filters.shape[1] // 2
            filters = filters[:, :half] ^ filters[:, half:]
        return filters


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two packed filters (reference implementation, one pair)."""
    ones_a = int(np.unpackbits(a).sum())
    ones_b = int(np.unpackbits(b).sum())
    if ones_a + ones_b == 0:
        return 0.0
    return 2.0 * int(np.unpackbits(a & b).sum()) / (ones_a + ones_b)
