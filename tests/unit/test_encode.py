"""Encoding at the holders: no plaintext leaves, outputs are reproducible, rows reconcile."""

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from linkage.encoding import check_compatible, encode_holder, read_encoded
from linkage.normalise import given_names, normalise_nir, parse_date, surname
from linkage.spec import EXAMPLES, example_spec, example_spec_text
from privacy.bloom import dice
from privacy.keys import LinkageKey, save_key

PASS = "a long enough passphrase"
KEY = LinkageKey(bytes(range(32)))
OTHER_KEY = LinkageKey(bytes(range(5, 37)))
SIDES = {"cohort": ("cohort_patients", "cohort_stays"), "snds": ("snds_beneficiaries", "snds_stays")}


@pytest.fixture(scope="module")
def files(tmp_path_factory, population):
    out = tmp_path_factory.mktemp("population")
    population.write(out)
    return out


def _encode(population, spec_name, role, key=KEY):
    patients, stays = SIDES[role]
    return encode_holder(example_spec(spec_name), key, role, population.tables[patients], population.tables[stays])


def _leaks(blob: bytes, plaintexts: set[bytes]) -> list[bytes]:
    """Plaintexts found in the blob, via an index of its 6-byte windows (a plain `in` per value is too slow)."""
    windows = {blob[i:i + 6] for i in range(len(blob) - 5)}
    return [p for p in plaintexts if p[:6] in windows and p in blob]


def _plaintexts(population) -> set[bytes]:
    """Every identifying value of either holder that is long enough to search for."""
    raw, canonical = set(), set()
    for table in ("cohort_patients", "snds_beneficiaries"):
        frame = population[table]
        for column in ("birth_name", "use_name", "first_names", "nir", "birth_date", "cohort_id", "snds_id",
                       "commune_code"):
            if column in frame:
                raw |= {str(v) for v in frame[column].dropna().unique()}
    for value in list(raw):  # and the forms the normalisers give them
        canonical |= {surname(value) or "", (given_names(value) or ("", ""))[1], normalise_nir(value)[0] or ""}
        date = parse_date(value)
        if date and date.complete:
            # ISO form only: 8 bare digits would match the hex linkage ids by chance
            canonical.add(f"{date.year:04d}-{date.month:02d}-{date.day:02d}")
    return {v.encode("utf-8") for v in raw | canonical if len(v) >= 6}


def test_the_leak_detector_finds_a_planted_plaintext(tmp_path, population):
    result = _encode(population, "names", "cohort")
    names = population["cohort_patients"].use_name.dropna().head(3).tolist()
    planted = result.encoded.append_column("oops", pa.array(names + [None] * (result.encoded.num_rows - 3)))
    pq.write_table(planted, tmp_path / "x.parquet", compression="none")
    assert _leaks((tmp_path / "x.parquet").read_bytes(), _plaintexts(population))


@pytest.mark.parametrize("spec_name", EXAMPLES)
def test_no_plaintext_identifier_reaches_the_encoded_file(tmp_path, population, spec_name):
    plaintexts = _plaintexts(population)
    for role in SIDES:
        result = _encode(population, spec_name, role)
        path = tmp_path / f"{role}.parquet"
        pq.write_table(result.encoded, path, compression="none")  # uncompressed, so a byte search sees everything
        blob = path.read_bytes()
        leaked = _leaks(blob, plaintexts)
        assert not leaked, f"{len(leaked)} plaintext values found, e.g. {leaked[:1]}"
        assert result.encoded.schema.field("linkage_id").type == pa.string()
        others = [f.type for f in result.encoded.schema if f.name != "linkage_id"]
        assert all(t == pa.int64() or pa.types.is_fixed_size_binary(t) or t == pa.large_list(pa.int64()) for t in others)
        assert set(result.encoded.column_names) == {"linkage_id", *example_spec(spec_name).encoded_columns(role)}


def test_same_inputs_and_key_give_byte_identical_files(tmp_path, files):
    runner, cli = CliRunner(), app()
    (tmp_path / "spec.toml").write_text(example_spec_text("indirect"))
    save_key(KEY, tmp_path / "k.key", PASS, scrypt_n=2**12)
    digests = []
    for run in ("a", "b"):
        result = runner.invoke(cli, [
            "--quiet", "encode", "--spec", str(tmp_path / "spec.toml"), "--key", str(tmp_path / "k.key"),
            "--in", str(files / "snds_beneficiaries.parquet"), "--stays", str(files / "snds_stays.parquet"),
            "--out", str(tmp_path / f"{run}.parquet"), "--crosswalk", str(tmp_path / f"{run}_cw.parquet")],
            env={"HARMONIE_KEY_PASSPHRASE": PASS})
        assert result.exit_code == 0, result.output
        digests.append((tmp_path / f"{run}.parquet").read_bytes())
    assert digests[0] == digests[1]


def test_different_keys_give_unrelated_encodings(population):
    a = _encode(population, "names", "cohort").encoded.to_pandas()
    b = _encode(population, "names", "cohort", key=OTHER_KEY).encoded.to_pandas()
    assert set(a.linkage_id).isdisjoint(b.linkage_id)
    assert set(a.sex.dropna()).isdisjoint(b.sex.dropna())
    assert set(a.birth_date.dropna()).isdisjoint(b.birth_date.dropna())
    same_name = [dice(np.frombuffer(x, np.uint8), np.frombuffer(y, np.uint8))
                 for x, y in zip(a.birth_name.dropna()[:200], b.birth_name.dropna()[:200])]
    assert np.mean(same_name) < 0.7


def _pairs(population, spec_name):
    """Encoded records of the true matches, side by side."""
    enc = {role: _encode(population, spec_name, role) for role in SIDES}
    cw = {role: enc[role].crosswalk.to_pandas().set_index("local_id").linkage_id for role in SIDES}
    truth = population["truth"]
    left = enc["cohort"].encoded.to_pandas().set_index("linkage_id").loc[cw["cohort"][truth.cohort_id]]
    right = enc["snds"].encoded.to_pandas().set_index("linkage_id").loc[cw["snds"][truth.snds_id]]
    return left.reset_index(drop=True), right.reset_index(drop=True), enc


def test_true_matches_agree_on_their_encodings(population):
    left, right, enc = _pairs(population, "names")
    check_compatible(enc["cohort"].metadata, enc["snds"].metadata)
    assert (left.sex == right.sex).mean() > 0.97
    date_agree = (left.birth_date == right.birth_date) | (left.birth_date__swap == right.birth_date)
    assert date_agree.mean() > 0.96
    names = [dice(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8))
             for a, b in zip(left.birth_name, right.birth_name) if a is not None and b is not None]
    assert np.median(names) == 1.0 and np.mean(np.array(names) > 0.8) > 0.85  # married names lower it
    left, right, _ = _pairs(population, "indirect")
    shared = [len(set(a) & set(b)) for a, b in zip(left.stays, right.stays)]
    assert np.mean(np.array(shared) > 0) > 0.95
    near = [len(set(a) & set(b)) for a, b in zip(left.stays__near, right.stays)]
    assert sum(near) > 0  # stays recorded a day off are caught by the tolerance tokens
    direct_left, direct_right, _ = _pairs(population, "direct")
    both = direct_left.foin.notna() & direct_right.foin.notna()
    assert (direct_left.foin[both] == direct_right.foin[both]).mean() > 0.85  # account holders' NIRs differ


def test_rows_reconcile_and_rejects_say_why():
    patients = pa.table({
        "cohort_id": ["A", "B", "B", None, " ", "C", "D"],
        "sex": ["F", "M", "F", "F", "M", None, "2"],
        "birth_date": ["01/02/1950", "1960-01-01", "x", "01/01/1970", "01/01/1971", None, "02/03/1944"],
        "commune_code": ["75056", None, None, "13055", "69123", None, "2A004"],
        "death_date": [None] * 7,
    })
    stays = pa.table({"cohort_id": ["A", "A", "Z", "D"], "finess": ["750000001", "bad", "750000001", "2A0000013"],
                      "admission_date": ["2020-01-01", "2020-01-02", "2020-01-01", "31/12/2019"]})
    result = encode_holder(example_spec("indirect"), KEY, "cohort", patients, stays)
    m = result.metadata
    assert (m["rows_in"], m["rows_encoded"], m["rows_rejected"]) == (7, 3, 4)
    reasons = dict(zip(result.rejects["row"].to_pylist(), result.rejects["reason"].to_pylist()))
    assert reasons == {3: "duplicate id (first occurrence kept)", 4: "missing id", 5: "missing id",
                       6: "no identifying value"}
    assert sorted(result.crosswalk["local_id"].to_pylist()) == ["A", "B", "D"]
    assert m["fields"]["stays"] == {"events_in": 4, "events_without_patient": 1, "events_unusable": 1,
                                    "events_encoded": 2}
    assert m["fields"]["departement"]["missing"] == 2  # counted over rows with an id: B and C


def test_missing_columns_and_unreadable_inputs_are_one_line_errors(tmp_path, files):
    runner, cli = CliRunner(), app()
    (tmp_path / "spec.toml").write_text(example_spec_text("names"))
    save_key(KEY, tmp_path / "k.key", PASS, scrypt_n=2**12)
    pd.DataFrame({"cohort_id": ["1"], "sex": ["F"]}).to_parquet(tmp_path / "thin.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")

    def encode(path, *extra):
        return runner.invoke(cli, ["--quiet", "encode", "--spec", str(tmp_path / "spec.toml"), "--key",
                                   str(tmp_path / "k.key"), "--in", str(path), "--out", str(tmp_path / "o.parquet"),
                                   "--crosswalk", str(tmp_path / "c.parquet"), *extra],
                             env={"HARMONIE_KEY_PASSPHRASE": PASS})

    for path, extra, message in ((tmp_path / "thin.parquet", (), "lacks column(s) birth_date"),
                                 (tmp_path / "broken.parquet", ("--holder", "cohort"), "cannot read input file"),
                                 (tmp_path / "absent.csv", ("--holder", "cohort"), "not found"),
                                 (files / "cohort_patients.parquet", ("--holder", "hospital"), "no holder 'hospital'")):
        result = encode(path, *extra)
        assert result.exit_code == 2, result.output
        assert result.output.count("\n") == 1 and message in result.output, result.output
    assert not (tmp_path / "o.parquet").exists()


def test_csv_in_cp1252_encodes_like_parquet(tmp_path, population):
    patients = population["cohort_patients"].head(300)
    patients.to_csv(tmp_path / "p.csv", sep=";", index=False, encoding="cp1252", errors="replace")
    from harmonie.io import read_table

    from_csv = encode_holder(example_spec("names"), KEY, "cohort", read_table(tmp_path / "p.csv", encoding="cp1252"))
    from_parquet = encode_holder(example_spec("names"), KEY, "cohort", pa.Table.from_pandas(patients))
    for column in ("birth_name", "use_name", "birth_date", "sex", "commune"):
        assert from_csv.encoded[column].equals(from_parquet.encoded[column]), column
    assert any(re.search("[éèëçÉÈ]", str(v)) for v in patients.use_name.dropna())


def test_mismatched_files_are_refused(population):
    names = _encode(population, "names", "snds").metadata
    with pytest.raises(HarmonieError, match="different specs"):
        check_compatible(_encode(population, "direct", "cohort").metadata, names)
    with pytest.raises(HarmonieError, match="different keys"):
        check_compatible(_encode(population, "names", "cohort", key=OTHER_KEY).metadata, names)
    with pytest.raises(HarmonieError, match="same holder"):
        check_compatible(names, names)


def test_encoded_files_are_read_back_with_their_metadata(tmp_path, population):
    from linkage.encoding import write_encoded

    result = _encode(population, "indirect", "cohort")
    write_encoded(result.encoded, result.metadata, tmp_path / "e.parquet")
    back = read_encoded(tmp_path / "e.parquet")
    assert back.spec_hash == example_spec("indirect").hash and back.key_fingerprint == KEY.fingerprint
    assert back.table.equals(result.encoded.replace_schema_metadata(back.table.schema.metadata))
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(HarmonieError, match="not a Harmonie encoded file"):
        read_encoded(tmp_path / "plain.parquet")


def test_a_malformed_csv_is_reported_without_its_content(tmp_path):
    from harmonie.io import read_table

    (tmp_path / "bad.csv").write_text("cohort_id;birth_name;nir\nC1;DUPONTEL;256037511400542\nC2;MARTINEZ\n")
    with pytest.raises(HarmonieError) as raised:
        read_table(tmp_path / "bad.csv")
    message = str(raised.value)
    assert "malformed CSV" in message and "MARTINEZ" not in message and "DUPONTEL" not in message


def test_float_ids_still_find_their_stays():
    patients = pa.table({"cohort_id": pa.array([1.0, 2.0]), "sex": ["F", "M"], "birth_date": ["01/02/1950", None],
                         "commune_code": ["75056", None], "death_date": pa.array([None, None], pa.string())})
    stays = pa.table({"cohort_id": pa.array([1.0, 2.0]), "finess": ["750000001", "750000001"],
                      "admission_date": ["2020-01-01", "2020-01-05"]})
    result = encode_holder(example_spec("indirect"), KEY, "cohort", patients, stays)
    assert result.metadata["fields"]["stays"]["events_encoded"] == 2
    assert result.metadata["rows_encoded"] == 2
