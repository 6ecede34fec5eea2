"""The analytic dataset of a warehouse: one patient per Harmonie id, whatever the number of programmes (#19 item 4).

`harmonie link-all` clusters every cohort's and SNDS's records into one Harmonie id per person
(``clusters.parquet``: harmonie_id, source, linkage_id). A patient followed in two programmes
(CANTO then ESME, say) is one patient there, and must be one patient here, with the variables
of both; a person filed in SNDS under two ids has the claims of both. This module turns the
clusters and every holder's extract into the two inputs :func:`synth.analytic.build_analytic`
already knows (one cohort extract, one SNDS extract, one-to-one links), keyed by Harmonie id,
so every convention, quarantine rule and count of the analytic dataset holds unchanged.

Conventions, stated once here:
- a patient is a cluster with at least one cohort record and one SNDS id;
- of a patient's cohort records, the **primary** is the one with the earliest diagnosis date
  (the first programme to see the cancer; ties and unknown dates in the order the programmes
  are given); each variable is the primary's value, else the next record's that has one (a
  programme that did not record HER2 status takes it from the one that did); the case-report
  form's extra columns (``cohort_variables``) are combined the same way;
- programme records that **disagree** on cancer type, sex or birth date are not silently
  combined: the patient goes to the quarantine with the reason;
- a patient's SNDS ids (a second id of the same person) give one beneficiary row (the first
  id's values, gaps filled from the others) and the stays and dispensings of all of them;
- ``summary["programmes"]`` counts each programme's linked records, the patients seen in two
  programmes or more, those quarantined for disagreeing records and the SNDS second ids merged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from harmonie.errors import HarmonieError
from synth.analytic import Analytic, build_analytic, parse_dates, sex_codes
from synth.extract import LINKAGE_ID

HARMONIE_ID = "harmonie_id"
CLUSTER_COLUMNS = (HARMONIE_ID, "source", LINKAGE_ID)
MUST_AGREE = ("cancer_type", "sex", "birth_date")  # programme records that differ here are not one patient's
_ORDER, _DATE = "_programme_order", "_diagnosis"


def _frame(clusters: pa.Table | pd.DataFrame) -> pd.DataFrame:
    frame = clusters.to_pandas() if isinstance(clusters, pa.Table) else clusters
    missing = [c for c in CLUSTER_COLUMNS if c not in frame.columns]
    if missing:
        raise HarmonieError(f"the clusters lack column(s) {', '.join(missing)}: give the clusters.parquet written "
                            "by `harmonie link-all`")
    frame = frame[list(CLUSTER_COLUMNS)]
    twice = int(frame.duplicated(["source", LINKAGE_ID]).sum())
    if twice:
        raise HarmonieError(f"the clusters put {twice:,} record(s) of one source in two places: give the "
                            "clusters.parquet written by `harmonie link-all`, unedited")
    return frame


def _keyed(table: pd.DataFrame, ids: pd.Series, what: str) -> pd.DataFrame:
    """``table`` with its linkage ids replaced by Harmonie ids (``ids``: linkage id -> Harmonie id); rows of records
    outside the clusters are left out (they were not linked)."""
    if LINKAGE_ID not in table.columns:
        raise HarmonieError(f"the {what} extract has no {LINKAGE_ID} column: give the folder `harmonie synth extract` "
                            "wrote")
    mapped = table[LINKAGE_ID].map(ids)
    return table.loc[mapped.notna()].assign(**{LINKAGE_ID: mapped[mapped.notna()]})


def _first_values(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per Harmonie id (rows already in priority order): each column's first non-missing value."""
    return frame.groupby(LINKAGE_ID, sort=True, dropna=False).first().reset_index()


def _disagreeing(cohort: pd.DataFrame) -> pd.Series:
    """Harmonie id -> reason, for patients whose programme records differ on a :data:`MUST_AGREE` variable."""
    # compared as the analytic dataset reads them: programmes code sex ('F', '2', 'femme') and write names of
    # cancers their own way, and that is no disagreement
    normalised = cohort.assign(birth_date=parse_dates(cohort["birth_date"]), sex=sex_codes(cohort["sex"]),
                               cancer_type=cohort["cancer_type"].astype("string").str.strip().str.lower())
    reasons = pd.Series(dtype="object")
    for column in MUST_AGREE:  # the first variable that differs is the reason given
        distinct = normalised.dropna(subset=[column]).groupby(LINKAGE_ID)[column].nunique()
        new = distinct.index[(distinct > 1).to_numpy()].difference(reasons.index)
        reasons = pd.concat([reasons, pd.Series(f"programmes disagree on the {column.replace('_', ' ')}",
                                                index=new, dtype="object")])
    return reasons.sort_index()


def combine_extracts(clusters: pa.Table | pd.DataFrame, cohorts: dict[str, dict[str, pd.DataFrame]],
                     snds: dict[str, pd.DataFrame], *, snds_source: str = "snds"
                     ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict[str, pd.DataFrame], pd.Series, dict]:
    """(links, cohort extract, SNDS extract, quarantined Harmonie ids -> reason, counts), every table keyed by
    Harmonie id; ``cohorts``: {programme (a source of the clusters): its extract}, in priority order for ties."""
    frame = _frame(clusters)
    sources = set(frame["source"])
    unknown = [name for name in [*cohorts, snds_source] if name not in sources]
    if unknown:
        raise HarmonieError(f"source(s) {', '.join(unknown)} are not in the clusters (which hold "
                            f"{', '.join(sorted(sources))}): name each extract after its source in the plan")
    ids = {name: frame.loc[frame["source"] == name].set_index(LINKAGE_ID)[HARMONIE_ID]
           for name in [*cohorts, snds_source]}
    with_snds = set(ids[snds_source])

    records = []
    for order, (name, extract) in enumerate(cohorts.items()):
        table = _keyed(extract["cohort_patients"], ids[name], f"{name} cohort")
        records.append(table[table[LINKAGE_ID].isin(with_snds)].assign(**{_ORDER: order}))
    cohort = pd.concat(records, ignore_index=True)
    cohort[_DATE] = parse_dates(cohort["diagnosis_date"])
    priority = cohort.sort_values([LINKAGE_ID, _DATE, _ORDER], kind="stable", na_position="last")
    patients = _first_values(priority.drop(columns=[_ORDER, _DATE]))
    disagree = _disagreeing(priority)

    combined = {"cohort_patients": patients}
    extras = [_keyed(e["cohort_variables"], ids[name], f"{name} case-report form").assign(**{_ORDER: order})
              for order, (name, e) in enumerate(cohorts.items()) if e.get("cohort_variables") is not None]
    if extras:  # in the order of the patients' records: the primary's form first
        position = priority.drop_duplicates([LINKAGE_ID, _ORDER]).set_index([LINKAGE_ID, _ORDER])
        position = pd.Series(np.arange(len(position)), index=position.index)
        stacked = pd.concat(extras, ignore_index=True)
        stacked["_rank"] = position.reindex(pd.MultiIndex.from_frame(stacked[[LINKAGE_ID, _ORDER]])).to_numpy()
        stacked = stacked.dropna(subset=["_rank"]).sort_values("_rank", kind="stable")
        combined["cohort_variables"] = _first_values(stacked.drop(columns=["_rank", _ORDER]))

    beneficiaries = _keyed(snds["snds_beneficiaries"], ids[snds_source], "SNDS")
    merged_ids = int(len(beneficiaries) - beneficiaries[LINKAGE_ID].nunique())
    combined_snds = {"snds_beneficiaries": _first_values(beneficiaries)}
    for name in ("snds_stays", "snds_dispensings"):
        combined_snds[name] = _keyed(snds[name], ids[snds_source], "SNDS").reset_index(drop=True)

    keep = patients[LINKAGE_ID][~patients[LINKAGE_ID].isin(disagree.index)]
    links = pd.DataFrame({"left_id": keep.to_numpy(), "right_id": keep.to_numpy()})
    per_patient = priority.groupby(LINKAGE_ID)[_ORDER].nunique()
    counts = {
        "linked_records": {name: int((priority[_ORDER] == order).sum()) for order, name in enumerate(cohorts)},
        "patients": int(len(patients)),
        "in_two_programmes_or_more": int((per_patient >= 2).sum()),
        "quarantined_disagreeing_records": int(len(disagree)),
        "snds_second_ids_merged": merged_ids,
    }
    return links, combined, combined_snds, disagree, counts


def build_clustered_analytic(clusters: pa.Table | pd.DataFrame, cohorts: dict[str, dict[str, pd.DataFrame]],
                             snds: dict[str, pd.DataFrame], *, snds_source: str = "snds", seed: int = 0,
                             control_fraction: float = 0.2) -> Analytic:
    """The analytic dataset of :func:`synth.analytic.build_analytic` for a multi-source warehouse: one patient per
    Harmonie id (see the module docstring); quarantine rows keep the Harmonie id in ``linkage_id``."""
    if not cohorts:
        raise HarmonieError("give at least one cohort extract")
    links, cohort, combined_snds, disagree, counts = combine_extracts(clusters, cohorts, snds,
                                                                      snds_source=snds_source)
    if links.empty:
        raise HarmonieError("no cluster holds both a cohort record and an SNDS id: nothing to analyse")
    kept_cohort = dict(cohort, cohort_patients=cohort["cohort_patients"][
        ~cohort["cohort_patients"][LINKAGE_ID].isin(disagree.index)].reset_index(drop=True))
    result = build_analytic(links, kept_cohort, combined_snds, seed=seed, control_fraction=control_fraction)
    held = pd.DataFrame({LINKAGE_ID: disagree.index.to_numpy(), "reason": disagree.to_numpy()})
    quarantine = pd.concat([result.quarantine, held], ignore_index=True)
    summary = result.summary
    patients = summary["patients"]
    patients["cohort_records"] = counts["patients"]  # one record per patient once programmes are combined
    patients["linked"] += len(held)
    patients["quarantined"] += len(held)
    reasons = dict(patients["quarantine_reasons"])
    for reason, n in held["reason"].value_counts().items():
        reasons[reason] = reasons.get(reason, 0) + int(n)
    patients["quarantine_reasons"] = dict(sorted(reasons.items()))
    patients["not_linked"] = 0
    summary["programmes"] = counts
    return Analytic(result.train, result.control, quarantine, summary)


def linked_in_clusters(clusters: pa.Table | pd.DataFrame, source: str, *, snds_source: str = "snds") -> set[str]:
    """The linkage ids of ``source`` that share a cluster with another source (what its holder extracts)."""
    frame = _frame(clusters)
    if source not in set(frame["source"]):
        raise HarmonieError(f"source {source!r} is not in the clusters")
    shared = frame.groupby(HARMONIE_ID)["source"].nunique()
    mine = frame[(frame["source"] == source) & frame[HARMONIE_ID].map(shared).gt(1)]
    return set(mine[LINKAGE_ID].astype(str))

