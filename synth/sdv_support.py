"""The one place Harmonie imports SDV: lazily (it takes seconds), quietly, with explicit metadata.

SDV detects metadata and may treat codes as personal data to be faked; Harmonie always
states every column's sdtype from :mod:`synth.schema` instead.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet() -> Iterator[None]:
    """Silence SDV's progress bars and advisory warnings (Harmonie reports its own stages).

    SDV draws a tqdm bar on stderr whenever a synthesizer has constraints; errors still
    propagate as exceptions."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# Harmonie's dates are days. Stated, SDV checks a column's dates in one vectorised parse; unstated, it guesses
# the format of 1,000 values one by one, ~0.3 s per date column at each of two validations per fitted stratum.
DATE_FORMAT = "%Y-%m-%d"


def metadata(tables: dict[str, dict[str, str]], relationships: list[tuple[str, str, str]] = ()):
    """SDV metadata from {table: {column: sdtype}}; an "id" sdtype column is the table's key.

    ``relationships`` are (parent table, child table, key column) triples.
    """
    from sdv.metadata import Metadata

    spec = {"tables": {}, "relationships": []}
    for table, columns in tables.items():
        entry = {"columns": {c: {"sdtype": sdtype, **({"datetime_format": DATE_FORMAT} if sdtype == "datetime" else {})}
                             for c, sdtype in columns.items()}}
        keys = [c for c, sdtype in columns.items() if sdtype == "id"]
        if keys and not any(child == table for _, child, _ in relationships):
            entry["primary_key"] = keys[0]
        spec["tables"][table] = entry
    for parent, child, key in relationships:
        spec["relationships"].append({"parent_table_name": parent, "child_table_name": child,
                                      "parent_primary_key": key, "child_foreign_key": key})
    with quiet():
        return Metadata.load_from_dict(spec)


def version() -> str:
    from importlib.metadata import version as package_version

    return package_version("sdv")
