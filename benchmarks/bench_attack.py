"""Attack self-audit benchmark: the published Bloom-filter attacks against each hardening setting.

    .venv/bin/python benchmarks/bench_attack.py --population POP [--holder snds] [--link]
        [--settings unhardened,balance,fold,balance_fold,salt,salt_balance,salt_balance_fold,shipped]
        [--work DIR] [--results /tmp/attack_results.md]

``POP`` is a ``harmonie simulate`` folder (e.g. ``--cohort 20000 --snds 300000 --seed 0``).
Settings (all but ``shipped`` switch on the names spec's commented given-name block, so
that given names are encoded and attacked too, and set its Bloom-filter options):

- ``unhardened``: keyed random hashing only (no salt, no balancing, no folding);
- ``balance``, ``fold``: ``[bloom] balance`` / ``xor_fold``;
- ``salt``: the name fields salted with ``birth_date`` (the birth year);
- ``salt_balance``, ``salt_balance_fold``, ``balance_fold``: combinations;
- ``shipped``: the names spec exactly as shipped (folded, no given names).

Then, per setting: the holder encodes with ``harmonie encode`` (fresh key for the run),
the holder's truth (linkage id -> true normalised name, from its crosswalk and plaintext)
is written, and ``harmonie audit attack`` attacks birth_name, use_name and first_name with
the spec (as the linkage unit holds it) and two public-like lists exported from the
simulator's vocabularies (``privacy.audit.reference``): population frequencies, not the
holder's counts. With ``--link``, the other holder encodes too and ``harmonie link`` +
the evaluator give the linkage F1 under the same setting (the price of the hardening).

Prints and writes a Markdown report (figures + exact commands) and a JSON file next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _measure import measure

PASSPHRASE = {"HARMONIE_KEY_PASSPHRASE": "benchmark passphrase, not a secret"}
TABLES = {"cohort": "cohort_patients", "snds": "snds_beneficiaries"}
FIELDS = {"first_name": "first_names", "birth_name": "surnames", "use_name": "surnames"}
SETTINGS = {
    "unhardened": dict(given=True),
    "balance": dict(given=True, balance=True),
    "fold": dict(given=True, xor_fold=True),
    "balance_fold": dict(given=True, balance=True, xor_fold=True),
    "salt": dict(given=True, salt=True),
    "salt_balance": dict(given=True, salt=True, balance=True),
    "salt_balance_fold": dict(given=True, salt=True, balance=True, xor_fold=True),
    "shipped": None,  # the names spec exactly as shipped
}


def spec_variant(base: str, given: bool = False, balance: bool = False, xor_fold: bool = False,
                 salt: bool = False) -> str:
    from linkage.spec import with_given_names

    text = with_given_names(base) if given else base
    text = re.sub(r"(?m)^balance = \w+", f"balance = {str(balance).lower()}", text)
    text = re.sub(r"(?m)^xor_fold = \w+", f"xor_fold = {str(xor_fold).lower()}", text)
    if salt:
        text = text.replace('key = "names"', 'key = "names"\nsalt = "birth_date"   # benchmark: salted by birth year')
    return text


def attack_command() -> list[str]:
    """``harmonie audit attack``, from the venv running this script."""
    return [str(Path(sys.executable).with_name("harmonie")), "audit", "attack"]


def write_truth(spec_path: Path, population: Path, role: str, crosswalk: Path, out: Path) -> None:
    """The holder's truth: linkage_id and each attacked field's true normalised value."""
    from linkage.normalise.apply import normalise_columns
    from linkage.spec import load_spec

    spec = load_spec(spec_path)
    holder = spec.holder(role)
    plain = pq.read_table(population / f"{TABLES[role]}.parquet")
    cw = pq.read_table(crosswalk)
    row = {local: i for i, local in enumerate(pc_str(plain[holder.id_column]))}
    take = pa.array([row[i] for i in cw["local_id"].to_pylist()])
    columns = {"linkage_id": cw["linkage_id"]}
    for name in FIELDS:
        if name not in spec.encoded_columns():
            continue
        f = spec.field(name)
        columns[name] = pa.array(normalise_columns(f.normalise, [plain[holder.column(c)].take(take)
                                                                 for c in f.columns]).row_values(), pa.string())
    pq.write_table(pa.table(columns), out)


def pc_str(column) -> list[str]:
    import pyarrow.compute as pc

    return pc.utf8_trim_whitespace(pc.cast(column, pa.string())).to_pylist()


def link_quality(harmonie: str, spec_path: Path, population: Path, work: Path) -> dict:
    import pandas as pd

    from linkage.evaluate import quality, truth_pairs

    m = measure([harmonie, "link", "--spec", str(spec_path), "--left", str(work / "cohort.encoded.parquet"),
                 "--right", str(work / "snds.encoded.parquet"), "--out", str(work / "run")])
    if m.exit_code:
        return {"error": m.stderr.strip().splitlines()[-1] if m.stderr.strip() else "link failed"}
    pairs = truth_pairs(pd.read_parquet(population / "truth.parquet"),
                        pd.read_parquet(work / "cohort.crosswalk.parquet"),
                        pd.read_parquet(work / "snds.crosswalk.parquet"),
                        pd.read_parquet(population / "snds_duplicates.parquet"))
    result = quality(pd.read_parquet(work / "run" / "links.parquet"), pairs)
    result["link_seconds"] = round(m.wall_seconds, 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--population", type=Path, required=True, help="a `harmonie simulate` folder")
    parser.add_argument("--holder", choices=sorted(TABLES), default="snds", help="whose encoded file is attacked")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/attack_bench"))
    parser.add_argument("--results", type=Path, default=Path("/tmp/attack_results.md"))
    parser.add_argument("--link", action="store_true", help="also link both holders and report the F1")
    args = parser.parse_args()
    from linkage.spec import example_spec_text, load_spec
    from privacy.audit.reference import write_name_reference

    harmonie = str(Path(sys.executable).with_name("harmonie"))
    env = {**PASSPHRASE, "HARMONIE_AUDIT_LOG": str(args.work / "audit.jsonl")}
    os.environ.update(env)
    args.work.mkdir(parents=True, exist_ok=True)
    key = args.work / "bench.key"
    if not key.exists():
        subprocess.run([harmonie, "keys", "new", "--out", str(key)], check=True, env={**os.environ, **env},
                       capture_output=True)
    references = {}
    for kind in sorted(set(FIELDS.values())):
        references[kind] = args.work / f"{kind}.parquet"
        write_name_reference(kind, references[kind])
    attack = attack_command()
    base = example_spec_text("names")
    rows, commands = [], [
        f"harmonie keys new --out {key}",
        f"python -c \"from privacy.audit.reference import write_name_reference as w; "
        f"w('surnames', '{references['surnames']}'); w('first_names', '{references['first_names']}')\"",
    ]
    roles = sorted(TABLES) if args.link else [args.holder]
    for setting in args.settings.split(","):
        work = args.work / setting
        work.mkdir(exist_ok=True)
        spec_path = work / "spec.toml"
        options = SETTINGS[setting]
        spec_path.write_text(base if options is None else spec_variant(base, **options))
        encode_seconds = {}
        for role in roles:
            command = [harmonie, "-q", "encode", "--spec", str(spec_path), "--key", str(key), "--holder", role,
                       "--in", str(args.population / f"{TABLES[role]}.parquet"),
                       "--out", str(work / f"{role}.encoded.parquet"),
                       "--crosswalk", str(work / f"{role}.crosswalk.parquet")]
            m = measure(command, env=env)
            if m.exit_code:
                sys.exit(f"failed: {' '.join(command)}\n{m.stderr}")
            encode_seconds[role] = round(m.wall_seconds, 1)
            commands.append(" ".join(command))
        truth = work / f"{args.holder}.truth.parquet"
        write_truth(spec_path, args.population, args.holder, work / f"{args.holder}.crosswalk.parquet", truth)
        command = [*attack, "--encoded", str(work / f"{args.holder}.encoded.parquet"), "--spec", str(spec_path)]
        encoded_fields = load_spec(spec_path).encoded_columns()
        for name, kind in FIELDS.items():
            if name in encoded_fields:  # the shipped spec encodes no given name: nothing to attack
                command += ["--field", name, "--reference", str(references[kind])]
        command += ["--plaintext-truth", str(truth), "--out", str(work / "attack")]
        m = measure(command, env=env)
        if m.exit_code:
            sys.exit(f"failed: {' '.join(command)}\n{m.stderr}")
        commands.append("harmonie audit attack " + " ".join(command[len(attack):]))
        report = json.loads((work / "attack" / "attack.json").read_text())
        row = {"setting": setting, "spec_options": SETTINGS[setting], "encode_seconds": encode_seconds,
               "attack_seconds": round(m.wall_seconds, 1), "attack_peak_rss_gb": round(m.peak_rss_gb, 2),
               "fields": report["fields"]}
        if args.link:
            row["linkage"] = link_quality(harmonie, spec_path, args.population, work)
        rows.append(row)
        print(f"{setting}: attack {m.wall_seconds:.1f} s, peak RSS {m.peak_rss_gb:.2f} GB", flush=True)
        for line in m.stdout.splitlines()[1:-1]:
            print("   ", line, flush=True)
    markdown = render(rows, commands, args)
    args.results.write_text(markdown)
    args.results.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown)
    return 0


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}%"


def render(rows: list[dict], commands: list[str], args) -> str:
    out = [f"## Attack self-audit: published Bloom-filter attacks against our encodings "
           f"({time.strftime('%Y-%m-%d')})", "",
           f"Target: the {args.holder} holder's encoded file of `{args.population}` "
           f"(attacker = the linkage unit: holds the file and the spec, not the key). Attacker's knowledge: "
           "public-like name-frequency lists (population frequencies of the simulator's vocabularies, "
           "given-name lists of both sexes and all birth eras mixed with equal weights). Re-identified = the "
           "attack names a record's true normalised value.", "",
           "| setting | field | records with a filter | frequency attack: records | full attack: records | "
           "distinct values | distinct values of the list | wrong guesses (records) | ≤ 1%? |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        for name, f in row["fields"].items():
            freq, full = f["frequency_attack"], f["frequency_and_pattern_attack"]
            worst = max(full["share_records_reidentified"], full["share_values_reidentified"])
            out.append(f"| {row['setting']} | {name} | {f['records_with_filter']:,} | "
                       f"{_pct(freq['share_records_reidentified'])} | "
                       f"**{_pct(full['share_records_reidentified'])}** | "
                       f"{_pct(full['share_values_reidentified'])} ({full['values_reidentified']:,} of "
                       f"{full['values_present']:,}) | {_pct(full['share_listed_values_reidentified'])} of "
                       f"{full['values_in_reference']:,} | {full['records_wrong']:,} | "
                       f"{'yes' if worst <= 0.01 else '**no**'} |")
    out += ["", "| setting | attack time (s) | attack peak RSS (GB) | encode time (s) | "
            "linkage F1 (precision / recall) |", "|---|---:|---:|---|---|"]
    for row in rows:
        link = row.get("linkage")
        quality = "–" if not link else (link.get("error") or
                                        f"{link['f1']:.4f} ({link['precision']:.4f} / {link['recall']:.4f})")
        encode = ", ".join(f"{role} {seconds}" for role, seconds in row["encode_seconds"].items())
        out.append(f"| {row['setting']} | {row['attack_seconds']} | {row['attack_peak_rss_gb']} | "
                   f"{encode} | {quality} |")
    out += ["", "Commands (`benchmarks/bench_attack.py` runs them all: "
            f"`.venv/bin/python benchmarks/bench_attack.py --population {args.population}"
            f"{' --link' if args.link else ''}`):", "", "```"] + commands + ["```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
