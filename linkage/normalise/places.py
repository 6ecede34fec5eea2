"""Commune codes (INSEE) and postcodes, with their département.

INSEE commune codes have 5 characters: département (2, or 2A/2B for Corsica) + 3 digits,
or overseas département (971-976) + 2 digits. A code read as a number loses its leading
zero ('1001' is Ain's 01001) and gets it back. Postcodes give the département too,
except that Corsican postcodes start with 20: 200xx-201xx are Corse-du-Sud (2A), 202xx-
206xx Haute-Corse (2B).
"""

from __future__ import annotations

import re

from linkage.normalise.text import ascii_upper

_COMMUNE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_POSTCODE = re.compile(r"^\d{5}$")


def _five_characters(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"[\s.]", "", ascii_upper(str(value)))
    if text.isdigit() and len(text) == 4:
        text = "0" + text
    return text


def commune_code(value) -> str | None:
    """The 5-character INSEE code, or None when the value is not one."""
    text = _five_characters(value)
    if not _COMMUNE.match(text) or text.startswith("00") or text.startswith("20"):
        return None
    return text


def departement_of_commune(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


def departement_of_postcode(value) -> str | None:
    text = _five_characters(value)
    if not _POSTCODE.match(text) or text.startswith("00"):
        return None
    if text.startswith("20"):
        return "2A" if text[2] in "01" else "2B"
    return text[:3] if text.startswith("97") else text[:2]
