"""Assembling the utility report: run every section, draw the checks, write JSON and HTML.

Sections are measured at full resolution and the checks drawn from that (inside the secure
area); what is written goes through the small-cell rule first (:mod:`.disclosed`), and the
page and figures are drawn from the written JSON alone (:func:`write_pages`), so nothing of
real data reaches them that the JSON does not hold.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from harmonie.errors import InvalidParameter
from harmonie.io import ensure_output_dir, write_bytes, write_text
from harmonie.progress import stage
from privacy.disclosure import SNDS_MIN_CELL, DisclosureRule
from synth.report import plots
from synth.report.checks import THRESHOLDS, build_checks, verdict
from synth.report.correlations import correlations
from synth.report.disclosed import written_report
from synth.report.distributions import (
    child_features,
    orphan_rows,
    patient_features,
    summarise,
)
from synth.report.html_page import render
from synth.report.inputs import normalise_dataset
from synth.report.prediction import tstr
from synth.report.quality import sdv_scores
from synth.report.survival import cox, kaplan_meier, kaplan_meier_shown, survival_frames

FORMAT_VERSION = 1
DECIMALS = 6
MIN_MAX_ROWS = 100


def _plain(value):
    """JSON-ready: numpy scalars to Python, floats rounded (so the file is byte-identical run to run), NaN -> null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else round(value, DECIMALS) + 0.0
    return value


def build_utility_report(real: dict[str, pd.DataFrame], synthetic: dict[str, pd.DataFrame], out_dir: str | Path, *,
                         control: dict[str, pd.DataFrame] | None = None, seed: int = 0,
                         max_rows: int = 20_000, min_cell: int = SNDS_MIN_CELL) -> dict:
    """Compare a synthetic replica with the real analytic dataset; write ``utility.json`` and ``utility.html``.

    ``real`` and ``synthetic`` are datasets of :mod:`synth.schema` (tables patients, stays,
    dispensings); ``control`` (patients never seen by the generator, only its patients table
    is used) becomes the test set of the prediction task when given. ``max_rows`` bounds the
    patients per side used by the SDV scores, correlations, survival and prediction (seeded
    subsamples). ``min_cell`` is the smallest count of real patients the report may show
    (:class:`privacy.disclosure.DisclosureRule`); the checks do not depend on it. Returns the
    report as written to ``utility.json``: sections ``sdv``, ``distributions``, ``correlations``,
    ``survival``, ``prediction``, then ``checks``, ``notes``, ``verdict`` ("adequate" or "low
    utility: failed ...") and ``disclosure`` (the rule applied).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameter(f"seed must be a non-negative integer (got {seed!r})")
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < MIN_MAX_ROWS:
        raise InvalidParameter(f"max_rows must be an integer of at least {MIN_MAX_ROWS} (got {max_rows!r})")
    rule = DisclosureRule(min_cell=min_cell)
    seed, max_rows = int(seed), int(max_rows)
    r = normalise_dataset(real, "real")
    s = normalise_dataset(synthetic, "synthetic")
    c = normalise_dataset(control, "control", tables=("patients",)) if control is not None else None
    out = ensure_output_dir(out_dir)

    with stage("utility: SDV quality and diagnostic"):
        sdv = sdv_scores(r["patients"], s["patients"], seed=seed, max_rows=max_rows)
    with stage("utility: distributions"):
        features = patient_features(r["patients"], s["patients"]) + child_features(r, s)
        summaries = [summarise(f, rule) for f in features]
    with stage("utility: correlations"):
        corr = correlations(r["patients"], s["patients"], seed=seed, max_rows=max_rows)
    with stage("utility: survival"):
        r_surv, s_surv, dropped = survival_frames(r["patients"], s["patients"], seed=seed, max_rows=max_rows)
        km = kaplan_meier(r_surv, s_surv)
        km_shown = kaplan_meier_shown(r_surv, s_surv, km, rule)
        cox_section = cox(r_surv, s_surv)
    with stage("utility: train on synthetic, test on real"):
        prediction = tstr(r["patients"], s["patients"], None if c is None else c["patients"],
                          seed=seed, max_rows=max_rows)

    measured = _plain({
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "max_rows": max_rows,
        "sizes": {"real": {t: len(f) for t, f in r.items()}, "synthetic": {t: len(f) for t, f in s.items()},
                  "control": None if c is None else len(c["patients"])},
        "orphan_rows": {"real": orphan_rows(r), "synthetic": orphan_rows(s)},
        "sdv": sdv,
        "distributions": summaries,
        "correlations": corr,
        "survival": {"rows_compared": {"real": len(r_surv), "synthetic": len(s_surv)}, "dropped_rows": dropped,
                     "kaplan_meier": km, "cox": cox_section},
        "prediction": prediction,
        "thresholds": dict(THRESHOLDS),
    })
    checks, notes = build_checks(measured, rule)  # at full resolution, inside the secure area
    report = written_report(measured, rule, kaplan_meier=_plain(km_shown))
    report.update(checks=checks, notes=notes, verdict=verdict(checks))
    text = json.dumps(_plain(report), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    write_text(text, out / "utility.json")
    report = json.loads(text)  # the pages are drawn from what was written, nothing else

    with stage("utility: figures and HTML"):
        write_pages(report, out)
    return report


def write_pages(report: dict, out_dir: str | Path) -> None:
    """``utility.html`` and ``figures/*.png`` of a written report (``utility.json`` as loaded): the figures
    and page hold nothing the JSON does not."""
    out = ensure_output_dir(out_dir)
    min_cell = report["disclosure"]["min_cell"]
    summaries = report["distributions"]
    images = {
        "distributions_patients": plots.distributions([x for x in summaries if x["table"] == "patients"], min_cell),
        "distributions_claims": plots.distributions([x for x in summaries if x["table"] != "patients"], min_cell),
        "correlations": plots.correlations(report["correlations"]),
        "kaplan_meier": plots.kaplan_meier(report["survival"]["kaplan_meier"], min_cell),
        "forest": plots.forest(report["survival"]["cox"]["terms"], report["survival"]["cox"]["reference_cancer"]),
    }
    write_text(render(report, images), out / "utility.html")
    figures = ensure_output_dir(out / "figures")  # the same figures as files, for other reports and slides
    for name, png in images.items():
        write_bytes(base64.b64decode(png), figures / f"{name}.png")
