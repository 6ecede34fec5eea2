"""Fixtures of the hostile-input suite (issue 18): one small linkage world, built once per worker."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hostile.hostile_helpers import World, run


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    from linkage.datasets import make_population
    from linkage.spec import example_spec_text

    w = World(tmp_path_factory.mktemp("hostile"))
    make_population(300, 3000, seed=18).write(w.pop)
    # u from 200,000 random pairs instead of 5,000,000: the same model shape, in a fraction of the time
    w.spec.write_text(re.sub(r"(?m)^u_sample_pairs = .*$", "u_sample_pairs = 200000", example_spec_text("indirect")))
    assert run("keys", "new", "--out", w.key).exit_code == 0
    for role, patients, stays, out, cw in (
            ("cohort", w.patients, w.stays, w.left, w.left_cw),
            ("snds", w.pop / "snds_beneficiaries.parquet", w.pop / "snds_stays.parquet", w.right, w.right_cw)):
        result = run("encode", "--spec", w.spec, "--key", w.key, "--in", patients, "--stays", stays, "--out", out,
                     "--crosswalk", cw)
        assert result.exit_code == 0, result.output
    result = run("link", "--spec", w.spec, "--left", w.left, "--right", w.right, "--out", w.run_dir, "--no-charts")
    assert result.exit_code == 0, result.output
    return w


@pytest.fixture()
def scratch(tmp_path, world) -> Path:
    """A folder of the test's own holding a copy of the population."""
    shutil.copytree(world.pop, tmp_path / "pop")
    return tmp_path
