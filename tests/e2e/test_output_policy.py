"""One output policy for every command (issue #21 item 4): an output must be absent or empty, or `--overwrite`
given; with it the old output is replaced whole (no file of the previous run remains). A refusal is one line,
exit 2, naming the fix, and leaves the old output untouched."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from harmonie.cli import app

PASSPHRASE = "output policy test passphrase"
cli = app()


def run(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)], env={"HARMONIE_KEY_PASSPHRASE": PASSPHRASE})


def refused(result, *mentions):
    """One `error:` line, exit 2, naming --overwrite and each of ``mentions``."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "--overwrite" in lines[0] and "Traceback" not in result.output
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def outputs(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
            and not p.name.startswith(".harmonie")}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny population, both holders' encoded files and a link run (with its report), into fresh folders."""
    from linkage.spec import example_spec_text

    root = tmp_path_factory.mktemp("policy")
    assert run("simulate", "--out", root / "pop", "--cohort", 120, "--snds", 600, "--seed", 2).exit_code == 0
    (root / "spec.toml").write_text(re.sub(r"(?m)^u_sample_pairs = .*$", "u_sample_pairs = 50000",
                                           example_spec_text("indirect")))
    assert run("keys", "new", "--out", root / "k.key").exit_code == 0
    for role, patients, stays in (("cohort", "cohort_patients", "cohort_stays"),
                                  ("snds", "snds_beneficiaries", "snds_stays")):
        result = run("encode", "--spec", root / "spec.toml", "--key", root / "k.key", "--in",
                     root / "pop" / f"{patients}.parquet", "--stays", root / "pop" / f"{stays}.parquet",
                     "--out", root / f"{role}.enc.parquet", "--crosswalk", root / f"{role}.cw.parquet")
        assert result.exit_code == 0, result.output
    return root


def link_args(world, out, *extra):
    return ["link", "--spec", world / "spec.toml", "--left", world / "cohort.enc.parquet", "--right",
            world / "snds.enc.parquet", "--out", out, *extra]


def evaluate_args(world, links, *extra):
    return ["evaluate", "--links", links, "--truth", world / "pop" / "truth.parquet", "--left-crosswalk",
            world / "cohort.cw.parquet", "--right-crosswalk", world / "snds.cw.parquet", *extra]


def test_every_writing_command_documents_overwrite():
    def walk(command, path=()):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
            if command.callback is None or not command.invoke_without_command:
                return
        yield path, command

    for path, command in walk(cli):
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        writes = "--out" in options
        if not writes or path in (("keys", "new"), ("release", "keygen")):  # keys: never overwritten, said so
            continue
        assert "--overwrite" in options, " ".join(path)
        assert "--overwrite" in CliRunner().invoke(cli, [*path, "--help"]).output, " ".join(path)
    for path in (("keys", "new"), ("release", "keygen")):
        assert "--overwrite" in CliRunner().invoke(cli, [*path, "--help"]).output  # says why there is none


def test_simulate_refuses_a_non_empty_folder_and_overwrite_replaces_it_whole(tmp_path):
    out = tmp_path / "pop"
    assert run("simulate", "--out", out, "--cohort", 40, "--snds", 200).exit_code == 0
    (out / "mine.txt").write_text("not Harmonie's")
    before = snapshot(out)
    refused(run("simulate", "--out", out, "--cohort", 40, "--snds", 200, "--seed", 1), str(out), "not empty",
            "files")
    assert snapshot(out) == before  # untouched
    inode = out.stat().st_ino
    assert run("simulate", "--out", out, "--cohort", 40, "--snds", 200, "--seed", 1, "--overwrite").exit_code == 0
    assert not (out / "mine.txt").exists() and "truth.parquet" in outputs(out)
    assert out.stat().st_ino != inode  # the new folder swapped in whole
    assert not [p for p in tmp_path.iterdir() if p.name != "pop"]  # no staging or old copy left beside


def test_a_failed_run_into_a_new_folder_leaves_no_folder(tmp_path):
    result = run("simulate", "--out", tmp_path / "pop", "--param", "no.such_knob=1")
    assert result.exit_code == 2 and not (tmp_path / "pop").exists()


def test_single_file_outputs_are_refused_unless_overwrite(world, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("mine")
    refused(run("spec", "example", "names", "--out", spec), str(spec), "exists")
    assert spec.read_text() == "mine"
    assert run("spec", "example", "names", "--out", spec, "--overwrite").exit_code == 0
    assert spec.read_text() != "mine"
    cw = tmp_path / "cw.parquet"
    cw.write_bytes(b"an earlier crosswalk")
    args = ["encode", "--spec", world / "spec.toml", "--key", world / "k.key", "--in",
            world / "pop" / "cohort_patients.parquet", "--stays", world / "pop" / "cohort_stays.parquet",
            "--out", tmp_path / "enc.parquet", "--crosswalk", cw]
    refused(run(*args), "--crosswalk", str(cw))
    assert cw.read_bytes() == b"an earlier crosswalk" and not (tmp_path / "enc.parquet").exists()
    refused(run("keys", "new", "--out", world / "k.key", "--overwrite"))  # click: no such option for a key
    one = run("spec", "example", "names", "--out", world / "k.key", "--overwrite")  # a key is never replaced
    assert one.exit_code == 2 and "key file" in one.output


def test_link_then_evaluate_then_link_overwrite_leaves_no_stale_evaluation(world, tmp_path):
    out = tmp_path / "run"
    assert run(*link_args(world, out, "--keep-candidates")).exit_code == 0
    evaluated = run(*evaluate_args(world, out / "links.parquet"))
    assert evaluated.exit_code == 0, evaluated.output
    assert {"evaluation.json", "precision_recall.png", "candidates.parquet"} <= outputs(out)
    from harmonie.output_set import check_output_set, manifest_path

    check_output_set(out / "report.html")  # the enriched page is the one the link run's manifest lists now
    assert '"report.html": "evaluate"' in manifest_path(out, "link").read_text()

    before = snapshot(out)
    refused(run(*link_args(world, out)), str(out), "not empty")  # a second link, without --overwrite
    refused(run(*evaluate_args(world, out / "links.parquet")), "earlier `harmonie evaluate`")
    assert snapshot(out) == before
    assert run(*evaluate_args(world, out / "links.parquet", "--overwrite")).exit_code == 0  # its own files only
    assert {"links.parquet", "evaluation.json", "candidates.parquet"} <= outputs(out)

    assert run(*link_args(world, out, "--threshold", "0.99", "--no-charts", "--overwrite")).exit_code == 0
    left = outputs(out)
    assert "links.parquet" in left and "summary.json" in left
    assert not {"evaluation.json", "precision_recall.png", "candidates.parquet"} & left  # earlier runs' files
    assert not [p for p in tmp_path.iterdir() if p.name != "run"]


def test_link_refuses_a_folder_harmonie_did_not_write(world, tmp_path):
    out = tmp_path / "theirs"
    out.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (out / name).write_text("x")
    line = refused(run(*link_args(world, out, "--no-charts")), "not empty (3 files)", "or another --out")
    assert line == f"error: --out {out} is not empty (3 files); give --overwrite to replace it, or another --out"
    assert outputs(out) == {"a.csv", "b.csv", "c.csv"}


def test_overwrite_never_deletes_an_input_or_a_key(world, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.key").write_bytes((world / "k.key").read_bytes())
    one = run(*link_args(world, out, "--no-charts", "--overwrite"))
    assert one.exit_code == 2 and "key file" in one.output and (out / "keep.key").exists()
    around = run(*link_args(world, world, "--no-charts", "--overwrite"))  # --out holding the encoded files
    assert around.exit_code == 2 and "holds the input" in around.output and (world / "cohort.enc.parquet").exists()


def test_evaluate_into_another_folder_follows_the_same_rule(world, tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "eval"
    assert run(*link_args(world, run_dir, "--no-charts")).exit_code == 0
    assert run(*evaluate_args(world, run_dir / "links.parquet", "--out", out)).exit_code == 0
    before = snapshot(out)
    refused(run(*evaluate_args(world, run_dir / "links.parquet", "--out", out)), str(out), "not empty")
    assert snapshot(out) == before
    (out / "stale.txt").write_text("x")
    assert run(*evaluate_args(world, run_dir / "links.parquet", "--out", out, "--overwrite")).exit_code == 0
    assert not (out / "stale.txt").exists() and "evaluation.json" in outputs(out)


def test_folder_commands_share_the_refusal(tmp_path):
    out = tmp_path / "plan"
    assert run("plan", "example", "--out", out).exit_code == 0
    refused(run("plan", "example", "--out", out), "not empty")
    (out / "old.toml").write_text("x")
    assert run("plan", "example", "--out", out, "--overwrite").exit_code == 0 and not (out / "old.toml").exists()
    spec = tmp_path / "elig.toml"
    assert run("arm", "example-eligibility", "--out", spec).exit_code == 0
    refused(run("arm", "example-eligibility", "--out", spec), "exists")


def test_overwrite_where_nothing_may_be_created_beside_the_folder(tmp_path, monkeypatch):
    """A writable output folder in a read-only parent: the old contents are replaced inside the folder."""
    import os

    import harmonie.output_set as output_set

    out = tmp_path / "pop"
    assert run("simulate", "--out", out, "--cohort", 40, "--snds", 200).exit_code == 0
    (out / "old.txt").write_text("x")
    inode = out.stat().st_ino
    real_access = os.access
    monkeypatch.setattr(output_set.os, "access", lambda path, mode: False if os.fspath(path) == os.fspath(tmp_path)
                        else real_access(path, mode))
    assert run("simulate", "--out", out, "--cohort", 40, "--snds", 200, "--seed", 3, "--overwrite").exit_code == 0
    monkeypatch.undo()
    assert not (out / "old.txt").exists() and "truth.parquet" in outputs(out)
    assert out.stat().st_ino == inode  # replaced inside the folder, not swapped
    from harmonie.output_set import check_output_set

    check_output_set(out / "truth.parquet")  # the manifest is complete and lists the new bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop"]
