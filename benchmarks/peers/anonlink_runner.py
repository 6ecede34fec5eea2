"""anonlink 0.15 + clkhash 0.18: keyed CLK (record-level Bloom filter) encodings, Dice
candidates, greedy one-to-one solving, as the two libraries' documentation shows.

    .venv-peers/bin/python benchmarks/peers/anonlink_runner.py --data DIR --out DIR [--threshold 0.7]

Encoding (each holder, clkhash): one 1024-bit CLK per record from a v3 schema, HKDF-derived
keys from a shared secret, double hashing; names as bigrams; birth year, month and day,
sex, commune and NIR as exact tokens (positional unigrams of whole dates, as in clkhash's
example schema, put the same bits in nearly every filter, "19" and the separators, and
candidate sets explode), with bits per token chosen so that 35-45% of the bits are set.
Matching (anonlink): ``find_candidate_pairs`` with the C++
``dice_coefficient_accelerated`` over all pairs (no blocking: 20,000 x 300,000 is within
reach of the kernel), then ``greedy_solve``, one-to-one by construction, at a fixed Dice
threshold (0.7 by default: the best F1 of a 0.60-0.90 sweep on the simulated names data, and
within 0.02 of the best on FEBRL4; the same for every dataset). ``--variant sweep`` also
writes the links at Dice 0.60-0.90 (``links_at_T.parquet``), outside the timed run.

Care events (the indirect scenario) have no clkhash field type (its fields are strings
hashed as character n-grams), so this peer runs on the names, direct and FEBRL data only.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from common import Run

import anonlink
from clkhash import clk
from clkhash.schema import from_json_dict

SECRET = "benchmark secret shared by the holders"
DEFAULT_THRESHOLD = 0.7
LOWEST_THRESHOLD = 0.6


def feature(name: str, kind: str, bits: int) -> dict:
    comparison = {"bigram": {"type": "ngram", "n": 2}, "positional": {"type": "ngram", "n": 1, "positional": True},
                  "exact": {"type": "exact"}}[kind]
    return {"identifier": name, "format": {"type": "string", "encoding": "utf-8"},
            "hashing": {"comparison": comparison, "strategy": {"bitsPerToken": bits}, "hash": {"type": "doubleHash"},
                        "missingValue": {"sentinel": ""}}}


def schema_for(scenario: str) -> dict:
    date = [feature("birth_year", "exact", 30), feature("birth_month", "exact", 30), feature("birth_day", "exact", 30)]
    if scenario == "febrl":
        features = [feature("first_name", "bigram", 20), feature("birth_name", "bigram", 20), *date,
                    feature("commune", "exact", 40)]
    else:
        features = [feature("birth_name", "bigram", 15), feature("use_name", "bigram", 15),
                    feature("first_name", "bigram", 15), *date, feature("sex", "exact", 20),
                    feature("commune", "exact", 40)]
        if scenario == "direct":
            features.append(feature("nir", "exact", 60))
    return {"version": 3,
            "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "hash": "SHA256",
                                             "salt": base64.b64encode(b"harmonie-benchmark-salt").decode(),
                                             "info": base64.b64encode(b"clk").decode(), "keySize": 64}},
            "features": features}


def with_date_parts(frame: pd.DataFrame) -> pd.DataFrame:
    """Year, month and day as separate exact tokens: a typo in one part keeps the others."""
    date = frame.birth_date.astype("string")
    return frame.assign(birth_year=date.str[:4], birth_month=date.str[5:7], birth_day=date.str[8:10])


def encode(frame: pd.DataFrame, schema, names: list[str]) -> list:
    rows = frame[names].fillna("").astype(str).to_numpy().tolist()
    return clk.generate_clks(rows, schema, SECRET, validate=False, max_workers=2)


def solve(candidates, threshold: float, left_ids, right_ids) -> pd.DataFrame:
    similarity, (dset0, dset1), (rec0, rec1) = candidates
    keep = np.asarray(similarity) >= threshold
    kept = (np.asarray(similarity)[keep], (np.asarray(dset0)[keep], np.asarray(dset1)[keep]),
            (np.asarray(rec0)[keep], np.asarray(rec1)[keep]))
    groups = anonlink.solving.greedy_solve(kept)
    score = {(int(a), int(b)): float(s) for s, a, b in zip(kept[0], kept[2][0], kept[2][1])}
    left, right, scores = [], [], []
    for group in groups:
        members = sorted(group)  # (dataset index, record index): dataset 0 first
        if len(members) == 2 and members[0][0] == 0 and members[1][0] == 1:
            a, b = members[0][1], members[1][1]
            left.append(left_ids[a])
            right.append(right_ids[b])
            scores.append(score.get((a, b), np.nan))
    return pd.DataFrame({"left_id": left, "right_id": right, "score": scores})


def main() -> int:
    run = Run("anonlink", __doc__)
    if run.scenario == "indirect":
        raise SystemExit("anonlink/clkhash: no field type for care events; not applicable to the indirect scenario")
    schema_dict = schema_for(run.scenario)
    names = [f["identifier"] for f in schema_dict["features"]]
    columns = ["id", "birth_date", *(n for n in names if not n.startswith("birth_") or n == "birth_name")]
    with run.stage("read plaintext"):
        left, right = (with_date_parts(f) for f in run.read(columns))
    schema = from_json_dict(schema_dict)
    with run.stage(f"clkhash: encode {len(left):,} + {len(right):,} records"):
        left_clks, right_clks = encode(left, schema, names), encode(right, schema, names)
    bits = np.mean([c.count() for c in left_clks[:2000]]) / 1024
    threshold = run.args.threshold or DEFAULT_THRESHOLD
    sweep = run.args.variant == "sweep"  # also the links at other thresholds (not part of the timed run)
    low = min(LOWEST_THRESHOLD, threshold) if sweep else threshold
    with run.stage(f"anonlink: Dice of all {len(left) * len(right):,} pairs, candidates >= {low}"):
        candidates = anonlink.candidate_generation.find_candidate_pairs(
            [left_clks, right_clks], anonlink.similarities.dice_coefficient_accelerated, low)
    run.counts["candidates"] = len(candidates[0])
    left_ids, right_ids = left.id.tolist(), right.id.tolist()
    with run.stage(f"anonlink: greedy solve at Dice >= {threshold}"):
        links = solve(candidates, threshold, left_ids, right_ids)
    run.config = {"dice_threshold": threshold, "schema": schema_dict["features"], "clk_bits": 1024,
                  "share_of_bits_set": round(float(bits), 3), "blocking": "none (all pairs)"}
    run.finish(links)
    if sweep:
        for t in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
            solve(candidates, t, left_ids, right_ids).to_parquet(run.args.out / f"links_at_{t:.2f}.parquet",
                                                                 index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
