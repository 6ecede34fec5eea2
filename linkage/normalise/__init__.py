"""French normalisation of identifiers, run by each holder before encoding.

Every normaliser maps one raw value to a canonical value (or ``None`` when the value is
missing or unusable) and never raises on bad input. They are applied once per distinct
value (:func:`map_distinct`), since most values repeat.
"""

from linkage.normalise.dates import PartialDate, parse_date
from linkage.normalise.names import given_names, split_annotation, surname
from linkage.normalise.nir import NirStatus, normalise_nir
from linkage.normalise.places import commune_code, departement_of_commune, departement_of_postcode
from linkage.normalise.sex import normalise_sex
from linkage.normalise.text import ascii_upper, map_distinct, strip_accents

__all__ = [
    "PartialDate", "parse_date", "given_names", "split_annotation", "surname", "NirStatus", "normalise_nir",
    "commune_code", "departement_of_commune", "departement_of_postcode", "normalise_sex", "ascii_upper",
    "map_distinct", "strip_accents",
]
