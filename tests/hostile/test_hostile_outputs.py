"""Faults and races around outputs (issue 18, items 3 and 4): two runs into one folder, a rerun killed midway,
an earlier run's report left beside new links, a crosswalk from another encoding, bytes changed in transit,
labels forged to match another key. Each ends in one line or the right result, never a mixed output."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from harmonie.output_set import lock_folder, manifest_path
from hostile.hostile_helpers import one_line_error, run
from linkage.encoding.encoded_file import METADATA_KEY


def _run_copy(world, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(world.run_dir, run_dir)
    return run_dir


def _evaluate(world, links, *extra):
    return run("evaluate", "--links", links, "--truth", world.pop / "truth.parquet", "--left-crosswalk",
               world.left_cw, "--right-crosswalk", world.right_cw, *extra)


def test_a_link_run_leaves_a_complete_manifest_of_its_files(world):
    document = json.loads(manifest_path(world.run_dir, "link").read_text())
    assert document["state"] == "complete"
    assert {"links.parquet", "grey_zone.parquet", "model.json", "summary.json"} <= set(document["files"])
    assert not list(world.run_dir.glob(".harmonie-staging-*"))


def test_a_second_run_into_a_folder_in_use_fails_at_once(world, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    lock = lock_folder(out)  # another command is writing there
    try:
        args = world.link_args()
        args[args.index("--out") + 1] = out
        one_line_error(run(*args), "another Harmonie command is writing into", str(out))
    finally:
        os.close(lock)
    assert not (out / "links.parquet").exists()


def test_links_from_another_run_beside_this_summary_are_refused(world, tmp_path):
    run_dir = _run_copy(world, tmp_path)
    links = pq.read_table(run_dir / "links.parquet")
    pq.write_table(links.slice(0, links.num_rows // 2), run_dir / "links.parquet")  # a rerun's file, half done
    one_line_error(_evaluate(world, run_dir / "links.parquet"), "links.parquet", "harmonie link")


def test_an_interrupted_commit_is_refused_until_the_run_is_repeated(world, tmp_path):
    run_dir = _run_copy(world, tmp_path)
    path = manifest_path(run_dir, "link")
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "state": "committing"}))
    one_line_error(_evaluate(world, run_dir / "links.parquet"), "did not finish", "harmonie link")


def test_a_new_link_run_removes_the_old_evaluation_and_candidates_it_would_contradict(world, tmp_path):
    out = tmp_path / "run"
    args = world.link_args(None, None, None, "--keep-candidates")
    args[args.index("--out") + 1] = out
    assert run(*args).exit_code == 0
    assert _evaluate(world, out / "links.parquet").exit_code == 0
    assert (out / "evaluation.json").exists() and (out / "candidates.parquet").exists()
    args.remove("--keep-candidates")
    args += ["--threshold", "0.99", "--overwrite"]  # (issue #21: a non-empty --out needs --overwrite)
    assert run(*args).exit_code == 0
    assert not (out / "evaluation.json").exists()      # made from the replaced links
    assert not (out / "precision_recall.png").exists()
    assert not (out / "candidates.parquet").exists()   # the previous run's, not this one's
    assert (out / "links.parquet").exists() and (out / "summary.json").exists()


def test_a_crosswalk_from_another_encoding_is_refused_by_extract(world, tmp_path):
    """An encode rerun (here under a new key) whose crosswalk ends up beside links made from the old encoded file."""
    key = tmp_path / "other.key"
    assert run("keys", "new", "--out", key).exit_code == 0
    cw = tmp_path / "cohort.cw.parquet"
    result = run("encode", "--spec", world.spec, "--key", key, "--in", world.patients, "--stays", world.stays,
                 "--out", tmp_path / "cohort.encoded.parquet", "--crosswalk", cw)
    assert result.exit_code == 0, result.output
    one_line_error(run("synth", "extract", "--role", "cohort", "--data", world.pop, "--crosswalk", cw, "--links",
                       world.run_dir / "links.parquet", "--out", tmp_path / "extract"),
                   str(cw), "another `harmonie encode` run")
    assert not (tmp_path / "extract" / "patients.parquet").exists()
    ok = run("synth", "extract", "--role", "cohort", "--data", world.pop, "--crosswalk", world.left_cw, "--links",
             world.run_dir / "links.parquet", "--out", tmp_path / "extract")
    assert ok.exit_code == 0, ok.output


def test_a_token_changed_in_transit_is_refused(world, tmp_path):
    table = pq.read_table(world.left)
    sex = table["sex"].to_pylist()
    sex[0] = (sex[0] or 0) + 1  # still a valid token: only the digest can tell
    path = tmp_path / "left.parquet"
    pq.write_table(table.set_column(table.column_names.index("sex"), "sex", pa.array(sex, pa.int64())), path)
    one_line_error(run(*world.link_args(left=path)), str(path), "digest")


def test_labels_forged_to_match_the_other_key_are_caught_from_the_data(world, tmp_path):
    """A file encoded under another key whose metadata claims the right fingerprint (and whose data are intact)."""
    key = tmp_path / "other.key"
    assert run("keys", "new", "--out", key).exit_code == 0
    other = tmp_path / "other.encoded.parquet"
    assert run("encode", "--spec", world.spec, "--key", key, "--in", world.patients, "--stays", world.stays,
               "--out", other, "--crosswalk", tmp_path / "other.cw.parquet").exit_code == 0
    table = pq.read_table(other)
    document = json.loads(table.schema.metadata[METADATA_KEY])
    document["key_fingerprint"] = json.loads(pq.read_schema(world.right).metadata[METADATA_KEY])["key_fingerprint"]
    forged = tmp_path / "forged.parquet"
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(document).encode()}), forged)
    one_line_error(run(*world.link_args(left=forged)), "share no token", "different keys")


def test_an_extract_written_over_the_plaintext_tables_is_refused(world, scratch):
    before = (scratch / "pop" / "cohort_patients.parquet").read_bytes()
    one_line_error(run("synth", "extract", "--role", "cohort", "--data", scratch / "pop", "--crosswalk",
                       world.left_cw, "--out", scratch / "pop"), "--out", "--data")
    assert (scratch / "pop" / "cohort_patients.parquet").read_bytes() == before


def test_temporary_files_of_a_killed_encode_are_removed_by_the_next_run(world, tmp_path):
    out, cw = tmp_path / "cohort.encoded.parquet", tmp_path / "cohort.cw.parquet"
    leftovers = [tmp_path / ".cohort.encoded.parquet.x1y2.tmp", tmp_path / ".cohort.cw.parquet.a9b8.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a file")
    keep = tmp_path / ".someone.else.tmp"
    keep.write_bytes(b"not ours")
    result = run("encode", "--spec", world.spec, "--key", world.key, "--in", world.patients, "--stays", world.stays,
                 "--out", out, "--crosswalk", cw)
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in leftovers) and keep.exists()
