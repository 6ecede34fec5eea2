"""Utility report of a synthetic replica: how well it keeps what oncology studies look at.

    from synth.report import build_utility_report
    report = build_utility_report(real, synthetic, "report/", control=control, seed=0, min_cell=11)
    report["verdict"]   # "adequate" or "low utility: failed ..."

Writes ``utility.json`` (byte-identical for the same inputs and seed), a self-contained
``utility.html`` and its figures, all three drawn from the JSON alone (:func:`write_pages`).
Sections: SDV quality and diagnostic (:mod:`.quality`), per-variable distributions
(:mod:`.distributions`), pairwise associations (:mod:`.correlations`), Kaplan–Meier and Cox
(:mod:`.survival`), Cox models by cancer type with subtypes and treatments and treatment ×
stage shares (:mod:`.treatments`), claims and their coherence with treatments (:mod:`.claims`),
care pathways (:mod:`.care_pathways`), cost per patient (:mod:`.costs`),
train-on-synthetic/test-on-real (:mod:`.prediction`); pass/fail checks against
:data:`THRESHOLDS` (:mod:`.checks`), computed at full resolution, each allowing for the
sampling noise of the real data's size (the synthetic side is never compared with more
patients than the real one). What is written of
real patients obeys the small-cell rule of :mod:`privacy.disclosure` (``min_cell``, 11 by
default): see :mod:`.disclosed`; :func:`real_sources` gives what
:func:`privacy.disclosure.scan_report` checks a written report against.
"""

from synth.report.build import build_utility_report, write_pages
from synth.report.checks import THRESHOLDS
from synth.report.disclosed import real_sources

__all__ = ["THRESHOLDS", "build_utility_report", "real_sources", "write_pages"]
