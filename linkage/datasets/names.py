"""French name vocabularies with a realistic skew of frequencies.

Surnames: the embedded most common ones first, then a long tail of rare surnames built
from French roots and endings (France has about 1.3 million distinct surnames), with
frequencies ``p(rank) ∝ 1 / (rank + offset)``: the most common surname covers about 0.3%
of people and the ten most common about 2.5%, as in the INSEE birth registers.
First names: one list per sex and birth era, skewed the same way, compound names kept.

``concentration`` (the ``name_concentration`` parameter) sharpens both skews, from the
register frequencies at 0 to ``p(rank) ∝ rank^-1.2`` at 1 (the commonest surname carried
by ~20% of people, the ten commonest by ~50%; the commonest given name by ~35%), as in
populations where a few family names dominate.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from linkage.datasets.reference import (
    COMMON_SURNAMES,
    FIRST_NAMES,
    SURNAME_ENDINGS,
    SURNAME_MIDDLES,
    SURNAME_ROOTS,
)

ERAS = ("before1950", "1950to1969", "1970after")
ERA_BOUNDS = (1950, 1970)


@dataclass(frozen=True)
class Vocabulary:
    values: tuple[str, ...]
    cum: np.ndarray  # cumulative sampling probabilities

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cum, rng.random(n), side="right"), len(self.values) - 1)


def _skewed(values: list[str], offset: float) -> Vocabulary:
    weights = 1.0 / (np.arange(len(values)) + 1 + offset)
    cum = np.cumsum(weights)
    return Vocabulary(tuple(values), cum / cum[-1])


def _concentrated(values: tuple[str, ...], offset: float, exponent: float, concentration: float) -> Vocabulary:
    """``p(rank) ∝ (rank + o)^-s`` with the offset shrinking to 0 and the exponent growing
    to ``exponent`` as ``concentration`` goes from 0 to 1 (smoothly, top share monotone)."""
    o = (offset + 1.0) ** (1.0 - concentration) - 1.0
    s = 1.0 + (exponent - 1.0) * concentration
    weights = (np.arange(len(values)) + 1 + o) ** -s
    cum = np.cumsum(weights)
    return Vocabulary(values, cum / cum[-1])


def _check(concentration: float) -> float:
    if not 0.0 <= concentration <= 1.0:
        raise ValueError(f"name concentration must be between 0 and 1 (got {concentration})")
    return float(concentration)


@lru_cache(maxsize=None)
def _surname_values() -> tuple[str, ...]:
    tail = {r + m + e for r in SURNAME_ROOTS for m in SURNAME_MIDDLES for e in SURNAME_ENDINGS}
    breton = {"LE " + name for name in list(sorted(tail))[::7]}
    rare = sorted((tail | breton) - set(COMMON_SURNAMES))
    np.random.default_rng(1).shuffle(rare)
    return tuple(COMMON_SURNAMES) + tuple(rare)


@lru_cache(maxsize=None)
def surnames(offset: float = 50.0, concentration: float = 0.0) -> Vocabulary:
    """Common surnames then a shuffled long tail, frequency ∝ 1/(rank + offset);
    sharper with ``concentration`` (see the module docstring)."""
    if _check(concentration) == 0.0:
        return _skewed(list(_surname_values()), offset)
    return _concentrated(_surname_values(), offset, 1.2, concentration)


@lru_cache(maxsize=None)
def first_names(sex: str, era: str, concentration: float = 0.0) -> Vocabulary:
    if _check(concentration) == 0.0:
        return _skewed(list(FIRST_NAMES[(sex, era)]), 3.0)
    return _concentrated(tuple(FIRST_NAMES[(sex, era)]), 3.0, 1.3, concentration)


def era_of(birth_year: np.ndarray) -> np.ndarray:
    """Index into :data:`ERAS` of each birth year."""
    return np.searchsorted(np.asarray(ERA_BOUNDS), birth_year, side="right")
