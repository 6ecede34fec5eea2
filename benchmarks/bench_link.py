"""Match-quality and speed study of the linkage engine (issue: linkage engine).

    .venv/bin/python benchmarks/bench_link.py [--cohort 20000 --snds 300000] [--scenarios names,direct,indirect,febrl4]
    .venv/bin/python benchmarks/bench_link.py --cohort 193000 --snds 3000000 --scenarios indirect   # Harmonie scale

For each scenario: simulate (once), create a key, each holder encodes its side, the
linkage unit links (timed as a child process, time per stage and peak RSS), then the
evaluator measures precision, recall and F1 against truth (a link to a second SNDS id of
the same person counts as correct), and the blocking's pairs completeness and reduction
ratio. The indirect scenario also runs the stepwise deterministic method used for SNDS
today on the same encoded tokens. FEBRL4 is encoded with the names spec (surname ->
birth_name, given_name -> first_names, date_of_birth -> birth_date, postcode ->
commune_code). Writes benchmarks/results/link_<scenario>_<size>.json and prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure, stage_table  # noqa: E402

PASSPHRASE = {"HARMONIE_KEY_PASSPHRASE": "benchmark passphrase, not a secret"}
TABLES = {"cohort": ("cohort_patients", "cohort_stays"), "snds": ("snds_beneficiaries", "snds_stays")}


def _run(command: list[str], env: dict | None = None):
    m = measure(command, env=env)
    if m.exit_code:
        sys.exit(f"failed: {' '.join(command)}\n{m.stderr}")
    return m


def _febrl_population(work: Path) -> Path:
    """FEBRL4 written as a 'population' folder with our column names and truth."""
    from linkage.datasets import load_febrl4

    data = load_febrl4()
    out = work / "febrl4"
    out.mkdir()
    for frame, role in ((data.left, "cohort"), (data.right, "snds")):
        id_column = f"{role}_id"
        table = pd.DataFrame({
            id_column: frame.id, "birth_name": frame.surname, "use_name": None, "first_names": frame.given_name,
            "birth_date": frame.date_of_birth, "sex": None, "commune_code": frame.postcode,
        })
        table.to_parquet(out / f"{TABLES[role][0]}.parquet")
    data.truth.rename(columns={"left_id": "cohort_id", "right_id": "snds_id"}).to_parquet(out / "truth.parquet")
    pd.DataFrame({"snds_id": pd.Series([], dtype=str), "same_person_as": pd.Series([], dtype=str)}).to_parquet(
        out / "snds_duplicates.parquet")
    return out


def _evaluate(scenario: str, spec_path: Path, population: Path, work: Path) -> dict:
    from harmonie import progress
    from linkage.blocking import block
    from linkage.encoded_arrays import EncodedRecords
    from linkage.encoding import read_encoded
    from linkage.evaluate import pairs_completeness, quality, truth_pairs
    from linkage.spec import load_spec

    progress.set_enabled(False)
    crosswalks = {role: pd.read_parquet(work / f"{role}.crosswalk.parquet") for role in TABLES}
    pairs = truth_pairs(pd.read_parquet(population / "truth.parquet"), crosswalks["cohort"], crosswalks["snds"],
                        pd.read_parquet(population / "snds_duplicates.parquet"))
    result = quality(pd.read_parquet(work / "run" / "links.parquet"), pairs)
    left = EncodedRecords.from_table(read_encoded(work / "cohort.encoded.parquet").table)
    right = EncodedRecords.from_table(read_encoded(work / "snds.encoded.parquet").table)
    spec = load_spec(spec_path)
    candidates = block(spec.blocking, left, right, seed=spec.model.seed)
    result["pairs_completeness"] = pairs_completeness(candidates.left, candidates.right, left.ids.to_pylist(),
                                                      right.ids.to_pylist(), pairs)
    summary = json.loads((work / "run" / "summary.json").read_text())
    result.update({"candidate_pairs": summary["candidate_pairs"], "reduction_ratio": summary["reduction_ratio"],
                   "estimated": summary.get("estimated"), "threshold": summary.get("threshold")})
    if scenario == "indirect":
        from baselines.stepwise import stepwise_link

        start = time.perf_counter()
        li, ri = stepwise_link(left, right)[:2]
        links = pd.DataFrame({"left_id": left.ids.take(li).to_pylist(), "right_id": right.ids.take(ri).to_pylist(),
                              "match_probability": 1.0})
        result["stepwise_baseline"] = {**quality(links, pairs), "seconds": round(time.perf_counter() - start, 1)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohort", type=int, default=20_000)
    parser.add_argument("--snds", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", default="names,direct,indirect,febrl4")
    parser.add_argument("--population", type=Path, help="reuse a `harmonie simulate` folder")
    args = parser.parse_args()
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    root = Path(tempfile.mkdtemp(prefix="harmonie-bench-link-"))
    results_dir = Path(__file__).parent / "results"
    results_dir.mkdir(exist_ok=True)
    try:
        simulated = args.population
        key = root / "bench.key"
        _run([harmonie, "keys", "new", "--out", str(key)], env=PASSPHRASE)
        runs = []  # measure every command first: a child inherits the parent's peak RSS on Linux,
        # so the in-process evaluation (which loads the files) comes after all measurements
        for scenario in args.scenarios.split(","):
            work = root / scenario
            work.mkdir()
            if scenario == "febrl4":
                population, spec_name, size = _febrl_population(work), "names", "5000x5000"
            else:
                if simulated is None:
                    simulated = root / "population"
                    _run([harmonie, "-q", "simulate", "--out", str(simulated), "--cohort", str(args.cohort),
                          "--snds", str(args.snds), "--seed", str(args.seed)])
                population, spec_name, size = simulated, scenario, f"{args.cohort}x{args.snds}"
            spec_path = work / "spec.toml"
            _run([harmonie, "spec", "example", spec_name, "--out", str(spec_path)])
            encode_seconds = {}
            for role, (table, stays) in TABLES.items():
                command = [harmonie, "-q", "encode", "--spec", str(spec_path), "--key", str(key), "--holder", role,
                           "--in", str(population / f"{table}.parquet"),
                           "--out", str(work / f"{role}.encoded.parquet"),
                           "--crosswalk", str(work / f"{role}.crosswalk.parquet")]
                if scenario == "indirect":
                    command += ["--stays", str(population / f"{stays}.parquet")]
                encode_seconds[role] = round(_run(command, env=PASSPHRASE).wall_seconds, 1)
            m = _run([harmonie, "link", "--spec", str(spec_path), "--left", str(work / "cohort.encoded.parquet"),
                      "--right", str(work / "snds.encoded.parquet"), "--out", str(work / "run")])
            runs.append((scenario, spec_name, size, spec_path, population, work, encode_seconds, m))
        for scenario, spec_name, size, spec_path, population, work, encode_seconds, m in runs:
            report = _evaluate(scenario, spec_path, population, work)
            report.update({"scenario": scenario, "size": size, "spec": spec_name, "encode_seconds": encode_seconds,
                           "link_seconds": round(m.wall_seconds, 1), "link_peak_rss_gb": round(m.peak_rss_gb, 2),
                           "link_stages": m.stages})
            (results_dir / f"link_{scenario}_{size}.json").write_text(json.dumps(report, indent=2) + "\n")
            print(f"### {scenario} ({size}, spec {spec_name})\n")
            print(f"precision {report['precision']:.4f}, recall {report['recall']:.4f}, F1 {report['f1']:.4f} "
                  f"({report['links']:,} links, {report['false_positives']} false, {report['false_negatives']} missed);"
                  f" model's estimate P {report['estimated']['precision']:.4f} R {report['estimated']['recall']:.4f}")
            print(f"blocking: {report['candidate_pairs']:,} candidate pairs, pairs completeness "
                  f"{report['pairs_completeness']:.4f}, reduction ratio {report['reduction_ratio']:.6f}")
            if "stepwise_baseline" in report:
                b = report["stepwise_baseline"]
                print(f"stepwise deterministic baseline: precision {b['precision']:.4f}, recall {b['recall']:.4f}, "
                      f"F1 {b['f1']:.4f} ({b['seconds']} s)")
            print(f"encode: cohort {encode_seconds['cohort']} s, SNDS {encode_seconds['snds']} s\n")
            print(stage_table(m) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
