"""NIR normalisation: spaces and separators removed, key checked, unusable NIRs flagged.

A NIR that is provisional (first digit 3, 4, 7 or 8: a number awaiting registration),
malformed, or whose key does not match is treated as missing, and the reason is kept so
the holder can see how many NIRs were set aside and why.
"""

from __future__ import annotations

import enum
import re

from linkage.nir import nir_key
from linkage.normalise.text import ascii_upper


class NirStatus(str, enum.Enum):
    OK = "ok"
    NO_KEY = "no_key"            # 13 characters, no key to check: kept
    MISSING = "missing"
    MALFORMED = "malformed"
    PROVISIONAL = "provisional"
    BAD_KEY = "bad_key"


_SEPARATORS = re.compile(r"[\s.\-_/]")
_BODY = re.compile(r"^[12]\d{2}(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2A|2B)\d{6}$")


def normalise_nir(value) -> tuple[str | None, NirStatus]:
    """(13-character NIR body, status); the body is None unless the status is OK or NO_KEY."""
    if value is None:
        return None, NirStatus.MISSING
    text = _SEPARATORS.sub("", ascii_upper(str(value)))
    if not text:
        return None, NirStatus.MISSING
    if text[0] in "3478" and len(text) in (13, 15):
        return None, NirStatus.PROVISIONAL
    if len(text) not in (13, 15) or not _BODY.match(text[:13]) or (len(text) == 15 and not text[13:].isdigit()):
        return None, NirStatus.MALFORMED
    body = text[:13]
    if len(text) == 13:
        return body, NirStatus.NO_KEY
    if nir_key(body) != int(text[13:]):
        return None, NirStatus.BAD_KEY
    return body, NirStatus.OK
