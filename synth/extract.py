"""What each holder hands the data team: its study variables keyed by linkage id, no names.

In a deployment the data team (inside the secure environment) receives the links from the
linkage unit and, from each holder, an extract of the variables the study needs where the
holder's own id is replaced by the linkage id of its crosswalk. Names, NIRs, communes and
the holders' ids never leave the holders; the residence commune goes out as a département.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, read_table, write_parquet
from linkage.normalise import commune_code, departement_of_commune, map_distinct
from synth.schema import check_extra_columns

LINKAGE_ID = "linkage_id"

EXTRACTS: dict[str, dict[str, tuple[str, list[str]]]] = {
    # role: {table: (holder id column, study columns)}
    "cohort": {
        "cohort_patients": ("cohort_id", [
            "sex", "birth_date", "commune_code", "cancer_type", "subtype", "stage", "diagnosis_date", "surgery",
            "chemotherapy", "radiotherapy", "hormone_therapy", "targeted_therapy", "death_date", "last_news_date"]),
    },
    "snds": {
        "snds_beneficiaries": ("snds_id", ["sex", "birth_date", "death_date", "death_cause"]),
        "snds_stays": ("snds_id", ["admission_date", "discharge_date", "main_diagnosis", "ghm", "cost_eur"]),
        "snds_dispensings": ("snds_id", ["dispensing_date", "atc_code", "quantity", "cost_eur"]),
    },
}
OPTIONAL_EXTRACTS: dict[str, dict[str, str]] = {
    # role: {table: holder id column}; every other column of the table is a study variable, sent when the
    # holder has the table: the cohort's case-report form (extra clinical variables, synth.schema.extra_columns)
    "cohort": {"cohort_variables": "cohort_id"},
}


def _departement(value) -> str | None:
    code = commune_code(value)
    return departement_of_commune(code) if code else None


def pseudonymise(table: pd.DataFrame, id_column: str, crosswalk: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Replace the holder id by the linkage id; rows the holder did not encode are dropped (counted)."""
    mapping = pd.Series(crosswalk["linkage_id"].to_numpy(), index=crosswalk["local_id"].to_numpy())
    if not mapping.index.is_unique:
        raise HarmonieError("the crosswalk maps a local id to more than one linkage id")
    linkage_ids = table[id_column].map(mapping)
    kept = linkage_ids.notna().to_numpy()
    out = table.loc[kept].drop(columns=[id_column])
    out.insert(0, LINKAGE_ID, linkage_ids[kept].to_numpy())
    if "commune_code" in out.columns:
        out["departement"] = map_distinct(out.pop("commune_code"), _departement)
    return out.reset_index(drop=True), int((~kept).sum())


def linked_ids(links_path: str | Path) -> set[str]:
    """Every linkage id appearing in a links file (either side)."""
    links = read_table(links_path, columns=["left_id", "right_id"], what="links")
    return set(links["left_id"].to_pylist()) | set(links["right_id"].to_pylist())


def check_run(crosswalk_path: str | Path, links_path: str | Path) -> None:
    """The crosswalk comes from the encoding that was linked: its run id (written by `harmonie encode` into the
    crosswalk and the encoded file) is one of the two the links record. A crosswalk from a rerun (another key, or a
    run killed between its files) would otherwise pseudonymise nobody, or the wrong people."""
    import json

    import pyarrow.parquet as pq

    def entry(path, key):
        try:
            return (pq.read_schema(path).metadata or {}).get(key)
        except (OSError, pa.ArrowInvalid):
            return None  # read_table reports an unreadable file with its own message

    mine = entry(crosswalk_path, b"harmonie.run_id")
    linked = entry(links_path, b"harmonie.run_ids")
    if mine is None or linked is None:
        return  # made by the Python API or an older Harmonie: nothing to compare
    try:
        runs = json.loads(linked)
        runs = {r for r in runs.values() if isinstance(r, str)} if isinstance(runs, dict) else set()
    except (ValueError, UnicodeDecodeError, RecursionError):
        runs = set()
    if runs and mine.decode("utf-8", "replace") not in runs:  # no run id recorded: nothing to compare
        raise HarmonieError(f"{crosswalk_path} comes from another `harmonie encode` run than the encoded file that was "
                            f"linked into {links_path} (another key or input, or a rerun): use the crosswalk written "
                            "with that encoded file, or encode and link again")


def make_extract(role: str, data_dir: str | Path, crosswalk_path: str | Path,
                 only: set[str] | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
    """The holder's extract tables and a count of rows kept and left out per table.

    ``only``: linkage ids to extract (those that were linked): the holder sends the data
    team its linked patients' variables and nothing about anyone else.
    """
    import pyarrow.compute as pc

    if role not in EXTRACTS:
        raise HarmonieError(f"unknown holder role {role!r}: choose one of {', '.join(EXTRACTS)}")
    crosswalk = read_table(crosswalk_path, columns=["local_id", "linkage_id"], what="crosswalk").to_pandas()
    if only is not None:
        crosswalk = crosswalk[crosswalk["linkage_id"].isin(only)]
        if crosswalk.empty:
            raise HarmonieError("none of your linkage ids is in the links file: were they made with your key?")
    keep = pa.array(crosswalk["local_id"].to_numpy(), type=pa.string())
    tables, counts = {}, {}
    for name, (id_column, columns) in EXTRACTS[role].items():
        path = Path(data_dir) / f"{name}.parquet"
        if not path.exists():
            raise HarmonieError(f"{role} extract needs {path.name} in {data_dir}")
        raw = read_table(path, columns=[id_column, *columns])
        wanted = raw.filter(pc.is_in(raw[id_column].cast(pa.string()), value_set=keep)).to_pandas()
        tables[name], _ = pseudonymise(wanted, id_column, crosswalk)
        counts[name] = {"rows_in": raw.num_rows, "rows_kept": len(tables[name]),
                        "rows_left_out": raw.num_rows - len(tables[name])}
    for name, id_column in OPTIONAL_EXTRACTS.get(role, {}).items():
        path = Path(data_dir) / f"{name}.parquet"
        if not path.exists():
            continue
        raw = read_table(path, kinds={id_column: "text", "*": "scalar"})
        if id_column not in raw.column_names:
            raise HarmonieError(f"{path} has no {id_column} column: it must key each row by your patient id")
        check_extra_columns(raw.schema, str(path), [id_column])  # nothing identifying leaves the holder
        wanted = raw.filter(pc.is_in(raw[id_column].cast(pa.string()), value_set=keep)).to_pandas()
        tables[name], _ = pseudonymise(wanted, id_column, crosswalk)
        counts[name] = {"rows_in": raw.num_rows, "rows_kept": len(tables[name]),
                        "rows_left_out": raw.num_rows - len(tables[name])}
    return tables, counts


def write_extract(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> None:
    out = ensure_output_dir(out_dir)
    for name, frame in tables.items():
        write_parquet(pa.Table.from_pandas(frame, preserve_index=False), out / f"{name}.parquet")


def read_extract(role: str, directory: str | Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for name, (_, columns) in EXTRACTS[role].items():
        path = Path(directory) / f"{name}.parquet"
        if not path.exists():
            raise HarmonieError(f"the {role} extract in {directory} has no {path.name}")
        wanted = [LINKAGE_ID, *("departement" if c == "commune_code" else c for c in columns)]
        tables[name] = read_table(path, columns=wanted).to_pandas()
    for name in OPTIONAL_EXTRACTS.get(role, {}):
        path = Path(directory) / f"{name}.parquet"
        if path.exists():
            table = read_table(path, kinds={LINKAGE_ID: "text", "*": "scalar"})
            check_extra_columns(table.schema, str(path), [LINKAGE_ID])
            tables[name] = table.to_pandas()
    return tables
