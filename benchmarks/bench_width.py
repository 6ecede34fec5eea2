"""Wide patient tables (issue #23 item 4): fit + sample time, memory and utility against the number of extra columns.

    .venv/bin/harmonie simulate --out W --cohort 20000 --snds 300000 --seed 0 --param clinical_variables.count=500
    .venv/bin/python benchmarks/bench_width.py --population W --widths 0,20,100,500 --work B [--risk] \\
        [--sdv-baseline 20,100,500] [--sdv-conditional 50] [--redo report]

For each width w, the analytic dataset is built from the simulator's truth (a perfect linkage: this measures the
generator) with the first w extra clinical columns of ``cohort_variables.parquet`` (variable k is the same in
every catalogue, so width 20 is a subset of width 500), 80% train / 20% control, the same split for every width.
Then ``harmonie synth fit``, ``synth sample`` and ``synth report`` run as commands (wall time and peak RSS of
each; the fit's stage lines give the extra columns' own share), and with ``--risk`` ``harmonie risk`` (default
policy, decisions on the upper CI). Utility: the report's verdict, its extra-column checks (worst ratio to the
allowance, <= 1 passes), and planted relations of the world read directly: Spearman correlations, real training
set vs replica, of LDH, albumin and ECOG with death within 2 years (prognostic through the frailty shared with
survival), of EGFR with lung adenocarcinoma and of BRCA with triple-negative breast cancer (subtype effects).

``--sdv-baseline`` times the alternative design, the existing per-stratum SDV GaussianCopula given every extra
column too: one fit and one sample of the largest cancer x subtype x stage stratum (its real rows, the baseline
columns plus w extra ones), and the estimate for all strata (x number of strata; the others are smaller, so
this is an upper bound of the wall time, a fair order of magnitude). That design also draws the extra columns
before survival, blind to it. ``--sdv-conditional N`` times the other SDV route, a copula with the core inside
sampled given each patient's own core (``sample_remaining_columns``), for N patients. Prints Markdown and
writes benchmarks/results/width_<training patients>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
from _measure import measure  # noqa: E402

RELATIONS = (  # (extra column, core target, how the target is built) the world plants
    ("ldh_ui_l", "death within 2 years"), ("albumin_g_l", "death within 2 years"),
    ("ecog_performance_status", "death within 2 years"), ("egfr_mutation", "subtype=adenocarcinoma"),
    ("brca_mutation", "subtype=triple-negative"),
)


def _analytic(population: Path, width: int, control_fraction: float, seed: int, out: Path) -> None:
    from conftest import _crosswalk, linked_extracts
    from harmonie.io import read_table
    from synth.analytic import build_analytic
    from synth.dataset import write_dataset
    from synth.extract import pseudonymise

    class Folder:  # what linked_extracts reads: population[name] as a DataFrame
        def __getitem__(self, name: str) -> pd.DataFrame:
            return read_table(population / f"{name}.parquet").to_pandas()

    cohort, snds, links = linked_extracts(Folder())
    if width:
        variables = read_table(population / "cohort_variables.parquet").to_pandas()
        if variables.shape[1] - 1 < width:
            raise SystemExit(f"{population} has {variables.shape[1] - 1} clinical variables, fewer than {width}: "
                             f"simulate with --param clinical_variables.count={width}")
        crosswalk = _crosswalk(Folder()["cohort_patients"]["cohort_id"], "c")  # the one linked_extracts used
        cohort["cohort_variables"] = pseudonymise(variables.iloc[:, :width + 1], "cohort_id", crosswalk)[0]
    analytic = build_analytic(links, cohort, snds, seed=seed, control_fraction=control_fraction)
    write_dataset(analytic.train, out / "train")
    write_dataset(analytic.control, out / "control")


def _code(values: pd.Series) -> pd.Series:
    if values.dtype == object or str(values.dtype) in ("boolean", "bool"):
        levels = sorted(values.dropna().astype(str).unique())
        return values.astype("object").map(lambda v: None if v is None or v is pd.NA else levels.index(str(v)))\
            .astype("float64")
    return values.astype("float64")


def _target(p: pd.DataFrame, target: str) -> pd.Series:
    if target == "death within 2 years":
        died = p["death"].astype(bool) & (p["followup_days"] <= 730)
        return died.astype(float).where(died | (p["followup_days"] >= 730))
    column, value = target.split("=")
    return (p[column] == value).astype(float)


def relations(real: pd.DataFrame, synthetic: pd.DataFrame) -> list[dict]:
    out = []
    for column, target in RELATIONS:
        if column not in real.columns or column not in synthetic.columns:
            continue
        pair = [float(_code(p[column]).corr(_target(p, target), method="spearman")) for p in (real, synthetic)]
        out.append({"column": column, "target": target, "real": round(pair[0], 3), "synthetic": round(pair[1], 3)})
    return out


def _sdv_baseline(train: Path, width: int, seed: int) -> dict:
    """One SDV GaussianCopula of the largest stratum, baseline columns + ``width`` extra ones, as the existing
    patient models are built (synth.generators), timed."""
    from synth.dataset import read_dataset
    from synth.generators import GROUPS, MIN_PATIENTS_PER_GROUP, MODEL_COLUMNS, draw, fit_synthesizer,\
        single_table_synthesizer
    from synth.schema import extra_sdtypes
    from synth.strata import fit_strata

    patients = read_dataset(train, ("patients",))["patients"]
    groups = fit_strata(patients, GROUPS, MIN_PATIENTS_PER_GROUP)
    largest = groups.value_counts().sort_index().idxmax()
    extras = dict(list(extra_sdtypes(patients).items())[:width])
    core = {c: t for c, t in MODEL_COLUMNS.items() if c not in ("cancer_type", "departement")}
    frame = patients.loc[groups == largest, [*core, *extras]].reset_index(drop=True)
    for column, sdtype in extras.items():  # SDV wants plain objects for yes/no with gaps
        if sdtype == "boolean":
            frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
    synthesizer = single_table_synthesizer({**core, **extras})
    start = time.perf_counter()
    fit_synthesizer(synthesizer, frame, seed, "patients")
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    draw(synthesizer, len(frame), seed, "patients")
    sample_seconds = time.perf_counter() - start
    strata = int(groups.nunique())
    return {"width": width, "stratum": largest, "stratum_patients": len(frame), "strata": strata,
            "fit_seconds_one_stratum": round(fit_seconds, 1), "sample_seconds_one_stratum": round(sample_seconds, 1),
            "all_strata_estimate_seconds": round((fit_seconds + sample_seconds) * strata, 0)}


def _sdv_conditional(train: Path, rows: int, seed: int) -> dict:
    """The other SDV route to extra columns conditioned on each patient: one GaussianCopula of the largest stratum
    learning age, follow-up, death and 20 extra numbers, then ``sample_remaining_columns`` given ``rows`` patients'
    own age, follow-up and death (SDV samples per distinct condition, with rejection), timed."""
    from synth.dataset import read_dataset
    from synth.generators import GROUPS, MIN_PATIENTS_PER_GROUP, fit_synthesizer, single_table_synthesizer
    from synth.schema import extra_sdtypes
    from synth.sdv_support import quiet
    from synth.strata import fit_strata

    patients = read_dataset(train, ("patients",))["patients"]
    groups = fit_strata(patients, GROUPS, MIN_PATIENTS_PER_GROUP)
    numbers = [c for c, t in extra_sdtypes(patients).items() if t == "numerical"][:20]
    frame = patients.loc[groups == groups.value_counts().sort_index().idxmax(),
                         ["age_at_diagnosis", "followup_days", "death", *numbers]].reset_index(drop=True)
    synthesizer = single_table_synthesizer({"age_at_diagnosis": "numerical", "followup_days": "numerical",
                                            "death": "boolean", **{c: "numerical" for c in numbers}})
    fit_synthesizer(synthesizer, frame, seed, "patients")
    known = frame[["age_at_diagnosis", "followup_days", "death"]].iloc[:rows].reset_index(drop=True)
    start = time.perf_counter()
    with quiet():
        synthesizer.sample_remaining_columns(known_columns=known, max_tries_per_batch=100)
    seconds = time.perf_counter() - start
    return {"patients_conditioned": rows, "training_rows": len(frame), "extra_columns": len(numbers),
            "seconds": round(seconds, 1), "seconds_per_patient": round(seconds / rows, 2)}


def _run(harmonie: str, arguments: list) -> tuple[dict, str]:
    m = measure([harmonie, *map(str, arguments)])
    if m.exit_code:
        raise SystemExit(f"{' '.join(map(str, arguments[:2]))} failed:\n{m.stderr[-3000:]}")
    return ({"wall_seconds": round(m.wall_seconds, 1), "peak_rss_gb": round(m.peak_rss_gb, 2),
             "stages": m.stages}, m.stdout)


def run_width(population: Path, width: int, work: Path, *, control_fraction: float, seed: int, risk: bool,
              redo: set[str]) -> dict:
    """Each step runs unless ``work/w<width>`` already holds its output and timing (then both are reused), or it is
    in ``redo``; a fit or sample run again makes every later step run again."""
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    folder = work / f"w{width}"
    if not (folder / "analytic" / "train").exists():  # in a child: the commands' peak RSS would otherwise start at
        _in_child(_analytic, population, width, control_fraction, seed, folder / "analytic")  # ours (Linux keeps a
        #                                                       forked child's ru_maxrss at least its parent's)
    saved = folder / "timings.json"
    timings = json.loads(saved.read_text()) if saved.exists() else {}
    train, control = folder / "analytic" / "train", folder / "analytic" / "control"
    steps = [("fit", "model", ["synth", "fit", "--data", train, "--out", folder / "model", "--seed", seed]),
             ("sample", "replica", ["synth", "sample", "--model", folder / "model", "--out", folder / "replica",
                                    "--seed", seed + 1]),
             ("report", "utility", ["synth", "report", "--real", train, "--synthetic", folder / "replica",
                                    "--control", control, "--out", folder / "utility"])]
    if risk:
        steps.append(("risk", "risk", ["risk", "--real", train, "--synthetic", folder / "replica", "--control",
                                       control, "--out", folder / "risk", "--seed", 1]))
    result, rewritten = {"width": width}, False
    for step, output, arguments in steps:
        if rewritten or step in redo or step not in timings or not (folder / output).exists():
            timings[step], stdout = _run(harmonie, arguments)
            if step == "risk":
                timings[step]["verdict"] = stdout.strip().splitlines()[-1] if stdout.strip() else ""
            saved.write_text(json.dumps(timings, indent=2) + "\n")
            rewritten = rewritten or step in ("fit", "sample")  # what follows reads what this step rewrote
        result[step] = timings[step]
    report = json.loads((folder / "utility" / "utility.json").read_text())
    result["verdict"] = report["verdict"]
    result["checks_passed"] = f"{sum(c['passed'] for c in report['checks'])}/{len(report['checks'])}"
    result["extra_checks"] = {c["name"]: {"value": c["value"], "passed": c["passed"]} for c in report["checks"]
                              if c["name"].startswith("extra_columns")}
    result["sdv_quality"] = report["sdv"]["quality_score"]
    result["tstr_auc_ratio"] = report["prediction"]["auc_ratio"]
    wide = [s for s in result["fit"]["stages"] if "extra clinical columns" in s["stage"]]
    result["fit_extra_columns_seconds"] = wide[0]["seconds"] if wide else 0.0
    wide = [s for s in result["sample"]["stages"] if "extra clinical columns" in s["stage"]]
    result["sample_extra_columns_seconds"] = wide[0]["seconds"] if wide else 0.0
    result["patients"], result["relations"] = _in_child(_relations_of, folder)
    return result


def _relations_of(folder: Path) -> tuple[dict, list[dict]]:
    from synth.dataset import read_dataset

    real = read_dataset(folder / "analytic" / "train", ("patients",))["patients"]
    synthetic = read_dataset(folder / "replica", ("patients",))["patients"]
    return {"train": len(real), "replica": len(synthetic)}, relations(real, synthetic)


def _in_child(function, *arguments):
    """``function(*arguments)`` in a fresh (spawned) process, so that this one stays small."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, arguments)


def _markdown(results: list[dict], baselines: list[dict]) -> str:
    lines = ["| extra columns | fit (s) | of which extra columns | sample (s) | of which extra columns | fit + sample "
             "(s) | peak RSS fit / sample (GB) | report (s) | utility verdict | extra-column checks (worst ratio, "
             "<= 1 passes) | risk |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---|---|---|"]
    for r in results:
        extra = ", ".join(f"{k.replace('extra_columns_', '')} {round(v['value'], 2)}"
                          for k, v in r["extra_checks"].items()) or "—"
        risk = "—" if "risk" not in r else f"{r['risk']['verdict'].split(';')[0].split(' — ')[0]} " \
            f"({r['risk']['wall_seconds']} s, {r['risk']['peak_rss_gb']} GB)"
        lines.append(f"| {r['width']} | {r['fit']['wall_seconds']} | {r['fit_extra_columns_seconds']} | "
                     f"{r['sample']['wall_seconds']} | {r['sample_extra_columns_seconds']} | "
                     f"{r['fit']['wall_seconds'] + r['sample']['wall_seconds']:.1f} | "
                     f"{r['fit']['peak_rss_gb']} / {r['sample']['peak_rss_gb']} | {r['report']['wall_seconds']} | "
                     f"{r['verdict'][:60]} ({r['checks_passed']}) | {extra} | {risk} |")
    lines += ["", "| extra columns | relation | real | synthetic |", "|---:|---|---:|---:|"]
    for r in results:
        lines += [f"| {r['width']} | {x['column']} ~ {x['target']} | {x['real']} | {x['synthetic']} |"
                  for x in r["relations"]]
    if baselines:
        lines += ["", "| extra columns | SDV copula, largest stratum (patients) | fit (s) | sample (s) | strata | "
                  "all strata, estimate (s) |", "|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {b['width']} | {b['stratum'].split(':')[-1].strip('|').replace('|', ' / ')} "
                  f"({b['stratum_patients']:,}) | {b['fit_seconds_one_stratum']} | "
                  f"{b['sample_seconds_one_stratum']} | {b['strata']} | {b['all_strata_estimate_seconds']:.0f} |"
                  for b in baselines]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, required=True)
    parser.add_argument("--widths", default="0,20,100,500", help="numbers of extra columns, comma-separated")
    parser.add_argument("--control-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="keep the analytic datasets, models and replicas here")
    parser.add_argument("--risk", action="store_true", help="also run `harmonie risk` on each replica")
    parser.add_argument("--sdv-baseline", default="", help="widths at which to time the per-stratum SDV copula")
    parser.add_argument("--sdv-conditional", type=int, default=0,
                        help="time SDV's conditional sampling of extra columns for this many patients")
    parser.add_argument("--redo", default="", help="steps to run again even when WORK holds them (fit, sample, "
                                                   "report, risk), comma-separated")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-width-"))
    results, baselines = [], []
    for width in (int(w) for w in args.widths.split(",") if w):
        results.append(run_width(args.population, width, work, control_fraction=args.control_fraction,
                                 seed=args.seed, risk=args.risk, redo=set(args.redo.split(","))))
        print(json.dumps({k: v for k, v in results[-1].items() if k not in ("fit", "sample", "report")}, default=str),
              flush=True)
    for width in (int(w) for w in args.sdv_baseline.split(",") if w):
        train = work / f"w{max(r['width'] for r in results)}" / "analytic" / "train"
        baselines.append(_in_child(_sdv_baseline, train, width, args.seed))
        print(json.dumps(baselines[-1]), flush=True)
    conditional = None
    if args.sdv_conditional:
        train = work / f"w{max(r['width'] for r in results)}" / "analytic" / "train"
        conditional = _in_child(_sdv_conditional, train, args.sdv_conditional, args.seed)
        print(json.dumps(conditional), flush=True)
    print(_markdown(results, baselines))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    name = f"width_{results[0]['patients']['train'] if results else 0}.json"
    (out / name).write_text(json.dumps({"population": str(args.population), "results": results,
                                        "sdv_baseline": baselines, "sdv_conditional": conditional},
                                       indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
