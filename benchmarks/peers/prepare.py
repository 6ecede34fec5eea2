"""Plaintext inputs for the peers, normalised exactly as Harmonie's holders normalise them.

Run with the main venv (it uses Harmonie's normalisers); the peers' own venv lacks our
package. For each dataset it writes a folder the peer runners read:

    left.parquet, right.parquet   id + the scenario's normalised fields (plaintext)
    truth.parquet                 left_id, right_id (local ids)
    same_person.parquet           right_id -> canonical right_id (a second SNDS id of one person)
    meta.json                     dataset, scenario, fields, sizes

    .venv/bin/python benchmarks/peers/prepare.py --population POP --scenario names --out DIR
    .venv/bin/python benchmarks/peers/prepare.py --febrl 4 --out DIR

Scenarios (the same fields as linkage/specs/*.toml):
- names: sex, birth_date (ISO, complete dates only), birth_ym, birth_year, birth_name, use_name,
  first_name, given_names, commune, departement;
- direct: the same plus nir (13 digits, provisional/invalid NIRs missing);
- indirect: sex, birth_ym, birth_year, commune, departement, death_date, stays (list of
  "FINESS|YYYY-MM-DD" admission tokens); no names, no NIR.
FEBRL k: FEBRL 4 as shipped; FEBRL 1-3 (deduplication sets) as the one-to-one linkage of
the originals ("-org") with their first duplicates ("-dup-0"); fields given_name, surname, date_of_birth,
postcode as our names spec reads them (first_name, birth_name, birth_date, commune), plus
FEBRL's other columns untouched (address_1, address_2, street_number, suburb, state,
soc_sec_id) for peers configured on every FEBRL field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from linkage.encoding.events import normalise_finess  # noqa: E402
from linkage.normalise.apply import normalise_columns  # noqa: E402

SCENARIO_FIELDS = {
    "names": ["sex", "birth_date", "birth_ym", "birth_year", "birth_name", "use_name", "first_name", "given_names",
              "commune", "departement"],
    "direct": ["sex", "birth_date", "birth_ym", "birth_year", "birth_name", "use_name", "first_name", "given_names",
               "commune", "departement", "nir"],
    "indirect": ["sex", "birth_ym", "birth_year", "commune", "departement", "death_date", "stays"],
}
FEBRL_EXTRA = ["street_number", "address_1", "address_2", "suburb", "state", "soc_sec_id"]


def _values(normaliser: str, columns: list) -> list:
    norm = normalise_columns(normaliser, columns)
    return norm.row_values()


def _dates(values: list) -> tuple[list, list, list]:
    iso, ym, year = [], [], []
    for d in values:
        iso.append(f"{d.year:04d}-{d.month:02d}-{d.day:02d}" if d is not None and d.complete else None)
        ym.append(f"{d.year:04d}-{d.month:02d}" if d is not None and d.month else None)
        year.append(f"{d.year:04d}" if d is not None else None)
    return iso, ym, year


def _stays(stays: pa.Table, id_column: str, ids: pa.Array) -> pa.Array:
    """Per record, the list of 'FINESS|admission date' tokens (exact days, as both holders hold them)."""
    encoded = pc.dictionary_encode(stays["finess"]).combine_chunks()
    normal = pa.array([normalise_finess(v) for v in encoded.dictionary.to_pylist()], pa.string())
    finess_norm = normal.take(encoded.indices)
    day = stays["admission_date"]
    if not pa.types.is_date32(day.type):
        day = pc.cast(pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    token = pc.binary_join_element_wise(finess_norm, pc.cast(day, pa.string()), "|")
    table = pa.table({"id": stays[id_column], "stay": token}).filter(pc.is_valid(token))
    grouped = table.group_by("id").aggregate([("stay", "distinct")])
    lookup = pc.index_in(ids, value_set=grouped["id"])
    lists = grouped["stay_distinct"].combine_chunks().take(lookup)
    return lists


def simulated_side(population: Path, role: str, scenario: str) -> pa.Table:
    table_name, id_column = {"cohort": ("cohort_patients", "cohort_id"),
                             "snds": ("snds_beneficiaries", "snds_id")}[role]
    t = pq.read_table(population / f"{table_name}.parquet")
    out = {"id": t[id_column].to_pylist()}
    fields = SCENARIO_FIELDS[scenario]
    out["sex"] = _values("sex", [t["sex"]])
    iso, ym, year = _dates(_values("date", [t["birth_date"]]))
    if "birth_date" in fields:
        out["birth_date"] = iso
    out["birth_ym"], out["birth_year"] = ym, year
    if "birth_name" in fields:
        out["birth_name"] = _values("birth_name", [t["birth_name"], t["use_name"]])
        out["use_name"] = _values("use_name", [t["use_name"]])
        out["first_name"] = _values("first_name", [t["first_names"]])
        out["given_names"] = _values("given_names", [t["first_names"]])
    out["commune"] = _values("commune", [t["commune_code"]])
    out["departement"] = _values("departement", [t["commune_code"]])
    if "nir" in fields:
        out["nir"] = _values("nir", [t["nir"]])
    if "death_date" in fields:
        out["death_date"] = _dates(_values("date", [t["death_date"]]))[0]
    table = pa.table({name: pa.array(values, pa.string()) for name, values in out.items()})
    if "stays" in fields:  # kept in Arrow: 29 million stay tokens as Python strings would need 15 GB
        stays_name = {"cohort": "cohort_stays", "snds": "snds_stays"}[role]
        stays = pq.read_table(population / f"{stays_name}.parquet", columns=[id_column, "finess", "admission_date"])
        table = table.append_column("stays", _stays(stays, id_column, t[id_column].combine_chunks()))
    return table


def write_simulated(population: Path, scenario: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    left = simulated_side(population, "cohort", scenario)
    pq.write_table(left, out / "left.parquet")
    right = simulated_side(population, "snds", scenario)
    pq.write_table(right, out / "right.parquet")
    truth = pd.read_parquet(population / "truth.parquet")
    truth.columns = ["left_id", "right_id"]
    truth.to_parquet(out / "truth.parquet", index=False)
    dup = pd.read_parquet(population / "snds_duplicates.parquet")
    dup.columns = ["right_id", "same_as"]
    dup.to_parquet(out / "same_person.parquet", index=False)
    return {"dataset": f"simulated {scenario}", "kind": "simulated", "scenario": scenario,
            "fields": SCENARIO_FIELDS[scenario], "left_records": left.num_rows, "right_records": right.num_rows,
            "true_pairs": len(truth)}


def febrl_split(k: int):
    """(left, right, truth) of FEBRL k as a one-to-one linkage of two files.

    FEBRL 1-3 are deduplication sets (an original and up to 5 duplicates of it); Harmonie
    links two files one-to-one, so every method gets the same one-to-one sub-problem: the
    originals ("-org") on the left, the first duplicate of each ("-dup-0") on the right.
    """
    from linkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    data = (load_febrl1, load_febrl2, load_febrl3, load_febrl4)[k - 1]()
    if data.right is not None:
        return data.left, data.right, data.truth
    records = data.left
    original = records.id.str.endswith("-org")
    first_duplicate = records.id.str.endswith("-dup-0")
    right = records[first_duplicate].reset_index(drop=True)
    truth = pd.DataFrame({"left_id": right.id.str.replace(r"-dup-0$", "-org", regex=True), "right_id": right.id})
    return records[original].reset_index(drop=True), right, truth


def febrl_side(frame: pd.DataFrame) -> pd.DataFrame:
    t = pa.Table.from_pandas(frame, preserve_index=False)
    out = pd.DataFrame({"id": frame.id.to_numpy()})
    out["birth_name"] = _values("birth_name", [t["surname"], pa.nulls(len(frame), pa.string())])
    out["first_name"] = _values("first_name", [t["given_name"]])
    iso, ym, year = _dates(_values("date", [t["date_of_birth"]]))
    out["birth_date"], out["birth_ym"], out["birth_year"] = iso, ym, year
    out["commune"] = _values("commune", [t["postcode"]])
    for column in FEBRL_EXTRA + ["given_name", "surname", "date_of_birth", "postcode"]:
        out[f"raw_{column}"] = frame[column].astype("string").str.strip().to_numpy()
    return out


def write_febrl_population(left: pd.DataFrame, right: pd.DataFrame, truth: pd.DataFrame, out: Path) -> None:
    """The same split as a `harmonie simulate`-like folder, for Harmonie's holders to encode with
    the names spec (surname -> birth_name, given_name -> first_names, date_of_birth ->
    birth_date, postcode -> commune_code; no sex, no use name), as bench_link.py does."""
    out.mkdir(parents=True, exist_ok=True)
    for frame, name, id_column in ((left, "cohort_patients", "cohort_id"), (right, "snds_beneficiaries", "snds_id")):
        pd.DataFrame({id_column: frame.id, "birth_name": frame.surname, "use_name": None,
                      "first_names": frame.given_name, "birth_date": frame.date_of_birth, "sex": None,
                      "commune_code": frame.postcode}).to_parquet(out / f"{name}.parquet", index=False)
    truth.rename(columns={"left_id": "cohort_id", "right_id": "snds_id"}).to_parquet(out / "truth.parquet", index=False)
    pd.DataFrame({"snds_id": pd.Series([], dtype=str), "same_person_as": pd.Series([], dtype=str)}).to_parquet(
        out / "snds_duplicates.parquet", index=False)


def write_febrl(k: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    left, right, truth = febrl_split(k)
    febrl_side(left).to_parquet(out / "left.parquet", index=False)
    febrl_side(right).to_parquet(out / "right.parquet", index=False)
    truth.to_parquet(out / "truth.parquet", index=False)
    pd.DataFrame({"right_id": pd.Series([], dtype=str), "same_as": pd.Series([], dtype=str)}).to_parquet(
        out / "same_person.parquet", index=False)
    write_febrl_population(left, right, truth, out / "population")
    return {"dataset": f"FEBRL{k}", "kind": "febrl", "scenario": "febrl", "febrl": k,
            "fields": ["birth_name", "first_name", "birth_date", "birth_ym", "birth_year", "commune"],
            "left_records": len(left), "right_records": len(right), "true_pairs": len(truth)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path)
    parser.add_argument("--scenario", choices=sorted(SCENARIO_FIELDS))
    parser.add_argument("--febrl", type=int, choices=(1, 2, 3, 4))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.febrl:
        meta = write_febrl(args.febrl, args.out)
    else:
        if args.population is None or args.scenario is None:
            parser.error("--population and --scenario (or --febrl)")
        meta = write_simulated(args.population, args.scenario, args.out)
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
