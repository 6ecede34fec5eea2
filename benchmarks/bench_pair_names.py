"""Second-round benchmark: given names of the undecided pairs under per-pair keys, F1 and attacks.

    .venv/bin/python benchmarks/bench_pair_names.py --work W --population POP [--out W/round2]
        [--adversary]

``W`` is a first-round work folder as ``/tmp/b17/run.sh POP names W`` (or the commands of
benchmarks/RESULTS.md, "Harsh preset: baseline before the linkage fixes (#17)") leave it:
``spec.toml``, ``bench.key``, both holders' encoded files and crosswalks, and ``run/`` (the
``harmonie link`` output, whose model.json the second round reuses). Runs, timing each:

    harmonie query-pairs  --spec W/spec.toml --left W/cohort.encoded.parquet --right W/snds.encoded.parquet \\
                          --model W/run/model.json --out OUT
    harmonie encode-pairs --spec W/spec.toml --key W/bench.key --in POP/cohort_patients.parquet \\
                          --crosswalk W/cohort.crosswalk.parquet --query OUT/query.parquet \\
                          --out OUT/answer_cohort.parquet
    harmonie encode-pairs ... snds ...
    harmonie resolve      --spec W/spec.toml --first-round OUT/first_round.parquet \\
                          --given-names OUT/answer_cohort.parquet OUT/answer_snds.parquet --out OUT/run
    harmonie evaluate     --links OUT/run/links.parquet --truth POP/truth.parquet ... (first round: W/run)

then plays the linkage unit turned attacker on what it received
(:mod:`privacy.audit.pair_attack`), with each holder's plaintext as the truth, and writes
``OUT/pair_audit.json`` (and prints it). With ``--adversary`` it also measures a
linkage unit that crafts its query to cluster records by name, within the holders' default
caps (a plaintext simulation: under per-pair keys the linkage unit sees exactly whether two
names are equal, Dice 1, and nothing else across pairs; see :func:`adversarial_query`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _measure import measure  # noqa: E402

PASSPHRASE = {"HARMONIE_KEY_PASSPHRASE": "benchmark passphrase, not a secret"}
TABLES = {"cohort": ("cohort_patients", "cohort_id"), "snds": ("snds_beneficiaries", "snds_id")}


def _run(command: list[str], env: dict) -> dict:
    m = measure(command, env)
    if m.exit_code:
        raise SystemExit(f"{' '.join(command[:2])} failed: {m.stderr.strip().splitlines()[-1]}")
    return {"seconds": round(m.wall_seconds, 1), "peak_rss_gb": round(m.peak_rss_gb, 2), "stdout": m.stdout}


def _evaluate(harmonie: str, links: Path, work: Path, population: Path, env: dict) -> dict:
    _run([harmonie, "-q", "evaluate", "--links", str(links), "--truth", str(population / "truth.parquet"),
          "--left-crosswalk", str(work / "cohort.crosswalk.parquet"),
          "--right-crosswalk", str(work / "snds.crosswalk.parquet"),
          "--duplicates", str(population / "snds_duplicates.parquet")], env)
    report = json.loads((links.parent / "evaluation.json").read_text())
    return {k: report[k] for k in ("precision", "recall", "f1", "links", "true_positives", "false_positives",
                                   "false_negatives")} | {"estimated": report.get("estimated")}


def holder_truth(population: Path, work: Path, role: str) -> dict[str, tuple]:
    """linkage id -> (first given name, all given names, sex), normalised as the holder does."""
    from linkage.normalise.apply import normalise_columns

    table, id_column = TABLES[role]
    plain = pq.read_table(population / f"{table}.parquet", columns=[id_column, "first_names", "sex"])
    crosswalk = pq.read_table(work / f"{role}.crosswalk.parquet")
    local = {v: i for i, v in enumerate(plain[id_column].to_pylist())}
    rows = pa.array([local[i] for i in crosswalk["local_id"].to_pylist()])
    names = plain["first_names"].take(rows)
    first = normalise_columns("first_name", [names]).row_values()
    every = normalise_columns("given_names", [names]).row_values()
    sex = normalise_columns("sex", [plain["sex"].take(rows)]).row_values()
    sex = [{"1": "M", "2": "F"}.get(str(s)) if s is not None else None for s in sex]
    return dict(zip(crosswalk["linkage_id"].to_pylist(), zip(first, every, sex)))


def views_of(out: Path, population: Path, work: Path):
    from linkage.encoding.pair_names import PAIR_FIELDS, PairAnswer
    from privacy.audit.pair_attack import HolderView

    views = []
    for role, side in (("cohort", "left_id"), ("snds", "right_id")):
        answer = PairAnswer.load(out / f"answer_{role}.parquet")
        truth = holder_truth(population, work, role)
        own = answer.table[side].to_pylist()
        views.append(HolderView(role, own, {f: answer.table[f].combine_chunks() for f in PAIR_FIELDS},
                                [truth[i][0] for i in own], [truth[i][1] for i in own], [truth[i][2] for i in own]))
    return views


def adversarial_query(population: Path, *, cluster: int, pool: int, per_left: int = 10, share: float = 0.5,
                      seed: int = 0) -> dict:
    """A linkage unit crafting its query to cluster records by given name, within the holders' caps.

    It knows each record's sex and birth year (tokens) and the true matches (its links).
    Within each (sex, birth year) group it takes ``share`` of the cohort in clusters of
    ``cluster`` records, gives each cluster a pool of ``pool`` SNDS records of that group
    and pairs every cluster record with ``per_left`` of them (so each query group holds
    ``cluster + pool`` records: the holders' ``--max-group``). It sees which pairs share a
    first given name (under per-pair keys that is all it sees across pairs), joins records
    through those pairs and through the true matches, and names every record of a joined
    set of 3+ (5+, 10+) records with the commonest given name of its sex.
    """
    import pandas as pd

    from linkage.normalise.apply import normalise_columns
    from privacy.audit.pair_attack import SEXES

    rng = np.random.default_rng(seed)

    def load(role):
        table, id_column = TABLES[role]
        t = pq.read_table(population / f"{table}.parquet", columns=[id_column, "first_names", "sex", "birth_date"])
        sex = [{"1": "M", "2": "F"}.get(str(s)) for s in normalise_columns("sex", [t["sex"]]).row_values()]
        year = [d.year if d is not None else None for d in normalise_columns("date", [t["birth_date"]]).row_values()]
        return pd.DataFrame({"id": t[id_column].to_pylist(),
                             "name": normalise_columns("first_name", [t["first_names"]]).row_values(),
                             "sex": sex, "year": year})

    left, right = load("cohort"), load("snds")
    n_left_file = len(left)
    truth = pq.read_table(population / "truth.parquet").to_pandas()
    left = left.sample(frac=share, random_state=seed).reset_index(drop=True)
    edges = []
    for (sex, year), group in left.groupby(["sex", "year"]):
        candidates = right.index[(right.sex == sex) & (right.year == year)].to_numpy()
        rng.shuffle(candidates)
        members = group.index.to_numpy()
        for c, start in enumerate(range(0, len(members), cluster)):
            mine = candidates[c * pool:(c + 1) * pool]
            if not len(mine):
                break
            for row in members[start:start + cluster]:
                edges += [(row, r) for r in rng.choice(mine, size=min(per_left, len(mine)), replace=False)]
    edges = np.array(edges, dtype=np.int64).reshape(-1, 2)
    parent: dict = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    lname, rname = left.name.to_numpy(), right.name.to_numpy()
    for a, b in edges:
        if lname[a] is not None and lname[a] == rname[b]:
            parent[find(("R", int(b)))] = find(("L", int(a)))
    right_row = {v: i for i, v in enumerate(right.id)}
    left_row = {v: i for i, v in enumerate(left.id)}
    for a, b in zip(truth.cohort_id, truth.snds_id):
        if a in left_row and b in right_row:  # one person: the linkage unit holds the link
            parent[find(("R", right_row[b]))] = find(("L", left_row[a]))
    nodes = list(dict.fromkeys([("L", int(a)) for a in edges[:, 0]] + [("R", int(b)) for b in edges[:, 1]]))
    roots = pd.Series([find(n) for n in nodes])
    size = roots.map(roots.value_counts()).to_numpy()
    names = np.array([lname[i] if s == "L" else rname[i] for s, i in nodes], dtype=object)
    sexes = np.array([left.sex[i] if s == "L" else right.sex[i] for s, i in nodes], dtype=object)
    out = {"cluster": cluster, "pool": pool, "per_left": per_left, "share": share, "pairs": int(len(edges)),
           "records": len(nodes), "largest_joined_sets": roots.value_counts().head(3).tolist(), "by_min_size": {}}
    for minimum in (3, 5, 10):
        claimed = correct = 0
        chance = 0.0
        for sex in SEXES:
            mine = sexes == sex
            top = pd.Series(names[mine]).value_counts()
            if not len(top):
                continue
            claim = mine & (size >= minimum)
            claimed += int(claim.sum())
            correct += int((names[claim] == top.index[0]).sum())
            chance += claim.sum() * top.iloc[0] / mine.sum()
        out["by_min_size"][str(minimum)] = {
            "records_claimed": claimed, "records_reidentified": correct, "expected_by_chance": round(chance, 1),
            "share_beyond_chance_of_queried": round((correct - chance) / max(len(nodes), 1), 6),
            "share_beyond_chance_of_both_files": round((correct - chance) / (n_left_file + len(right)), 6)}
    return out


# (cluster, pool, pairs per cohort record): within the default caps (groups of at most 12 records, at most
# 10 pairs per record), then one the --max-group cap refuses (25 records), to show what the cap buys
ADVERSARIES = ((1, 11, 10), (2, 10, 10), (3, 9, 9), (4, 8, 8), (6, 6, 6), (10, 15, 10))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--population", type=Path, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--adversary", action="store_true")
    parser.add_argument("--audit-only", action="store_true", help="attack an existing OUT again (no harmonie run)")
    parser.add_argument("--query-option", action="append", default=[], metavar="OPTION=VALUE",
                        help="passed to query-pairs as --OPTION VALUE (e.g. unlinked-top=1)")
    args = parser.parse_args()
    work, population = args.work, args.population
    out = args.out or work / "round2"
    harmonie = str(Path(sys.executable).with_name("harmonie"))
    env = {**PASSPHRASE, "HARMONIE_AUDIT_LOG": str(work / "audit.jsonl")}
    spec, key = str(work / "spec.toml"), str(work / "bench.key")
    report: dict = {"work": str(work), "population": str(population), "seconds": {}}
    extra = [part for option in args.query_option for part in (f"--{option.split('=')[0]}", option.split("=", 1)[1])]
    if args.audit_only:
        report = json.loads((out / "pair_audit.json").read_text())
    else:
        run_both_rounds(harmonie, work, population, out, spec, key, env, extra, report)
    audit(report, work, population, out, args.adversary)
    return 0


def run_both_rounds(harmonie: str, work: Path, population: Path, out: Path, spec: str, key: str, env: dict,
                    extra: list[str], report: dict) -> None:
    step = _run([harmonie, "query-pairs", "--spec", spec, "--left", str(work / "cohort.encoded.parquet"),
                 "--right", str(work / "snds.encoded.parquet"), "--model", str(work / "run" / "model.json"),
                 "--out", str(out), *extra], env)
    report["seconds"]["query-pairs"] = step["seconds"]
    for role in TABLES:
        step = _run([harmonie, "encode-pairs", "--spec", spec, "--key", key,
                     "--in", str(population / f"{TABLES[role][0]}.parquet"),
                     "--crosswalk", str(work / f"{role}.crosswalk.parquet"), "--query", str(out / "query.parquet"),
                     "--out", str(out / f"answer_{role}.parquet")], env)
        report["seconds"][f"encode-pairs {role}"] = step["seconds"]
    step = _run([harmonie, "resolve", "--spec", spec, "--first-round", str(out / "first_round.parquet"),
                 "--given-names", str(out / "answer_cohort.parquet"), str(out / "answer_snds.parquet"),
                 "--out", str(out / "run")], env)
    report["seconds"]["resolve"] = step["seconds"]
    report["first_round"] = _evaluate(harmonie, work / "run" / "links.parquet", work, population, env)
    report["second_round"] = _evaluate(harmonie, out / "run" / "links.parquet", work, population, env)
    summary = json.loads((out / "run" / "summary.json").read_text())
    report["query"] = summary["second_round"]


def audit(report: dict, work: Path, population: Path, out: Path, adversary: bool) -> None:
    from linkage.encoding.pair_names import PairAnswer
    from linkage.second_round import given_name_levels
    from privacy.audit.pair_attack import audit_second_round

    views = views_of(out, population, work)
    levels = given_name_levels(PairAnswer.load(out / "answer_cohort.parquet"),
                               PairAnswer.load(out / "answer_snds.parquet"))
    links = pq.read_table(out / "run" / "links.parquet", columns=["left_id", "right_id"])
    state = json.loads(pq.read_schema(out / "first_round.parquet").metadata[b"harmonie"])
    report["audit"] = audit_second_round(views, levels, list(zip(links["left_id"].to_pylist(),
                                                                 links["right_id"].to_pylist())),
                                         file_records=(state["n_left"], state["n_right"]))
    if adversary:
        report["adversary"] = [adversarial_query(population, cluster=c, pool=p, per_left=d) for c, p, d in ADVERSARIES]
    (out / "pair_audit.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({k: report[k] for k in ("seconds", "first_round", "second_round")}, indent=1))
    print(json.dumps(report["audit"], indent=1, default=str))
    if adversary:
        print(json.dumps(report["adversary"], indent=1))


if __name__ == "__main__":
    sys.exit(main())
