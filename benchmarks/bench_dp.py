"""The differentially private patient generator (#15 item 5): utility against epsilon, beside the default.

    .venv/bin/python benchmarks/bench_dp.py --population DIR --work W [--epsilons 1,3,10] [--generators mst]
        [--no-baseline] [--label 20k] [--seed 0]

DIR is a `harmonie simulate` output; the analytic dataset is built from the simulator's truth
as bench_inference.py does (a perfect linkage: this measures the generator), 80% train / 20%
control, kept in W/analytic. For the default generator (gaussian copula, unless --no-baseline)
and each DP generator at each epsilon, `harmonie synth fit`, `synth sample` (as many patients
as trained on) and `synth report` run as child processes (wall time and peak RSS measured; the
target is fit + sample within 15 minutes, at any size). From each utility report: the share of
its checks passed and its verdict, the Kaplan-Meier distance per cancer, the global Cox model's
terms covered, TSTR, the total variation of cancer type and stage; and the share of the world's
planted hazard ratios (population.json) whose real estimate the replica's 95% CI covers.

A DP fit is not reproducible (fresh secure noise each time; synth/dp_patients.py): figures vary
from run to run by the noise the budget allows. Prints Markdown, writes
benchmarks/results/dp_<label>.json, exits 1 when a fit + sample misses 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
from _measure import measure  # noqa: E402
from bench_inference import _analytic, _read, _world_effects  # noqa: E402

TARGET_SECONDS = 15 * 60
CANCERS = ("breast", "lung", "ovarian")


def _run(harmonie: str, args: list) -> dict:
    m = measure([harmonie, *map(str, args)])
    if m.exit_code:
        raise SystemExit(f"{' '.join(map(str, args[:2]))} failed:\n{m.stderr[-2000:]}")
    return {"wall_seconds": round(m.wall_seconds, 1), "peak_rss_gb": round(m.peak_rss_gb, 2)}


def _figures(report: dict) -> dict:
    """The headline figures of a written utility report (utility.json)."""
    checks = {c["name"]: c for c in report["checks"]}
    tvd = {d["name"]: d.get("total_variation") for d in report["distributions"] if d.get("table") == "patients"}
    terms = report["survival"]["cox"]["terms"]
    return {
        "checks_passed": sum(c["passed"] for c in report["checks"]), "checks": len(report["checks"]),
        "verdict": report["verdict"],
        "km_max_distance": {c: checks[f"km_max_distance:{c}"]["value"] for c in CANCERS
                            if f"km_max_distance:{c}" in checks},
        "cox_global_terms_covered": f"{sum(t['covered'] for t in terms)}/{len(terms)}",
        "tstr_auc_ratio": checks.get("tstr_auc_ratio", {}).get("value"),
        "tvd_cancer_type": tvd.get("cancer_type"), "tvd_stage": tvd.get("stage"),
        "failed": [name for name, c in checks.items() if not c["passed"]],
    }


def _planted(real: dict, synthetic: dict, effects: list) -> str | None:
    from synth.planted import recovery

    if not effects:
        return None
    n = min(len(real["patients"]), len(synthetic["patients"]))
    table = recovery(real["patients"], synthetic["patients"].sample(n, random_state=0), effects)
    return f"{int(table['covered'].sum())}/{len(table)}"


def _markdown(label: str, runs: list[dict]) -> str:
    lines = [f"### {label}", "",
             "| generator | ε | fit (s) | sample (s) | fit + sample (min) | peak RSS (GB) | checks passed | verdict | "
             "KM distance breast / lung / ovarian | global Cox terms covered | planted HRs covered | TSTR AUC ratio | "
             "TVD cancer / stage |", "|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|"]
    for r in runs:
        f, km = r["figures"], r["figures"]["km_max_distance"]
        total = (r["fit"]["wall_seconds"] + r["sample"]["wall_seconds"]) / 60
        epsilon = "–" if r["epsilon"] is None else f"{r['epsilon']:g}"
        tstr = "–" if f["tstr_auc_ratio"] is None else f"{f['tstr_auc_ratio']:.3f}"
        lines.append(
            f"| {r['generator']} | {epsilon} | {r['fit']['wall_seconds']} | {r['sample']['wall_seconds']} | "
            f"{total:.1f} | {max(r['fit']['peak_rss_gb'], r['sample']['peak_rss_gb'])} | "
            f"{f['checks_passed']}/{f['checks']} ({f['checks_passed'] / f['checks']:.0%}) | "
            f"{'adequate' if f['verdict'] == 'adequate' else 'low'} | "
            f"{' / '.join(f'{km[c]:.3f}' for c in CANCERS if c in km)} | {f['cox_global_terms_covered']} | "
            f"{r['planted_covered'] or '–'} | {tstr} | {f['tvd_cancer_type']:.3f} / {f['tvd_stage']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, required=True)
    parser.add_argument("--work", type=Path, help="keep the analytic dataset, models, replicas and reports here")
    parser.add_argument("--epsilons", default="1,3,10")
    parser.add_argument("--generators", default="mst", help="DP generators, comma-separated (mst, aim)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the default generator (gaussian copula)")
    parser.add_argument("--label", default="run")
    parser.add_argument("--control-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-dp-"))
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    analytic = work / "analytic"
    if not (analytic / "train").exists():
        _analytic(args.population, args.control_fraction, args.seed, analytic)
    configs = [] if args.no_baseline else [("gaussian_copula", None)]
    configs += [(g, float(e)) for g in args.generators.split(",") for e in args.epsilons.split(",")]
    real, effects = _read(analytic / "train"), _world_effects(args.population)
    runs, missed = [], []
    for generator, epsilon in configs:
        name = generator if epsilon is None else f"{generator}_eps{epsilon:g}"
        model, replica, report = work / f"model_{name}", work / f"replica_{name}", work / f"utility_{name}"
        fit_args = ["-q", "synth", "fit", "--data", analytic / "train", "--out", model, "--generator", generator,
                    "--seed", args.seed] + ([] if epsilon is None else ["--epsilon", epsilon])
        run = {"generator": generator, "epsilon": epsilon, "fit": _run(harmonie, fit_args)}
        run["sample"] = _run(harmonie, ["-q", "synth", "sample", "--model", model, "--out", replica,
                                        "--seed", args.seed + 1])
        run["report"] = _run(harmonie, ["-q", "synth", "report", "--real", analytic / "train", "--synthetic", replica,
                                        "--control", analytic / "control", "--out", report, "--seed", args.seed])
        run["figures"] = _figures(json.loads((report / "utility.json").read_text()))
        run["planted_covered"] = _planted(real, _read(replica), effects)
        runs.append(run)
        if epsilon is not None and run["fit"]["wall_seconds"] + run["sample"]["wall_seconds"] > TARGET_SECONDS:
            missed.append(name)
        print(_markdown(args.label, runs[-1:]).splitlines()[-1], flush=True)  # a long run shows each row as it comes
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    result = {"label": args.label, "patients": {"train": len(real["patients"])}, "runs": runs,
              "missed_15_minutes": missed}
    (out / f"dp_{args.label}.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + _markdown(f"{args.label}: {len(real['patients']):,} training patients", runs))
    if missed:
        print(f"\nNOT met: fit + sample over 15 minutes for {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
