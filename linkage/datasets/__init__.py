"""Test populations with ground truth: the cohort <-> SNDS simulator, several cohort programmes
with yearly extractions (``make_warehouse``), and the FEBRL sets."""

from linkage.datasets.cohorts import PROGRAMMES, CohortProgramme, parse_cohorts
from linkage.datasets.febrl import load_febrl1, load_febrl2, load_febrl3, load_febrl4
from linkage.datasets.params import PopulationParams, SideCorruption
from linkage.datasets.population import Population, make_population
from linkage.datasets.summary import population_summary
from linkage.datasets.warehouse import Warehouse, make_warehouse

__all__ = [
    "make_population", "Population", "PopulationParams", "SideCorruption", "population_summary",
    "load_febrl1", "load_febrl2", "load_febrl3", "load_febrl4",
    "make_warehouse", "Warehouse", "CohortProgramme", "PROGRAMMES", "parse_cohorts",
]
