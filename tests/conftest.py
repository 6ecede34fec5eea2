import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from harmonie import progress
from linkage.datasets import make_population


@pytest.fixture(autouse=True, scope="session")
def _quiet():
    progress.set_enabled(False)


@pytest.fixture(autouse=True, scope="session")
def _audit_log(tmp_path_factory):
    """Commands run by the tests append to a throw-away audit log, never the user's."""
    import os

    os.environ["HARMONIE_AUDIT_LOG"] = str(tmp_path_factory.mktemp("audit") / "audit.jsonl")


def shared_folder(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder built once per test run by ``build(folder)`` and shared by every pytest-xdist worker (each worker
    has its own session, so a session fixture alone would build it once per worker): the first worker to ask
    builds it under a file lock, the others wait and read it. Without xdist, a folder of this session."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"shared-{name}"
    with FileLock(f"{root}.lock"):
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)  # a worker that died half-way
            root.mkdir(parents=True)
            build(root)
            (root / ".complete").touch()
    return root


@pytest.fixture(autouse=True, scope="session")
def _model_key(tmp_path_factory):
    """Replica models are authenticated under a throw-away model key, never the user's; one key for every worker
    of the run, so a model one worker fitted (e.g. in :func:`release_data`) loads in another."""
    os.environ["HARMONIE_MODEL_KEY"] = str(shared_folder(tmp_path_factory, "model-key", lambda _: None) /
                                           "model.key")


# A release policy for the tests of what a release *is* (stages run, bundle written, signed, verified): every
# sampled risk limit lifted and the fewest attacks the policy accepts, decided on the estimates. The full-set copy
# screen keeps its defaults, so real people are still refused. The risk measures themselves are tested, with the
# default policy and fixed seeds, in e2e/test_release.py, e2e/test_leaky_replicas.py and unit/test_membership.py.
OPEN_GATE = """\
[decisions]
use_upper_ci = false
[anonymeter]
singling_out = 1.0
linkability = 1.0
inference = 1.0
[distances]
max_dcr_share_closer_to_train = 1.0
[uniqueness]
max_replicated_uniques_excess = 1.0
[membership]
cell_frequency_auc = 1.0
density_ratio_auc = 1.0
nearest_neighbour_auc = 1.0
[measurement]
min_patients = 100
n_attacks = 100
attack_targets = 200
"""


def open_gate(folder: Path) -> Path:
    """:data:`OPEN_GATE` written as ``folder/open_gate.toml``."""
    path = folder / "open_gate.toml"
    path.write_text(OPEN_GATE)
    return path


@pytest.fixture(scope="session")
def population():
    """A small default population shared by read-only tests."""
    return make_population(1_500, 20_000, seed=11)


def _crosswalk(ids: pd.Series, prefix: str) -> pd.DataFrame:
    return pd.DataFrame({"local_id": ids.to_numpy(),
                         "linkage_id": [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest()[:20] for i in ids]})


def linked_extracts(population) -> tuple[dict, dict, pd.DataFrame]:
    """The two holders' extracts and the links a perfect linkage would give (the truth), as linkage ids."""
    from synth.extract import EXTRACTS, pseudonymise

    cw = {"cohort": _crosswalk(population["cohort_patients"]["cohort_id"], "c"),
          "snds": _crosswalk(population["snds_beneficiaries"]["snds_id"], "s")}
    extracts = {}
    for role, tables in EXTRACTS.items():
        extracts[role] = {name: pseudonymise(population[name][[id_column, *columns]], id_column, cw[role])[0]
                          for name, (id_column, columns) in tables.items()}
    truth = population["truth"]
    links = pd.DataFrame({
        "left_id": truth["cohort_id"].map(cw["cohort"].set_index("local_id")["linkage_id"]),
        "right_id": truth["snds_id"].map(cw["snds"].set_index("local_id")["linkage_id"])})
    return extracts["cohort"], extracts["snds"], links


@pytest.fixture(scope="session")
def release_data(tmp_path_factory, _model_key):
    """~3,000 training and ~2,400 control patients (the policy needs 1,000 of each), a copula replica and its
    model, each dataset also written to a folder: (root, train, control, replica). Built once per run (the fit
    takes ~40 s) and read back from its folders, as the release gate reads them."""
    from synth.dataset import read_dataset

    root = shared_folder(tmp_path_factory, "release", _build_release_data)
    return root, *(read_dataset(root / name) for name in ("train", "control", "replica"))


def _build_release_data(root: Path) -> None:
    from synth.analytic import build_analytic
    from synth.dataset import write_dataset
    from synth.replica import fit_model, sample_model

    cohort, snds, links = linked_extracts(make_population(6000, 8000, seed=5))
    analytic = build_analytic(links, cohort, snds, seed=1, control_fraction=0.45)
    fit_model(analytic.train, root / "model", seed=2)
    replica, _ = sample_model(root / "model", len(analytic.train["patients"]), seed=3)
    for name, tables in (("train", analytic.train), ("control", analytic.control), ("replica", replica)):
        write_dataset(tables, root / name)
