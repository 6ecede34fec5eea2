"""Several sources at once: every pair of a plan linked, then one Harmonie patient id per person.

``load_plan`` reads the plan (sources, pairs, specs, encoded files), ``link_all`` links every
pair and clusters the links source-aware (:mod:`.clustering`), ``evaluate_clusters``
measures the clusters and each pair against the truth.
"""

from linkage.multisource.clustering import Clustering, Edges, cluster
from linkage.multisource.evaluate import evaluate_clusters
from linkage.multisource.examples import example_plan, pair_spec_text
from linkage.multisource.plan import ClusterSettings, MultiSourcePlan, PairPlan, Source, load_plan, parse_plan
from linkage.multisource.run import MultiSourceResult, cluster_runs, link_all, load_pair_runs

__all__ = [
    "ClusterSettings", "Clustering", "Edges", "MultiSourcePlan", "MultiSourceResult", "PairPlan", "Source",
    "cluster", "cluster_runs", "evaluate_clusters", "example_plan", "link_all", "load_pair_runs", "load_plan",
    "pair_spec_text", "parse_plan",
]
