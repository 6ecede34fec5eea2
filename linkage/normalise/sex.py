"""Sex codes: 1/2 (INSEE, NIR), M/F, H/F, words, in any case -> 1 (male) or 2 (female)."""

from __future__ import annotations

from linkage.normalise.text import ascii_upper

_MALE = {"1", "M", "H", "HOMME", "MASCULIN", "MASC", "MALE", "MAN"}
_FEMALE = {"2", "F", "FEMME", "FEMININ", "FEM", "FEMALE", "WOMAN"}


def normalise_sex(value) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if value in (1, 2) else None
    text = ascii_upper(str(value)).strip().rstrip(".")
    if text in _MALE:
        return 1
    if text in _FEMALE:
        return 2
    return None
