"""What top- and bottom-coding costs (issue #15 item 2): rare real values in the replica, and utility, coded vs not.

    .venv/bin/python benchmarks/bench_topcoding.py --population DIR [--k 11] [--work W]

DIR is a `harmonie simulate` output. The analytic dataset is built from the simulator's truth
(as benchmarks/bench_inference.py does); `synth fit` runs twice as a command, with
`--top-code-k K` and with `--top-code-k 0`, and each model is sampled at the training size.
For each replica:

- per variable (age, stays and dispensings per patient, nights per stay, boxes per
  dispensing): replica patients holding a value in a real tail (beyond the k-safe bounds:
  fewer than k real patients there), and real values held by fewer than k real patients that
  the replica reproduces exactly (anywhere, tails or not);
- the utility report's verdict and failed checks, and the planted-effect figures of
  bench_inference (Cox coverage, direction) on the same replica.
Prints Markdown and writes benchmarks/results/topcoding.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]
from _measure import measure  # noqa: E402
from bench_inference import _analytic, _read, _world_effects, evaluate  # noqa: E402

VARIABLES = ("age_at_diagnosis", "n_stays", "n_dispensings", "length_of_stay", "quantity")


def _per_patient(tables: dict) -> dict[str, pd.DataFrame]:
    """{variable: frame of (value, patient)}: one row per patient, or per claim for claim-level variables."""
    p, stays, dispensings = tables["patients"], tables["stays"], tables["dispensings"]
    return {"age_at_diagnosis": pd.DataFrame({"v": p["age_at_diagnosis"], "o": p["patient_id"]}),
            "n_stays": pd.DataFrame({"v": p["n_stays"], "o": p["patient_id"]}),
            "n_dispensings": pd.DataFrame({"v": p["n_dispensings"], "o": p["patient_id"]}),
            "length_of_stay": pd.DataFrame({"v": (stays["discharge_date"] - stays["admission_date"]).dt.days,
                                            "o": stays["patient_id"]}),
            "quantity": pd.DataFrame({"v": pd.to_numeric(dispensings["quantity"]), "o": dispensings["patient_id"]})}


def rare_values(real: dict, synthetic: dict, k: int) -> dict:
    from synth.topcoding import safe_bounds

    real_frames, synthetic_frames, out = _per_patient(real), _per_patient(synthetic), {}
    for name in VARIABLES:
        r, s = real_frames[name].dropna(), synthetic_frames[name].dropna()
        lo, hi = safe_bounds(r["v"], r["o"], k)
        holders = r.groupby("v")["o"].nunique()
        rare = set(holders.index[holders < k])
        in_tail = s[(s["v"] > hi) | ((s["v"] < lo) if name == "age_at_diagnosis" else False)]
        out[name] = {"bounds": [lo, hi], "replica_patients_in_a_real_tail": int(in_tail["o"].nunique()),
                     "rare_real_values": len(rare), "rare_real_values_reproduced": len(rare & set(s["v"].unique())),
                     "real_min_max": [float(r["v"].min()), float(r["v"].max())],
                     "replica_min_max": [float(s["v"].min()), float(s["v"].max())]}
    return out


def _utility(real: dict, synthetic: dict, control: dict, out: Path) -> dict:
    from synth.report import build_utility_report

    report = build_utility_report(real, synthetic, out, control=control, seed=0)
    failed = sorted(c["name"] for c in report["checks"] if not c["passed"])
    return {"verdict": report["verdict"], "checks": len(report["checks"]), "failed": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, required=True)
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="keep the analytic dataset, models and replicas here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="harmonie-bench-topcoding-"))
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    if not (work / "analytic" / "train").exists():
        _analytic(args.population, 0.2, args.seed, work / "analytic")
    real, control = _read(work / "analytic" / "train"), _read(work / "analytic" / "control")
    effects = _world_effects(args.population)
    results = {"k": args.k, "patients": len(real["patients"]), "replicas": {}}
    for k in (args.k, 0):
        model, replica = work / f"model_k{k}", work / f"replica_k{k}"
        for command in (["synth", "fit", "--data", work / "analytic" / "train", "--out", model, "--top-code-k", k],
                        ["synth", "sample", "--model", model, "--out", replica]):
            if not (model if command[1] == "fit" else replica).exists():
                m = measure([harmonie, "-q", *map(str, command)])
                if m.exit_code:
                    print(m.stderr, file=sys.stderr)
                    return 1
        synthetic = _read(replica)
        inference = evaluate(real, control, synthetic, effects, args.seed)
        results["replicas"][f"k={k}"] = {
            "rare": rare_values(real, synthetic, args.k),
            "utility": _utility(real, synthetic, control, work / f"utility_k{k}"),
            "inference": {key: inference[key] for key in ("covered_share", "wrong_direction", "cost_per_patient")}}
    print(f"| variable | real min–max | k-safe bounds | replica min–max (coded / not) | replica patients in a real "
          f"tail (coded / not) | rare real values reproduced (coded / not) |\n|---|---|---|---|---:|---:|")
    coded, plain = results["replicas"][f"k={args.k}"]["rare"], results["replicas"]["k=0"]["rare"]
    for name in VARIABLES:
        c, p = coded[name], plain[name]
        print(f"| {name} | {c['real_min_max'][0]:g}–{c['real_min_max'][1]:g} | {c['bounds'][0]:g}–{c['bounds'][1]:g} "
              f"| {c['replica_min_max'][0]:g}–{c['replica_min_max'][1]:g} / {p['replica_min_max'][0]:g}–"
              f"{p['replica_min_max'][1]:g} | {c['replica_patients_in_a_real_tail']} / "
              f"{p['replica_patients_in_a_real_tail']} | {c['rare_real_values_reproduced']} of "
              f"{c['rare_real_values']} / {p['rare_real_values_reproduced']} |")
    for label, entry in results["replicas"].items():
        u = entry["utility"]
        print(f"\n{label}: utility {u['verdict']}, {len(u['failed'])} of {u['checks']} checks failed"
              + (f" ({', '.join(u['failed'])})" if u["failed"] else "")
              + f"; planted effects covered {entry['inference']['covered_share']:.0%}, "
              f"{entry['inference']['wrong_direction']} in the wrong direction; cost per patient "
              + ", ".join(f"{c['cancer_type']} {c['relative_difference']:+.1%}" for c in entry["inference"]
                          ["cost_per_patient"]))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "topcoding.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
