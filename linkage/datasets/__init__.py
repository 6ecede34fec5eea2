"""Test populations with ground truth: the cohort <-> SNDS simulator and the FEBRL sets."""

from linkage.datasets.febrl import load_febrl1, load_febrl2, load_febrl3, load_febrl4
from linkage.datasets.params import PopulationParams, SideCorruption
from linkage.datasets.population import Population, make_population
from linkage.datasets.summary import population_summary

__all__ = [
    "make_population", "Population", "PopulationParams", "SideCorruption", "population_summary",
    "load_febrl1", "load_febrl2", "load_febrl3", "load_febrl4",
]
