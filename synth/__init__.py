"""Synthetic replicas of the linked oncology dataset: extracts, the analytic dataset, generators, utility.

    tables, counts = make_extract("cohort", "holder_cohort/", "crosswalk.parquet", linked_ids("links.parquet"))
    analytic = build_analytic(links, cohort_tables, snds_tables, seed=0)   # .train, .control, .quarantine
    model = fit_model(analytic.train, "model/", seed=0)          # a ReplicaModel, saved (out_dir optional)
    fit_model(analytic.train, "model-dp/", generator="mst", privacy=DPSettings(epsilon=3))  # DP patient table
    replica, manifest = sample_model(model, seed=1)              # or sample_model("model/"): ReplicaModel.load
    report = build_utility_report(analytic.train, replica, "utility/", control=analytic.control)

Generators are SDV's (Business Source License 1.1: no commercial synthetic-data service), and
smartnoise-synth's MST / AIM (MIT) for a differentially private patient table (synth.dp_patients).
"""

from harmonie.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "make_extract": "synth.extract", "write_extract": "synth.extract", "linked_ids": "synth.extract",
    "build_analytic": "synth.analytic", "fit_model": "synth.replica", "sample_model": "synth.replica",
    "ReplicaModel": "synth.replica",
    "DPSettings": "synth.dp_patients",
    "read_dataset": "synth.dataset", "write_dataset": "synth.dataset",
    "build_utility_report": "synth.report",
})
