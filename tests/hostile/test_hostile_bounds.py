"""Careless users: sizes beyond memory, NaN thresholds, outputs that coincide with each other, with an input
or with a key file, evaluation inputs swapped or in the other order. A one-line error before any work."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harmonie.errors import HarmonieError
from harmonie.io import write_bytes, write_parquet
from hostile.hostile_helpers import one_line_error, run


@pytest.mark.parametrize("args, mention", [
    (["synth", "sample", "--model", "m", "--rows", "50000000", "--out", "r"], "--rows"),
    (["synth", "sample", "--model", "m", "--rows", "-3", "--out", "r"], "--rows"),
    (["synth", "fit", "--data", "d", "--out", "m", "--epochs", "-1"], "--epochs"),
    (["synth", "fit", "--data", "d", "--out", "m", "--seed", "-5"], "--seed"),
    (["synth", "analytic", "--links", "l", "--cohort", "c", "--snds", "s", "--out", "o", "--control-fraction", "1.5"],
     "--control-fraction"),
    (["simulate", "--out", "o", "--snds", "1000000000"], "--snds"),
    (["simulate", "--out", "o", "--cohort", "50000000", "--snds", "60000000"], "--cohort"),
])
def test_sizes_and_seeds_out_of_bounds_are_one_line(tmp_path, args, mention):
    one_line_error(run(*[str(tmp_path / a) if a in "mrdlcso" else a for a in args]), mention)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "1", "0", "-0.5"])
def test_a_threshold_that_is_not_a_probability_is_one_line(world, value):
    one_line_error(run(*world.link_args(None, None, None, "--threshold", value)), "--threshold")


def test_outputs_that_coincide_with_each_other_an_input_or_the_key_are_refused(world, tmp_path):
    key = tmp_path / "k.key"
    shutil.copy(world.key, key)
    base = ["encode", "--spec", world.spec, "--key", key, "--in", world.patients, "--stays", world.stays]
    cases = [
        (["--out", tmp_path / "same.parquet", "--crosswalk", tmp_path / "same.parquet"], "--crosswalk and --out"),
        (["--out", tmp_path / "e.parquet", "--crosswalk", key], "--key"),
        (["--out", world.stays, "--crosswalk", tmp_path / "cw.parquet"], "--stays"),
        (["--out", tmp_path / "e.parquet", "--crosswalk", tmp_path / "cw.parquet", "--rejects",
          tmp_path / "e.parquet"], "--rejects and --out"),
        (["--out", tmp_path / "e.parquet", "--crosswalk", tmp_path / "x" / ".." / "cw.parquet", "--rejects",
          tmp_path / "cw.parquet"], "the same file"),
    ]
    for extra, mention in cases:
        one_line_error(run(*base, *extra), mention)
    assert key.read_bytes() == world.key.read_bytes()
    assert not (tmp_path / "e.parquet").exists() and not (tmp_path / "same.parquet").exists()


def test_no_writer_ever_replaces_a_key_file(world, tmp_path):
    """Another key than the one given (the signing key, a second project's key) is protected too."""
    other = tmp_path / "other.key"
    shutil.copy(world.key, other)
    with pytest.raises(HarmonieError, match="key file"):
        write_parquet(pa.table({"a": [1]}), other)
    with pytest.raises(HarmonieError, match="key file"):
        write_bytes(b"x", other)
    assert other.read_bytes() == world.key.read_bytes()
    one_line_error(run("spec", "example", "names", "--out", other), "key file")


def test_evaluate_refuses_swapped_crosswalks_reversed_truth_and_integer_ids(world, tmp_path):
    base = ["evaluate", "--links", world.run_dir / "links.parquet", "--out", tmp_path / "ev"]
    truth = world.pop / "truth.parquet"
    swapped = base + ["--truth", truth, "--left-crosswalk", world.right_cw, "--right-crosswalk", world.left_cw]
    one_line_error(run(*swapped), "swap --left-crosswalk and --right-crosswalk")
    reversed_truth = tmp_path / "truth.parquet"
    pq.write_table(pq.read_table(truth).select(["snds_id", "cohort_id"]), reversed_truth)
    crosswalks = ["--left-crosswalk", world.left_cw, "--right-crosswalk", world.right_cw]
    one_line_error(run(*base, "--truth", reversed_truth, *crosswalks), "other order")
    integer_truth = tmp_path / "int_truth.parquet"
    pq.write_table(pa.table({"cohort_id": pa.array(range(50)), "snds_id": pa.array(range(50))}), integer_truth)
    one_line_error(run(*base, "--truth", integer_truth, *crosswalks), "local id")
    result = run(*base, "--truth", truth, *crosswalks)  # the right inputs still evaluate
    assert result.exit_code == 0 and "precision" in result.output, result.output
