"""Replicas that keep clinical inference (issue #23): planted effects, claims, costs, comparators, time.

    .venv/bin/python benchmarks/bench_inference.py --population DIR [--control-fraction 0.2] [--seed 0]
        [--work W] [--replica R]...

DIR is a `harmonie simulate` output (its population.json holds the world's true hazard
ratios). The analytic dataset is built from the simulator's truth (a perfect linkage: this
measures the generator, not the linkage), split into train and control; `synth fit` and
`synth sample` run as commands (wall time and peak RSS measured); then, for the replica
made here and every `--replica` folder given (e.g. one made by an older generator, the
negative control):

- every true effect of the world (subtypes, treatments, sex, per cancer): a Cox model per
  cancer stratified by stage on the training set and on the replica (same number of
  patients); does the synthetic 95% CI cover the real estimate, is the direction right;
- treatment <-> claims incoherence (synth.care_rules) real vs synthetic; day sessions with
  nights; day-case share and length-of-stay KS against the real-vs-control noise;
- external comparator: for three treatments, the log-HR of treated training patients vs
  untreated comparators from the real control set and from the replica (every eligible
  untreated patient of each; Cox adjusted for age, sex, subtype, stratified by stage); the
  difference of the two, with each estimate's standard error (the real control set is small:
  its own noise bounds how close the two can be shown to be);
- mean cost per patient by cancer, real vs synthetic.
Prints Markdown and writes benchmarks/results/inference.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
from _measure import measure  # noqa: E402

COMPARATORS = (("breast", "hormone_therapy"), ("breast", "targeted_therapy"), ("lung", "surgery"))


SUBTYPE_EFFECTS = {"hr_breast_her2": ("breast", "subtype=HER2+"),
                   "hr_breast_triple_negative": ("breast", "subtype=triple-negative"),
                   "hr_lung_squamous": ("lung", "subtype=squamous"), "hr_lung_small_cell": ("lung", "subtype=small-cell"),
                   "hr_ovarian_clear_cell": ("ovarian", "subtype=clear-cell")}
TREATMENT_CANCERS = {"surgery": ("breast", "lung", "ovarian"), "chemotherapy": ("breast", "lung", "ovarian"),
                     "radiotherapy": ("breast", "lung"), "hormone_therapy": ("breast",),
                     "targeted_therapy": ("breast", "lung", "ovarian")}


def _world_effects(population: Path) -> list:
    """The world's hazard ratios (population.json, parameters ``clinical.hr_*``) as PlantedEffects, per cancer."""
    from synth.planted import PlantedEffect

    clinical = json.loads((population / "population.json").read_text())["params"].get("clinical", {})
    out = [PlantedEffect(cancer, term, float(clinical[key])) for key, (cancer, term) in SUBTYPE_EFFECTS.items()
           if key in clinical]
    out += [PlantedEffect(cancer, treatment, float(clinical[f"hr_{treatment}"]))
            for treatment, cancers in TREATMENT_CANCERS.items() if f"hr_{treatment}" in clinical for cancer in cancers]
    if "hr_male" in clinical:
        out.append(PlantedEffect("lung", "male", float(clinical["hr_male"])))
    return out


def _analytic(population: Path, control_fraction: float, seed: int, out: Path) -> None:
    from conftest import linked_extracts
    from synth.analytic import build_analytic
    from synth.dataset import write_dataset

    class Folder:  # what linked_extracts reads: population[name] as a DataFrame
        def __getitem__(self, name: str) -> pd.DataFrame:
            return pd.read_parquet(population / f"{name}.parquet")

    cohort, snds, links = linked_extracts(Folder())
    analytic = build_analytic(links, cohort, snds, seed=seed, control_fraction=control_fraction)
    write_dataset(analytic.train, out / "train")
    write_dataset(analytic.control, out / "control")


def _comparator_log_hr(treated: pd.DataFrame, comparator: pd.DataFrame, cancer: str, treatment: str
                       ) -> tuple[float, float]:
    from lifelines import CoxPHFitter

    frame = pd.concat([treated.assign(_arm=1.0), comparator.assign(_arm=0.0)], ignore_index=True)
    x = pd.DataFrame({"_arm": frame["_arm"], "age": (frame["age_at_diagnosis"] - 60) / 10.0})
    if frame["sex"].nunique() > 1:
        x["male"] = (frame["sex"] == "M").astype(float)
    for label in sorted(frame["subtype"].astype(str).unique())[1:]:
        x[f"subtype={label}"] = (frame["subtype"].astype(str) == label).astype(float)
    x = x.loc[:, x.std() > 0]
    x = x.assign(_days=frame["followup_days"].clip(lower=0.5), _died=frame["death"].astype(int), _stage=frame["stage"])
    cox = CoxPHFitter(penalizer=0.001).fit(x, "_days", "_died", strata=["_stage"])
    return float(cox.params_["_arm"]), float(cox.standard_errors_["_arm"])


def _eligible(p: pd.DataFrame, cancer: str, treatment: str) -> pd.DataFrame:
    f = p[p["cancer_type"] == cancer]
    if treatment == "hormone_therapy":
        f = f[f["subtype"] == "HR+/HER2-"]
    if treatment == "targeted_therapy" and cancer == "breast":
        f = f[f["subtype"] == "HER2+"]
    return f


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).statistic) if len(a) and len(b) else float("nan")


def _claims_figures(real: dict, synthetic: dict, control: dict) -> dict:
    from synth.care_rules import incoherent_claims

    def los(t):
        return (t["stays"]["discharge_date"] - t["stays"]["admission_date"]).dt.days.to_numpy()

    def day_case(t):
        return float((los(t) == 0).mean())

    real_rules, synthetic_rules = incoherent_claims(real), incoherent_claims(synthetic)
    night_rule = next(rule for rule in synthetic_rules if rule.startswith("day session"))
    return {
        "incoherent_claims_real": sum(real_rules.values()),
        "incoherent_claims_synthetic": sum(synthetic_rules.values()),
        "day_sessions_with_nights_synthetic": synthetic_rules[night_rule],
        "day_case_share": {"real": day_case(real), "synthetic": day_case(synthetic), "control": day_case(control)},
        "los_ks": {"synthetic_vs_real": _ks(los(real), los(synthetic)), "control_vs_real": _ks(los(real), los(control))},
    }


def _read(folder: Path) -> dict:
    """A dataset's tables as written, whatever its schema version (an older generator's replica has fewer columns)."""
    tables = {}
    for name in ("patients", "stays", "dispensings"):
        frame = pd.read_parquet(folder / f"{name}.parquet")
        for column in frame.columns:
            if column.endswith("_date") or column == "end_of_followup":
                frame[column] = pd.to_datetime(frame[column])
        tables[name] = frame
    return tables


def _cost_per_patient(t: dict) -> pd.Series:
    from synth.report.costs import patient_costs

    p = t["patients"]
    if "cost_eur" not in t["stays"].columns:  # an older generator's replica
        return pd.Series(np.nan, index=pd.Index(sorted(p["cancer_type"].unique()), name="cancer_type"))
    return patient_costs(t).groupby(p["cancer_type"]).mean()


def evaluate(real: dict, control: dict, synthetic: dict, effects: list, seed: int) -> dict:
    from synth.planted import recovery

    n = min(len(real["patients"]), len(synthetic["patients"]))
    syn_p = synthetic["patients"].sample(n, random_state=seed) if len(synthetic["patients"]) > n else synthetic["patients"]
    table = recovery(real["patients"], syn_p, effects) if effects else pd.DataFrame()
    comparators = []
    for cancer, treatment in COMPARATORS:
        treated = _eligible(real["patients"], cancer, treatment)
        treated = treated[treated[treatment]]
        ctrl = _eligible(control["patients"], cancer, treatment)
        syn = _eligible(synthetic["patients"], cancer, treatment)
        syn, ctrl = syn[~syn[treatment]], ctrl[~ctrl[treatment]]
        (a, se_a), (b, se_b) = (_comparator_log_hr(treated, ctrl, cancer, treatment),
                                _comparator_log_hr(treated, syn, cancer, treatment))
        comparators.append({"cancer": cancer, "treatment": treatment, "untreated_real_control": len(ctrl),
                            "untreated_replica": len(syn), "log_hr_vs_real_control": round(a, 4),
                            "se_vs_real_control": round(se_a, 4), "log_hr_vs_replica": round(b, 4),
                            "se_vs_replica": round(se_b, 4), "difference": round(b - a, 4)})
    costs = pd.DataFrame({"real": _cost_per_patient(real), "synthetic": _cost_per_patient(synthetic)})
    costs["relative_difference"] = costs["synthetic"] / costs["real"] - 1
    return {"effects": table.round(4).to_dict(orient="records"),
            "covered_share": float(table["covered"].mean()) if len(table) else None,
            "wrong_direction": int((~table["same_direction"]).sum()) if len(table) else None,
            "claims": _claims_figures(real, synthetic, control), "comparators": comparators,
            "cost_per_patient": costs.round(4).reset_index().to_dict(orient="records")}


def _markdown(label: str, result: dict) -> str:
    lines = [f"### {label}", "", "| cancer | term | true log-HR | real | synthetic [95% CI] | covered | direction |",
             "|---|---|---:|---:|---|---|---|"]
    for e in result["effects"]:
        lines.append(f"| {e['cancer']} | {e['term']} | {e['planted']:.2f} | {e['real']:.2f} | {e['synthetic']:.2f} "
                     f"[{e['synthetic_lower']:.2f}, {e['synthetic_upper']:.2f}] | {'yes' if e['covered'] else 'NO'} | "
                     f"{'ok' if e['same_direction'] else 'WRONG'} |")
    lines += ["", f"covered: {result['covered_share']:.0%}; wrong direction: {result['wrong_direction']}", "",
              "| claims figure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["claims"].items()]
    lines += ["", "| comparator | untreated: control / replica | log-HR vs real control (SE) | vs replica (SE) | "
              "difference |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {c['cancer']} {c['treatment']} | {c['untreated_real_control']:,} / {c['untreated_replica']:,} | "
              f"{c['log_hr_vs_real_control']:.3f} ({c['se_vs_real_control']:.3f}) | {c['log_hr_vs_replica']:.3f} "
              f"({c['se_vs_replica']:.3f}) | {c['difference']:+.3f} |" for c in result["comparators"]]
    lines += ["", "| cancer | mean cost real (€) | synthetic (€) | difference |", "|---|---:|---:|---:|"]
    lines += [f"| {c['cancer_type']} | {c['real']:,.0f} | {c['synthetic']:,.0f} | {c['relative_difference']:+.1%} |"
              for c in result["cost_per_patient"]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, required=True)
    parser.add_argument("--control-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="keep the analytic dataset, model and replica here")
    parser.add_argument("--replica", type=Path, action="append", default=[],
                        help="also evaluate this replica folder (e.g. from an older generator)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-inference-"))
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    if not (work / "analytic" / "train").exists():
        _analytic(args.population, args.control_fraction, args.seed, work / "analytic")
    timings = []
    for label, command in (("fit", ["synth", "fit", "--data", work / "analytic" / "train", "--out", work / "model"]),
                           ("sample", ["synth", "sample", "--model", work / "model", "--out", work / "replica"])):
        if (work / label.replace("fit", "model").replace("sample", "replica")).exists():
            continue
        m = measure([harmonie, *map(str, command)])
        if m.exit_code:
            print(m.stderr, file=sys.stderr)
            return 1
        timings.append({"step": label, "wall_seconds": round(m.wall_seconds, 1), "peak_rss_gb": round(m.peak_rss_gb, 2)})
    real, control = _read(work / "analytic" / "train"), _read(work / "analytic" / "control")
    effects = _world_effects(args.population)
    results = {"timings": timings, "patients": {"train": len(real["patients"]), "control": len(control["patients"])},
               "replicas": {}}
    print("| step | wall (s) | peak RSS (GB) |\n|---|---:|---:|")
    for t in timings:
        print(f"| {t['step']} | {t['wall_seconds']} | {t['peak_rss_gb']} |")
    for folder in [work / "replica", *args.replica]:
        result = evaluate(real, control, _read(folder), effects, args.seed)
        results["replicas"][str(folder)] = result
        print("\n" + _markdown(str(folder), result), flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "inference.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
