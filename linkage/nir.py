"""The French NIR (numéro d'inscription au répertoire), also called the social security number.

Layout of the 13 characters before the 2-digit key:

====  =======  ==============================================================
pos   length   meaning
====  =======  ==============================================================
1     1        sex: 1 male, 2 female (3, 4, 7, 8 are provisional numbers)
2-3   2        birth year (last two digits)
4-5   2        birth month 01-12 (20-42 or 99 when unknown or special)
6-10  5        birth place: INSEE commune code (dept 2 + commune 3, or overseas
               dept 3 + commune 2, Corsica ``2A``/``2B``), or ``99`` + country
               code for people born abroad
11-13 3        order number within the place and month of birth
14-15 2        key = 97 - (the 13 digits mod 97), Corsica ``2A`` read as 19, ``2B`` as 18
====  =======  ==============================================================
"""

from __future__ import annotations

import numpy as np

CORSICA_AS_DIGITS = {"2A": "19", "2B": "18"}


def nir_digits(nir13: str) -> int:
    """The 13 first characters of a NIR as the integer the key is computed on."""
    if len(nir13) != 13:
        raise ValueError("a NIR body has 13 characters")
    dept = nir13[5:7].upper()
    body = nir13[:5] + CORSICA_AS_DIGITS.get(dept, dept) + nir13[7:]
    if not body.isdigit():
        raise ValueError("a NIR body holds digits only (and 2A/2B at positions 6-7)")
    return int(body)


def nir_key(nir13: str) -> int:
    """The control key (1..97) of a NIR body of 13 characters."""
    return 97 - nir_digits(nir13) % 97


def nir_keys(numbers: np.ndarray) -> np.ndarray:
    """Vectorised :func:`nir_key` over NIR bodies already read as integers (Corsica mapped)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    return (97 - numbers % 97).astype(np.int16)


def is_valid_nir(nir15: str) -> bool:
    """True when a 15-character NIR has a correct key (no other plausibility check)."""
    if len(nir15) != 15 or not nir15[13:].isdigit():
        return False
    try:
        return nir_key(nir15[:13]) == int(nir15[13:])
    except ValueError:
        return False
