"""Wider matches of care events (issue #17): stays a few days off, stays filed under another
site of the same establishment group, and the FINESS map both holders share."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from linkage import encoded_columns as columns_of
from linkage.compare import build_comparisons, compare
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding import check_compatible, encode_holder, write_encoded
from linkage.encoding.events import FinessMap, FinessMapError
from linkage.spec import SpecError, example_spec, example_spec_text, parse_spec
from privacy.keys import LinkageKey, save_key

KEY = LinkageKey(bytes(range(32)))
PASS = "a long enough passphrase"
CENTRE, SISTER, ELSEWHERE = "750000011", "750000029", "130000017"  # the centre, its sister site, another hospital
MAP = pa.table({"finess": [CENTRE, SISTER, ELSEWHERE], "finess_juridique": ["750000995", "750000995", "130000991"]})
OLD_SPEC_LINES = ("wide_tolerance_days = 3", "establishment_groups = true")
# test_identical_outputs' digests of the indirect encoded files, from before wider matches existed
ENCODED_BEFORE = {"cohort": "dd7199a5192d3545901f9f8f43f78d53b591480964469997d0238bb7d3781c95",
                  "snds": "eac9f1e827df01869662ad5f903e4c66bed2ceeb8fe3a6e1740cbe1fc12f9a47"}
SIDES = {"cohort": ("cohort_patients", "cohort_stays"), "snds": ("snds_beneficiaries", "snds_stays")}


def _without_wider_matches(text: str) -> str:
    """The indirect example spec as it was before wider matches (same fields, same comparisons)."""
    kept = [line for line in text.splitlines() if not line.startswith(OLD_SPEC_LINES)]
    assert len(kept) == len(text.splitlines()) - 2
    return "\n".join(kept) + "\n"


def _holder_tables(role: str, stays: list[tuple[str, str, str]]) -> tuple[pa.Table, pa.Table]:
    """A holder's patients (all alike but their stays) and stays (id, FINESS, admission date)."""
    id_column = "cohort_id" if role == "cohort" else "snds_id"
    ids = sorted({s[0] for s in stays})
    n = len(ids)
    patients = pa.table({id_column: ids, "sex": ["2"] * n, "birth_date": ["1960-05-17"] * n,
                         "commune_code": ["75101"] * n, "death_date": pa.nulls(n, pa.string())})
    events = pa.table({id_column: [s[0] for s in stays], "finess": [s[1] for s in stays],
                       "admission_date": [s[2] for s in stays]})
    return patients, events


def _encode(spec, role, stays, finess_map=None):
    return encode_holder(spec, KEY, role, *_holder_tables(role, stays), finess_map=finess_map)


def _stays_levels(spec, cohort_stays, snds_stays, finess_map=None) -> dict[tuple[str, str], str]:
    """The label of the stays comparison's level for every (cohort id, SNDS id) pair."""
    encoded = {role: _encode(spec, role, stays, finess_map)
               for role, stays in (("cohort", cohort_stays), ("snds", snds_stays))}
    records = {role: EncodedRecords.from_table(e.encoded) for role, e in encoded.items()}
    local = {role: dict(zip(e.crosswalk["linkage_id"].to_pylist(), e.crosswalk["local_id"].to_pylist()))
             for role, e in encoded.items()}
    comparisons = build_comparisons(spec, set(encoded["cohort"].encoded.column_names),
                                    set(encoded["snds"].encoded.column_names))
    stays = next(c for c in comparisons if c.name == "stays")
    li, ri = (a.ravel().astype(np.int32) for a in np.meshgrid(np.arange(len(records["cohort"])),
                                                             np.arange(len(records["snds"])), indexing="ij"))
    levels = compare([stays], records["cohort"], records["snds"], li, ri)[:, 0]
    left_ids, right_ids = records["cohort"].ids.to_pylist(), records["snds"].ids.to_pylist()
    return {(local["cohort"][left_ids[a]], local["snds"][right_ids[b]]):
            stays.labels[level] if level >= 0 else "missing" for a, b, level in zip(li, ri, levels)}


COHORT = [("C1", CENTRE, "2021-03-10"), ("C2", CENTRE, "2021-03-10"), ("C2", CENTRE, "2021-05-20")]
SNDS = [("S_1day", CENTRE, "2021-03-11"), ("S_3days", CENTRE, "2021-03-13"), ("S_3days_early", CENTRE, "2021-03-07"),
        ("S_4days", CENTRE, "2021-03-14"), ("S_sister", SISTER, "2021-03-10"), ("S_sister_1day", SISTER, "2021-03-09"),
        ("S_sister_3days", SISTER, "2021-03-13"), ("S_elsewhere", ELSEWHERE, "2021-03-10"),
        ("S_plus_sister", CENTRE, "2021-03-10"), ("S_plus_sister", SISTER, "2021-05-20"),
        ("S_plus_3days", CENTRE, "2021-03-10"), ("S_plus_3days", CENTRE, "2021-05-23"),
        ("S_two_sister", SISTER, "2021-03-10"), ("S_two_sister", SISTER, "2021-05-21")]


def test_a_stay_3_days_off_meets_only_the_wide_level_and_a_sister_site_stay_only_the_group_level():
    levels = _stays_levels(example_spec("indirect"), COHORT, SNDS, MAP)
    assert levels[("C1", "S_1day")] == "1 shared"  # within the narrow tolerance: a shared stay as before
    assert levels[("C1", "S_3days")] == levels[("C1", "S_3days_early")] == "none shared; 1 2-3 days apart"
    assert levels[("C1", "S_4days")] == "none shared"
    assert levels[("C1", "S_sister")] == levels[("C1", "S_sister_1day")] == \
        "none shared; 1 at another site of the group"
    assert levels[("C1", "S_sister_3days")] == "none shared"  # group tokens have the narrow tolerance only
    assert levels[("C1", "S_elsewhere")] == "none shared"
    assert levels[("C2", "S_plus_sister")] == "1 shared + more at another site of the group"
    assert levels[("C2", "S_plus_3days")] == "1 shared + more 2-3 days apart"
    assert levels[("C2", "S_two_sister")] == "none shared; 2+ at another site of the group"
    assert levels[("C2", "S_1day")] == "1 shared"


def test_without_a_map_a_sister_site_stay_is_not_shared_and_the_group_levels_do_not_exist():
    spec = example_spec("indirect")
    levels = _stays_levels(spec, COHORT, SNDS)
    assert levels[("C1", "S_sister")] == "none shared" and levels[("C1", "S_3days")] == "none shared; 1 2-3 days apart"
    assert not any("group" in label for label in set(levels.values()))
    without = parse_spec(_without_wider_matches(example_spec_text("indirect")))
    labels = {c.name: c.labels for c in build_comparisons(without, {"stays"}, {"stays"})}
    assert labels["stays"] == ("8+ shared", "5-7 shared", "3-4 shared", "2 shared", "1 shared", "none shared")


def test_the_wide_list_leaves_out_what_the_narrow_tokens_already_find():
    """Stays two days apart: each one's wide tokens would hold the other's day, which the record's
    own exact token already says; a stay two days after the first is one shared stay, not two."""
    spec = example_spec("indirect")
    stays = [("C1", CENTRE, "2021-03-10"), ("C1", CENTRE, "2021-03-12")]
    encoded = _encode(spec, "cohort", stays).encoded
    exact, near, wide = (set(encoded[c][0].as_py()) for c in ("stays", columns_of.near("stays"),
                                                             columns_of.wide("stays")))
    assert len(exact) == 2 and len(near) == 3 and len(wide) == 4  # days -3, -2, +4, +5: 0..+2's own -1..+3 left out
    assert not wide & (exact | near)
    levels = _stays_levels(spec, stays, [("S", CENTRE, "2021-03-12")])
    assert levels[("C1", "S")] == "1 shared"


def test_no_map_gives_the_encoded_files_of_before(population):
    """The indirect spec without the new options encodes exactly as before; with them but no
    map, the files only gain the wide-tolerance list (the SNDS side none), and no map hash."""
    old = parse_spec(_without_wider_matches(example_spec_text("indirect")))
    new = example_spec("indirect")
    for role, (patients, stays) in SIDES.items():
        before = encode_holder(old, KEY, role, population.tables[patients], population.tables[stays])
        digest = hashlib.sha256(before.encoded.to_pandas().to_csv().encode()).hexdigest()
        assert digest == ENCODED_BEFORE[role], role
        now = encode_holder(new, KEY, role, population.tables[patients], population.tables[stays])
        assert now.encoded.drop_columns([c for c in now.encoded.column_names if c.endswith("__wide")]) \
            .equals(before.encoded)
        assert (columns_of.wide("stays") in now.encoded.column_names) == (role == "cohort")
        assert "finess_map_sha256" not in now.metadata
        derived = ("spec_hash", "columns", "data_sha256", "run_id")  # the spec and the data gained wide columns
        assert {k: v for k, v in now.metadata.items() if k not in derived} == \
            {k: v for k, v in before.metadata.items() if k not in derived}


def test_with_a_map_files_hold_group_tokens_and_the_map_hash(population):
    spec = example_spec("indirect")
    entities = population.tables["finess_entities"]
    encoded = {role: encode_holder(spec, KEY, role, population.tables[patients], population.tables[stays],
                                   finess_map=entities) for role, (patients, stays) in SIDES.items()}
    assert encoded["cohort"].metadata["finess_map_sha256"] == encoded["snds"].metadata["finess_map_sha256"] == \
        FinessMap.from_table(entities).sha256
    assert {columns_of.group("stays"), columns_of.group_near("stays")} <= set(encoded["cohort"].encoded.column_names)
    assert columns_of.group("stays") in encoded["snds"].encoded.column_names
    assert columns_of.group_near("stays") not in encoded["snds"].encoded.column_names  # tolerance holder only
    for role, result in encoded.items():
        assert set(result.encoded.column_names) == {"linkage_id", *spec.encoded_columns(role, groups=True)}
        flags = result.metadata["fields"]["stays"]
        assert flags["events_in_finess_map"] == flags["events_encoded"]  # the simulator's map lists every site
    check_compatible(encoded["cohort"].metadata, encoded["snds"].metadata)
    # a group token is keyed and domain-separated: it never equals a site token of the same stay
    site = set(pa.concat_arrays([c.values for c in encoded["snds"].encoded["stays"].chunks]).to_pylist())
    group = set(pa.concat_arrays([c.values for c in encoded["snds"].encoded["stays__group"].chunks]).to_pylist())
    assert not site & group


def test_the_map_hash_ignores_how_the_table_is_stored(tmp_path):
    reordered = pa.table({"groupe": ["750000995", "130000991", "750000995"],
                          "finess": [" 75 000 0029", ELSEWHERE, CENTRE]})  # other order, names, spacing
    assert FinessMap.from_table(reordered).sha256 == FinessMap.from_table(MAP).sha256
    other = pa.table({"finess": [CENTRE, SISTER], "finess_juridique": ["750000995", "750000996"]})
    assert FinessMap.from_table(other).sha256 != FinessMap.from_table(MAP).sha256


def test_files_encoded_with_different_maps_are_refused_in_one_line(tmp_path):
    spec = example_spec("indirect")
    other = pa.table({"finess": [CENTRE, SISTER], "finess_juridique": ["750000995", "750000996"]})
    cohort = _encode(spec, "cohort", COHORT, MAP).metadata
    for snds_map, shown in ((other, "different FINESS maps"), (None, "vs no map")):
        with pytest.raises(HarmonieError, match=shown) as caught:
            check_compatible(cohort, _encode(spec, "snds", SNDS, snds_map).metadata)
        assert "\n" not in str(caught.value)
    # and `harmonie link` says so in one line, exit 2
    paths = {}
    for role, stays, finess_map in (("cohort", COHORT, MAP), ("snds", SNDS, other)):
        result = _encode(spec, role, stays, finess_map)
        paths[role] = write_encoded(result.encoded, result.metadata, tmp_path / f"{role}.parquet")
    (tmp_path / "spec.toml").write_text(example_spec_text("indirect"))
    result = CliRunner().invoke(app(), ["--quiet", "link", "--spec", str(tmp_path / "spec.toml"), "--left",
                                              str(paths["cohort"]), "--right", str(paths["snds"]), "--out",
                                              str(tmp_path / "run"), "--no-charts"])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "different FINESS maps" in result.output


def test_encode_command_takes_a_finess_map_and_bad_maps_are_one_line_errors(tmp_path):
    runner, cli = CliRunner(), app()
    (tmp_path / "spec.toml").write_text(example_spec_text("indirect"))
    save_key(KEY, tmp_path / "k.key", PASS, scrypt_n=2**12)
    patients, events = _holder_tables("cohort", COHORT)
    pq.write_table(patients, tmp_path / "patients.parquet")
    pq.write_table(events, tmp_path / "stays.parquet")
    (tmp_path / "map.csv").write_text("finess;finess_juridique\n" + "".join(
        f"{a};{b}\n" for a, b in zip(MAP["finess"].to_pylist(), MAP["finess_juridique"].to_pylist())))
    (tmp_path / "three.csv").write_text("finess;finess_juridique;name\n750000011;750000995;X\n")
    (tmp_path / "bad.csv").write_text("finess;finess_juridique\n75000;750000995\n")
    (tmp_path / "twice.csv").write_text("finess;finess_juridique\n750000011;750000995\n750000011;750000996\n")

    def encode(*extra):
        return runner.invoke(cli, ["--quiet", "encode", "--spec", str(tmp_path / "spec.toml"), "--key",
                                   str(tmp_path / "k.key"), "--in", str(tmp_path / "patients.parquet"),
                                   "--stays", str(tmp_path / "stays.parquet"), "--out", str(tmp_path / "o.parquet"),
                                   "--crosswalk", str(tmp_path / "c.parquet"), *extra],
                             env={"HARMONIE_KEY_PASSPHRASE": PASS})

    result = encode("--finess-map", str(tmp_path / "map.csv"))
    assert result.exit_code == 0, result.output
    metadata = json.loads(pq.read_schema(tmp_path / "o.parquet").metadata[b"harmonie"])
    assert metadata["finess_map_sha256"] == FinessMap.from_table(MAP).sha256
    assert "FINESS map" in result.output and CENTRE not in result.output
    for name, message in (("three.csv", "must have two columns"), ("bad.csv", "row 1: 'finess' is not a FINESS"),
                          ("twice.csv", "mapped to two groups"), ("absent.csv", "not found")):
        for output in ("o.parquet", "c.parquet", "c.rejects.parquet"):  # (an existing output is refused first)
            (tmp_path / output).unlink(missing_ok=True)
        result = encode("--finess-map", str(tmp_path / name))
        assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output
        assert not (tmp_path / "o.parquet").exists()


def test_a_map_with_a_spec_that_does_not_use_it_is_refused():
    spec = parse_spec(_without_wider_matches(example_spec_text("indirect")))
    with pytest.raises(HarmonieError, match="establishment_groups"):
        _encode(spec, "cohort", COHORT, MAP)
    with pytest.raises(FinessMapError, match="is empty"):
        FinessMap.from_table(pa.table({"finess": pa.array([], pa.string()), "group": pa.array([], pa.string())}))


@pytest.mark.parametrize("entry, message", [
    ("wide_tolerance_days = 1", "above tolerance_days"),
    ("wide_tolerance_days = 31", "at most 30"),
    ("wide_tolerance_days = true", "wide_tolerance_days"),
    ("establishment_groups = 1", "true or false"),
])
def test_bad_wider_match_options_are_spec_errors(entry, message):
    option = "wide_tolerance_days = 3" if entry.startswith("wide") else "establishment_groups = true"
    text = example_spec_text("indirect").replace(option, entry)
    with pytest.raises(SpecError, match=message):
        parse_spec(text)
    sex_with_groups = example_spec_text("indirect").replace('encoding = "token"', 'encoding = "token"\n'
                                                            'establishment_groups = true', 1)
    with pytest.raises(SpecError, match="apply to events fields only"):
        parse_spec(sex_with_groups)

