"""Text helpers shared by the normalisers."""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Callable

import numpy as np
import pandas as pd

_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})


def strip_accents(value: str) -> str:
    """'Lefèvre' -> 'Lefevre', 'Noël' -> 'Noel', 'Œuvrard' -> 'Oeuvrard'."""
    decomposed = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def ascii_upper(value: str) -> str:
    """Upper case without accents, NUL and control characters removed."""
    cleaned = "".join(ch for ch in strip_accents(value) if ch.isprintable())
    return cleaned.upper()


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def map_distinct(values: pd.Series | np.ndarray | list, function: Callable[[Any], Any]) -> list:
    """``[function(v) for v in values]``, computing ``function`` once per distinct value.

    Missing values (None, NaN, NaT, blank strings) map to ``None`` without a call.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = [None if is_missing(u) else function(u) for u in uniques]
    lookup = np.empty(len(mapped) + 1, dtype=object)
    lookup[:-1] = mapped
    lookup[-1] = None
    return list(lookup[codes])
