"""Utility report of a synthetic replica: how well it keeps what oncology studies look at.

    from synth.report import build_utility_report
    report = build_utility_report(real, synthetic, "report/", control=control, seed=0)
    report["verdict"]   # "adequate" or "low utility: failed ..."

Writes ``utility.json`` (byte-identical for the same inputs and seed) and a self-contained
``utility.html``. Sections: SDV quality and diagnostic (:mod:`.quality`), per-variable
distributions (:mod:`.distributions`), pairwise associations (:mod:`.correlations`),
Kaplan–Meier and Cox (:mod:`.survival`), train-on-synthetic/test-on-real (:mod:`.prediction`);
pass/fail checks against :data:`THRESHOLDS` (:mod:`.checks`).
"""

from synth.report.build import build_utility_report
from synth.report.checks import THRESHOLDS

__all__ = ["THRESHOLDS", "build_utility_report"]
