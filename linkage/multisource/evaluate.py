"""Cluster-level match quality: Harmonie patients against the persons the truth says they are.

The evaluator (who holds the truth) maps each holder's truth records, in local ids, to linkage
ids through the holders' crosswalks, then measures:

- **pairwise** (over every pair of records in one cluster): precision = pairs clustered
  together that are one person / pairs clustered together; recall = pairs of one person's
  records clustered together / pairs of one person's records. A person's two SNDS ids count as
  one of their pairs, as every transitive pair does: it is what a patient id promises;
- **exact clusters**, over patients with a record in a duplicate-free source (cohort
  patients): a cluster is exact when it holds all of one person's records and nothing else;
  precision = exact clusters / clusters holding a cohort record, recall = cohort patients
  whose cluster is exact / cohort patients;
- **each pair** of the plan: precision, recall, F1 of its links (correct: the two records are
  one person; true pairs: per person, the fewer of their records on either side);
- **conflicts**: how many of the links the clustering refused were wrong.

Records the encoding rejected are in no cluster: each counts as a patient of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from harmonie.errors import HarmonieError


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def record_persons(truth: pd.DataFrame, crosswalks: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """Truth records of the sources with a crosswalk: (source, local_id, person, linkage_id or None)."""
    parts = []
    for source, tables in crosswalks.items():
        mine = truth[truth.source == source]
        if not len(mine):
            raise HarmonieError(f"the truth holds no record of source {source!r}: is it this warehouse's "
                                "record_truth.parquet?")
        walk = pd.concat([t[["local_id", "linkage_id"]] for t in tables]).drop_duplicates("local_id")
        mapped = mine.merge(walk, how="left", on="local_id")
        parts.append(mapped)
    return pd.concat(parts, ignore_index=True)[["source", "local_id", "person", "linkage_id"]]


def _pair_counts(cluster: np.ndarray, person: np.ndarray) -> tuple[int, int, int]:
    """(correct, clustered, true) record pairs: within one (cluster, person), one cluster, one person."""
    _, cluster_size = np.unique(cluster, return_counts=True)
    _, person_size = np.unique(person, return_counts=True)
    _, cell_size = np.unique(cluster * (int(person.max(initial=0)) + 1) + person, return_counts=True)
    return _pairs(cell_size), _pairs(cluster_size), _pairs(person_size)


def _pairwise(tp: int, predicted: int, true: int) -> dict:
    precision, recall = _ratio(tp, predicted), _ratio(tp, true)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "true_pairs": true,
            "clustered_pairs": predicted, "correct_pairs": tp}


def _cluster_quality(records: pd.DataFrame, duplicate_free: dict[str, bool]) -> dict:
    cluster, person = records.cluster.to_numpy(np.int64), records.person.to_numpy(np.int64)
    cohort = records.source.map(duplicate_free).fillna(False).to_numpy(bool)
    every = _pair_counts(cluster, person)
    # pairs with a cohort record: all pairs but those of two records of sources that may repeat a
    # person (two SNDS ids), which no pair of a plan without an SNDS x SNDS pair can join
    others = _pair_counts(cluster[~cohort], person[~cohort])
    frame = pd.DataFrame({"cluster": cluster, "person": person, "cohort": cohort})
    per_cluster = frame.groupby("cluster").agg(size=("person", "size"), persons=("person", "nunique"),
                                               person=("person", "first"), cohort=("cohort", "any"))
    per_person = frame.groupby("person").agg(size=("cluster", "size"), clusters=("cluster", "nunique"),
                                             cohort=("cohort", "any"))
    per_cluster["exact"] = (per_cluster.persons == 1) & \
        (per_cluster["size"] == per_person["size"].reindex(per_cluster.person).to_numpy())
    with_cohort = per_cluster[per_cluster.cohort]
    exact = int(with_cohort.exact.sum())
    patients = int(per_person.cohort.sum())
    e_precision, e_recall = _ratio(exact, len(with_cohort)), _ratio(exact, patients)
    return {"records": int(len(frame)), "persons": int(len(per_person)), "clusters": int(len(per_cluster)),
            "pairwise": _pairwise(*every),
            "pairwise_with_a_cohort_record": _pairwise(*(a - b for a, b in zip(every, others))),
            "exact": {"precision": e_precision, "recall": e_recall, "f1": _f1(e_precision, e_recall),
                      "clusters_with_a_cohort_record": int(len(with_cohort)), "cohort_patients": patients,
                      "exact_clusters": exact},
            "persons_split": int((per_person.clusters > 1).sum()),
            "clusters_merging_persons": int((per_cluster.persons > 1).sum())}


def _patient_findings(records: pd.DataFrame, duplicate_free: dict[str, bool]) -> dict:
    """What a researcher relies on: cohort patients in SNDS found there, and patients of two programmes
    seen as one (merges on the clusters that hold a cohort record, never a Python loop over SNDS)."""
    cohorts = [s for s, free in duplicate_free.items() if free]
    frame = records[["cluster", "person", "source"]]
    is_cohort = frame.source.isin(cohorts)
    cohort, snds = frame[is_cohort], frame[~is_cohort]
    snds = snds[snds.cluster.isin(set(cohort.cluster))][["cluster", "person"]].drop_duplicates()
    in_snds = cohort[cohort.person.isin(set(frame[~is_cohort].person))]
    own = in_snds.merge(snds, on=["cluster", "person"], how="left", indicator=True)._merge == "both"
    others = cohort.merge(snds, on="cluster", suffixes=("", "_snds"))
    wrong = others[others.person != others.person_snds][["cluster", "person", "source"]].drop_duplicates()
    programmes = cohort.groupby("person").agg(n=("source", "nunique"), clusters=("cluster", "nunique"))
    several = programmes[programmes.n >= 2]
    return {"cohort_records_in_snds": int(len(in_snds)),
            "with_their_snds_id": _ratio(int(own.sum()), len(in_snds)),
            "cohort_records_with_a_wrong_snds_id": int(len(wrong)),
            "patients_in_two_programmes_or_more": int(len(several)),
            "of_which_one_cluster": _ratio(int((several.clusters == 1).sum()), len(several))}


def _lookup(records: pd.DataFrame) -> dict[tuple[str, str], int]:
    known = records.dropna(subset=["linkage_id"])
    return dict(zip(zip(known.source, known.linkage_id), known.person))


def pair_quality(name: str, left: str, right: str, links: pd.DataFrame, records: pd.DataFrame,
                 persons: dict[tuple[str, str], int]) -> dict:
    """One pair's links against the truth (module docstring)."""
    a = [persons.get((left, i)) for i in links.left_id]
    b = [persons.get((right, i)) for i in links.right_id]
    tp = sum(x is not None and x == y for x, y in zip(a, b))
    counts = records[records.source.isin([left, right])].groupby(["person", "source"]).size().unstack(fill_value=0)
    true = int(counts.min(axis=1).sum()) if left in counts and right in counts else 0
    precision, recall = _ratio(tp, len(links)), _ratio(tp, true)
    return {"pair": name, "links": int(len(links)), "true_pairs": true, "true_positives": int(tp),
            "false_positives": int(len(links) - tp), "precision": precision, "recall": recall,
            "f1": _f1(precision, recall)}


def evaluate_clusters(clusters: pa.Table | pd.DataFrame, truth: pa.Table | pd.DataFrame,
                      crosswalks: dict[str, list[pd.DataFrame]], duplicate_free: dict[str, bool], *,
                      pair_links: list[tuple[str, str, str, pd.DataFrame]] = (),
                      conflicts: pa.Table | pd.DataFrame | None = None) -> dict:
    """Cluster-level and per-pair quality (module docstring). ``crosswalks``: per source, its holder's
    crosswalks (local_id, linkage_id), one per encoding (they agree); ``pair_links``: (pair name, left
    source, right source, links)."""
    clusters, truth, conflicts = (t.to_pandas() if isinstance(t, pa.Table) else t for t in (clusters, truth, conflicts))
    for what, frame, needed in (("clusters", clusters, ("harmonie_id", "source", "linkage_id")),
                                ("truth", truth, ("source", "local_id", "person"))):
        missing = [c for c in needed if c not in frame]
        if missing:
            raise HarmonieError(f"the {what} table lacks column(s) {', '.join(missing)}")
    unknown = sorted(set(clusters.source) - set(crosswalks))
    if unknown:
        raise HarmonieError(f"no crosswalk for source {unknown[0]!r}: give --crosswalk {unknown[0]}=PATH")
    truth = truth.assign(local_id=truth.local_id.astype(str))
    records = record_persons(truth, crosswalks)
    codes = pd.Series(np.arange(len(clusters)), dtype=np.int64)
    cluster_of = pd.Series(pd.factorize(clusters.harmonie_id)[0], index=pd.MultiIndex.from_arrays(
        [clusters.source, clusters.linkage_id]))
    key = pd.MultiIndex.from_arrays([records.source, records.linkage_id.fillna("")])
    records["cluster"] = cluster_of.reindex(key).to_numpy()
    absent = int(records.linkage_id.notna().sum() - records.cluster.notna().sum())
    if absent:
        raise HarmonieError(f"{absent:,} encoded records of the truth are in no cluster: are these the crosswalks "
                            "of the encodings this run linked?")
    strays = len(clusters) - int(records.cluster.notna().sum())
    if strays:
        raise HarmonieError(f"{strays:,} clustered records are not in the truth: is it this warehouse's "
                            "record_truth.parquet, with these crosswalks?")
    unclustered = records.cluster.isna()
    records.loc[unclustered, "cluster"] = len(codes) + np.arange(int(unclustered.sum()))
    records["cluster"] = records.cluster.astype(np.int64)
    report = {"clusters": _cluster_quality(records, duplicate_free),
              "patients": _patient_findings(records, duplicate_free),
              "records_not_encoded": int(unclustered.sum())}
    persons = _lookup(records)
    report["pairs"] = [pair_quality(name, left, right, links, records, persons)
                       for name, left, right, links in pair_links]
    if conflicts is not None and len(conflicts):
        a = [persons.get(k) for k in zip(conflicts.left_source, conflicts.left_id)]
        b = [persons.get(k) for k in zip(conflicts.right_source, conflicts.right_id)]
        wrong = sum(x is None or x != y for x, y in zip(a, b))
        report["conflicts"] = {"refused_links": int(len(conflicts)), "of_which_wrong": int(wrong),
                               "by_kind": conflicts.kind.value_counts().to_dict()}
    else:
        report["conflicts"] = {"refused_links": 0, "of_which_wrong": 0, "by_kind": {}}
    return report


def format_cluster_report(report: dict) -> str:
    """The evaluation as a few lines (counts and shares only)."""
    c, p = report["clusters"], report["patients"]
    w, e = c["pairwise"], c["exact"]
    k = c["pairwise_with_a_cohort_record"]
    lines = [f"clusters: pairwise precision {w['precision']:.4f}  recall {w['recall']:.4f}  f1 {w['f1']:.4f}  "
             f"({c['clusters']:,} patients for {c['persons']:,} persons, {c['records']:,} records)",
             f"  pairs with a cohort record: precision {k['precision']:.4f}  recall {k['recall']:.4f}  "
             f"f1 {k['f1']:.4f}  (the others: one person's SNDS ids, joined only through a cohort record)",
             f"exact clusters (cohort patients): precision {e['precision']:.4f}  recall {e['recall']:.4f}  "
             f"f1 {e['f1']:.4f}  ({e['exact_clusters']:,} of {e['cohort_patients']:,})",
             f"persons split {c['persons_split']:,}, clusters merging persons {c['clusters_merging_persons']:,}; "
             f"cohort records in SNDS with their SNDS id {p['with_their_snds_id']:.4f}; patients of two "
             f"programmes or more in one cluster {p['of_which_one_cluster']:.4f} "
             f"({p['patients_in_two_programmes_or_more']:,})"]
    for q in report["pairs"]:
        lines.append(f"  pair {q['pair']:<14s} precision {q['precision']:.4f}  recall {q['recall']:.4f}  "
                     f"f1 {q['f1']:.4f}  ({q['links']:,} links, {q['true_pairs']:,} true pairs)")
    k = report["conflicts"]
    lines.append(f"conflicts: {k['refused_links']:,} links refused, {k['of_which_wrong']:,} of them wrong")
    return "\n".join(lines)
