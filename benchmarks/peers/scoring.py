"""Precision, recall and F1 of any method's links against truth, in local ids.

One scorer for every method, so the figures are comparable: a link is correct when its
pair is a true pair, a link to a second SNDS id of the same person counting as a link to
the first; recall counts each true pair once, however many links found it (a method that
does not make links one-to-one cannot find a pair twice).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


class Truth:
    def __init__(self, data_dir: Path):
        truth = pd.read_parquet(data_dir / "truth.parquet")
        same = pd.read_parquet(data_dir / "same_person.parquet")
        self.same_as = dict(zip(same.right_id.astype(str), same.same_as.astype(str)))
        self.pairs = set(zip(truth.left_id.astype(str), truth.right_id.astype(str)))
        self.size = len(truth)

    def correct(self, links: pd.DataFrame) -> np.ndarray:
        same = self.same_as
        return np.array([(a, same.get(b, b)) in self.pairs
                         for a, b in zip(links.left_id.astype(str), links.right_id.astype(str))], dtype=bool)


def one_to_one(links: pd.DataFrame) -> pd.DataFrame:
    """Greedy one-to-one: best score first, each record used once."""
    ranked = links.sort_values("score", ascending=False, kind="stable")
    ranked = ranked[~ranked.left_id.duplicated()]
    taken_left, taken_right, keep = set(), set(), []
    for a, b in zip(ranked.left_id, ranked.right_id):
        ok = a not in taken_left and b not in taken_right
        keep.append(ok)
        if ok:
            taken_left.add(a)
            taken_right.add(b)
    return ranked[np.array(keep, dtype=bool)] if len(ranked) else ranked


def quality(links: pd.DataFrame, truth: Truth) -> dict:
    correct = truth.correct(links)
    found = {(a, truth.same_as.get(b, b)) for a, b, ok in
             zip(links.left_id.astype(str), links.right_id.astype(str), correct) if ok}
    tp_links = int(correct.sum())
    precision = tp_links / len(links) if len(links) else 1.0
    recall = len(found) / truth.size if truth.size else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"links": int(len(links)), "true_pairs": truth.size, "correct_links": tp_links,
            "false_links": int(len(links) - tp_links), "true_pairs_found": len(found),
            "missed": truth.size - len(found), "precision": precision, "recall": recall, "f1": f1,
            "one_to_one": bool(links.left_id.is_unique and links.right_id.is_unique)}


def to_local(links: pd.DataFrame, crosswalks: Path) -> pd.DataFrame:
    """Links in linkage ids -> local ids, through each holder's crosswalk (only the evaluator holds both)."""
    left = pd.read_parquet(crosswalks / "cohort.crosswalk.parquet").set_index("linkage_id").local_id
    right = pd.read_parquet(crosswalks / "snds.crosswalk.parquet").set_index("linkage_id").local_id
    score = links["match_probability"] if "match_probability" in links else links["score"]
    return pd.DataFrame({"left_id": left.reindex(links.left_id).to_numpy(),
                         "right_id": right.reindex(links.right_id).to_numpy(), "score": score.to_numpy()})


def main() -> int:
    """Score one links file (run as a child process, so the harness itself stays small)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder written by prepare.py (truth)")
    parser.add_argument("--links", type=Path, required=True)
    parser.add_argument("--crosswalks", type=Path, help="folder of the holders' crosswalks: links are in linkage ids")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    links = pd.read_parquet(args.links)
    if args.crosswalks is not None:
        links = to_local(links, args.crosswalks)
    truth = Truth(args.data)
    report = {"quality": quality(links, truth)}
    if not report["quality"]["one_to_one"]:
        report["quality_one_to_one"] = quality(one_to_one(links), truth)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
