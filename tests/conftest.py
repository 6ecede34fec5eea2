import pytest

from harmonie import progress
from linkage.datasets import make_population


@pytest.fixture(autouse=True, scope="session")
def _quiet():
    progress.set_enabled(False)


@pytest.fixture(scope="session")
def population():
    """A small default population shared by read-only tests."""
    return make_population(1_500, 20_000, seed=11)
