"""Surnames and given names, French style.

Canonical forms are upper-case ASCII letters only: accents, case, spaces, hyphens,
apostrophes and dots are removed, so 'Le Goff', 'LE-GOFF' and 'LEGOFF' agree, as do
"D'Almeida" and 'DALMEIDA'. Particles are kept (they are part of the name) and put back
in front when written after it ('FONTAINE (DE LA)' -> 'DELAFONTAINE'). Civil-status
annotations are split: 'MARTIN NÉE DUPONT' and 'DUPONT ÉPOUSE MARTIN' both give the use
name MARTIN and the birth name DUPONT.
"""

from __future__ import annotations

import re

from linkage.normalise.text import ascii_upper

# "<use> NEE <birth>"
_NEE = re.compile(r"^(?P<use>.+?)[\s,]+(?:NEE|NE)[\s.:]+(?P<birth>.+)$")
# "<birth> EPOUSE|EP.|EPSE|VEUVE|VVE <use>"
_EPOUSE = re.compile(r"^(?P<birth>.+?)[\s,]+(?:EPOUSE|EPSE|EP|VEUVE|VVE|VEUF)\b[\s.:]*(?P<use>.+)$")
_TRAILING_PARTICLE = re.compile(r"^(?P<name>[^()]+?)\s*\((?P<particle>(?:DE LA|DE L'|DE|DU|DES|LE|LA|LES|D'|L')\s*)\)$")
_NOT_LETTER = re.compile(r"[^A-Z]")
_GIVEN_SEPARATORS = re.compile(r"[\s,;/]+")
_TITLES = {"M", "MR", "MME", "MLLE", "MONSIEUR", "MADAME", "MADEMOISELLE", "DR"}


def split_annotation(value: str) -> tuple[str, str | None]:
    """(use-or-main name, birth name from an annotation or None), both still in text form."""
    text = ascii_upper(value).strip()
    match = _NEE.match(text)
    if match:
        return match["use"], match["birth"]
    match = _EPOUSE.match(text)
    if match:
        return match["use"], match["birth"]
    return text, None


def _canonical(text: str) -> str | None:
    text = text.strip()
    match = _TRAILING_PARTICLE.match(text)
    if match:
        text = f"{match['particle']} {match['name']}"
    letters = _NOT_LETTER.sub("", text)
    return letters or None


def surname(value: str, part: str = "main") -> str | None:
    """Canonical surname. ``part``: 'main' (the name as written, annotation removed),
    'birth' (the birth name an annotation gives, else None)."""
    main, birth = split_annotation(value)
    if part == "birth":
        return _canonical(birth) if birth else None
    return _canonical(main)


def given_names(value: str) -> tuple[str, str] | None:
    """(first given name, all given names joined) in canonical form, or None.

    'Marie-Claire Anne' -> ('MARIECLAIRE', 'MARIECLAIREANNE'); 'JEAN PIERRE' ->
    ('JEAN', 'JEANPIERRE'): a lost hyphen still agrees on the joined form.
    """
    tokens = [t for t in _GIVEN_SEPARATORS.split(ascii_upper(value)) if t]
    while len(tokens) > 1 and tokens[0].rstrip(".") in _TITLES:
        tokens.pop(0)
    names = [c for c in (_canonical(t) for t in tokens) if c]
    if not names:
        return None
    return names[0], "".join(names)
