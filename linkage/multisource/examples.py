"""An example plan and its pair specs: each cohort with SNDS, and the cohorts with each other.

The pair specs are the shipped example specs with their two holders renamed after the
pair's sources (a source's holder name is part of its linkage ids, see
:mod:`linkage.multisource.plan`). Cohort x SNDS pairs use the indirect spec by default (no
NIR, no name on the SNDS side: how cohorts are linked to SNDS today); cohort x cohort pairs
the names spec (both programmes are hospitals: they hold names, birth dates, communes).
"""

from __future__ import annotations

import re

from harmonie.errors import HarmonieError
from linkage.spec import example_spec_text

_HOLDERS = re.compile(r"^\[holders\.cohort\]\n.*?(?=^\[(?!holders\.))", re.S | re.M)
ID_COLUMNS = {"snds": "snds_id"}  # every other (cohort) source: cohort_id, as the simulator writes it


def _holder_block(role: str) -> str:
    id_column = ID_COLUMNS.get(role, "cohort_id")
    return (f"[holders.{role}]\nid = \"{id_column}\"\n"
            f"events = {{ id = \"{id_column}\", finess = \"finess\", date = \"admission_date\" }}\n\n")


def pair_spec_text(example: str, left: str, right: str) -> str:
    """The example spec ``example`` (direct, names, indirect) with holders ``left`` and ``right``."""
    text = example_spec_text(example)
    if not _HOLDERS.search(text):  # pragma: no cover - the shipped specs all have the two holder blocks
        raise HarmonieError(f"example spec {example!r} has no [holders.cohort] block to rename")
    text = _HOLDERS.sub(lambda _: _holder_block(left) + _holder_block(right), text, count=1)
    text = re.sub(r'^name = "[^"]*"', f'name = "{left}-{right}"', text, count=1, flags=re.M)
    return text.replace('tolerance_holder = "cohort"', f'tolerance_holder = "{left}"')


def encoded_name(pair: str, source: str) -> str:
    return f"encoded/{pair}.{source}.parquet"


def example_plan(cohorts: list[str], *, snds_spec: str = "indirect", cohort_spec: str = "names",
                 name: str = "harmonie") -> dict[str, str]:
    """{file name: text}: ``plan.toml`` and one spec per pair (``<left>_<right>.toml``)."""
    if not cohorts or len(set(cohorts)) != len(cohorts) or "snds" in cohorts:
        raise HarmonieError("give distinct cohort names (not snds), e.g. canto,esme,odh")
    pairs = [(c, "snds", snds_spec) for c in cohorts]
    pairs += [(a, b, cohort_spec) for i, a in enumerate(cohorts) for b in cohorts[i + 1:]]
    files = {}
    lines = ["# Harmonie multi-source plan: which sources, which pairs, which spec (harmonie link-all --plan).",
             "# Paths are relative to this file. Every spec shares one [project] id and names its holders",
             "# after the pair's sources, so a holder's linkage ids are the same in each of its encodings.",
             "format_version = 1", f'name = "{name}"', ""]
    for c in cohorts:
        lines += [f"[sources.{c}]", "duplicate_free = true    # a cohort: one record per patient", ""]
    lines += ["[sources.snds]", "duplicate_free = false   # SNDS: a person may have a second id", ""]
    for left, right, example in pairs:
        pair = f"{left}-{right}"
        spec_file = f"{left}_{right}.toml"
        files[spec_file] = pair_spec_text(example, left, right)
        lines += ["[[pairs]]", f'left = "{left}"', f'right = "{right}"', f'spec = "{spec_file}"   # {example} scenario',
                  f'left_file = "{encoded_name(pair, left)}"', f'right_file = "{encoded_name(pair, right)}"', ""]
    lines += ["[clustering]", "check_contradictions = true   # score unlinked plan pairs that end up in one patient",
              "contradiction_margin = 0.0    # refuse a link when a direct pair's weight + the link's < this", ""]
    files["plan.toml"] = "\n".join(lines)
    return files


def holder_tables(source: str) -> tuple[str, str]:
    """The simulator's file names of a source's records and stays (``harmonie simulate --cohorts``)."""
    return ("snds_beneficiaries", "snds_stays") if source == "snds" else (f"{source}_patients", f"{source}_stays")


def encode_simulated(plan, population_dir, key, *, finess_map: bool = True) -> dict[str, list]:
    """Encode a simulated warehouse's files as the plan names them: what each holder would run with
    ``harmonie encode --holder SOURCE`` (tests, benchmarks, the README's Python tour). Returns each
    source's crosswalks (one per encoding), also written to ``crosswalks/<pair>.<source>.parquet``
    beside the plan's encoded files."""
    from pathlib import Path

    import pyarrow.parquet as pq

    from harmonie.io import ensure_output_dir, write_parquet
    from linkage.encoding import encode_holder, write_encoded
    from linkage.spec import load_spec

    population_dir = Path(population_dir)
    finess = pq.read_table(population_dir / "finess_entities.parquet") if finess_map else None
    tables: dict[str, tuple] = {}
    crosswalks: dict[str, list] = {}
    for pair in plan.pairs:
        spec = load_spec(pair.spec)
        groups = finess if any(f.establishment_groups for f in spec.fields) else None
        for source, path in ((pair.left, pair.left_file), (pair.right, pair.right_file)):
            if source not in tables:
                records, stays = holder_tables(source)
                tables[source] = (pq.read_table(population_dir / f"{records}.parquet"),
                                  pq.read_table(population_dir / f"{stays}.parquet"))
            result = encode_holder(spec, key, source, *tables[source], finess_map=groups)
            write_encoded(result.encoded, result.metadata, ensure_output_dir(Path(path).parent) / Path(path).name)
            crosswalks_dir = ensure_output_dir(Path(path).parent.parent / "crosswalks")
            write_parquet(result.crosswalk, crosswalks_dir / f"{pair.name}.{source}.parquet")
            crosswalks.setdefault(source, []).append(result.crosswalk.to_pandas())
    return crosswalks
