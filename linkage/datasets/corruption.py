"""The corruption model: how identifiers get damaged between a person and a record.

Every function here is deterministic given the random generator it is passed. Per-row
string edits (typos) loop in Python over the rows they corrupt only (a few % of records);
everything else is vectorised.
"""

from __future__ import annotations

import numpy as np

from linkage.normalise.text import strip_accents

# AZERTY neighbours (French keyboards) for keyboard typos.
_AZERTY_ROWS = ("AZERTYUIOP", "QSDFGHJKLM", "WXCVBN")
_KEY_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_AZERTY_ROWS):
    for _c, _ch in enumerate(_row):
        near = []
        if _c > 0:
            near.append(_row[_c - 1])
        if _c + 1 < len(_row):
            near.append(_row[_c + 1])
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_AZERTY_ROWS) and _c < len(_AZERTY_ROWS[_other]):
                near.append(_AZERTY_ROWS[_other][_c])
        _KEY_NEIGHBOURS[_ch] = "".join(near)

# French spellings that sound alike (each pair applied in either direction).
PHONETIC_PAIRS: tuple[tuple[str, str], ...] = (
    ("EAU", "O"), ("AU", "O"), ("PH", "F"), ("QU", "K"), ("CK", "K"), ("Y", "I"),
    ("LL", "L"), ("TT", "T"), ("NN", "N"), ("SS", "S"), ("RR", "R"), ("MM", "M"),
    ("AI", "E"), ("EI", "E"), ("ER", "É"), ("ET", "É"), ("EZ", "É"), ("AN", "EN"),
    ("C", "K"), ("S", "Z"), ("TH", "T"), ("GN", "NI"), ("X", "S"), ("H", ""),
)
# Characters an OCR or a hurried reader confuses.
OCR_PAIRS: tuple[tuple[str, str], ...] = (
    ("RN", "M"), ("M", "RN"), ("CL", "D"), ("I", "L"), ("L", "I"), ("E", "F"), ("O", "Q"),
    ("U", "V"), ("V", "U"), ("B", "8"), ("S", "5"), ("G", "C"), ("N", "H"),
)

TYPO_KINDS = ("keyboard", "phonetic", "ocr", "deletion", "insertion", "transposition")


def title_case(value: str) -> str:
    """Civil-status capitals to the mixed case hospitals type: 'LE GOFF' -> 'Le Goff'."""
    out, upper_next = [], True
    for ch in value.lower():
        out.append(ch.upper() if upper_next else ch)
        upper_next = ch in " -'"
    return "".join(out)


def _replace_one(value: str, pairs: tuple[tuple[str, str], ...], rng: np.random.Generator) -> str | None:
    candidates = []
    for a, b in pairs:
        for src, dst in ((a, b), (b, a)):
            if src and src in value:
                candidates.append((src, dst))
    if not candidates:
        return None
    src, dst = candidates[rng.integers(len(candidates))]
    positions = [i for i in range(len(value)) if value.startswith(src, i)]
    pos = positions[rng.integers(len(positions))]
    return value[:pos] + dst + value[pos + len(src):]


def typo(value: str, kind: str, rng: np.random.Generator) -> str:
    """One typo of the given kind; always returns a value different from ``value``."""
    letters = [i for i, ch in enumerate(value) if ch.isalpha()]
    if not letters:
        return value + "X"
    out = None
    if kind == "phonetic":
        out = _replace_one(value, PHONETIC_PAIRS, rng)
    elif kind == "ocr":
        out = _replace_one(value, OCR_PAIRS, rng)
    elif kind == "deletion" and len(letters) > 2:
        i = letters[rng.integers(len(letters))]
        out = value[:i] + value[i + 1:]
    elif kind == "insertion":
        i = letters[rng.integers(len(letters))]
        out = value[: i + 1] + value[i] + value[i + 1:]
    elif kind == "transposition" and len(value) > 2:
        i = int(rng.integers(len(value) - 1))
        out = value[:i] + value[i + 1] + value[i] + value[i + 2:]
    if out is None or out == value:  # keyboard typo, and the fallback for the others
        i = letters[rng.integers(len(letters))]
        base = strip_accents(value[i]).upper()
        near = _KEY_NEIGHBOURS.get(base, "E")
        repl = near[rng.integers(len(near))]
        repl = repl if value[i].isupper() else repl.lower()
        out = value[:i] + repl + value[i + 1:]
        if out == value:
            out = value + "E"
    return out


def typos(values: list[str], rng: np.random.Generator, kind_weights: np.ndarray | None = None) -> list[str]:
    """A typo in each value; the kind is drawn per value (uniform unless weighted)."""
    kinds = rng.choice(len(TYPO_KINDS), size=len(values), p=kind_weights)
    return [typo(v, TYPO_KINDS[k], rng) for v, k in zip(values, kinds)]


def digit_typo(value: str, rng: np.random.Generator) -> str:
    """Substitute one digit or swap two adjacent digits (the usual ways a number is mistyped)."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    if len(digits) >= 2 and rng.random() < 0.4:
        j = int(rng.integers(len(digits) - 1))
        a, b = digits[j], digits[j + 1]
        if value[a] != value[b]:
            chars = list(value)
            chars[a], chars[b] = chars[b], chars[a]
            return "".join(chars)
    i = digits[rng.integers(len(digits))]
    new = str((int(value[i]) + 1 + int(rng.integers(9))) % 10)
    return value[:i] + new + value[i + 1:]


def pick(rng: np.random.Generator, rate: float, eligible: np.ndarray) -> np.ndarray:
    """Indices of eligible rows hit by a corruption of the given rate (Bernoulli per row)."""
    hit = eligible & (rng.random(len(eligible)) < rate)
    return np.flatnonzero(hit)
