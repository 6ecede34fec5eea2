"""A short, readable summary of a simulated population (what `harmonie simulate` prints)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkage.datasets.population import Population


def _share(mask: pa.Array | np.ndarray) -> float:
    values = np.asarray(mask.to_numpy(zero_copy_only=False) if isinstance(mask, (pa.Array, pa.ChunkedArray)) else mask)
    return float(values.mean()) if len(values) else 0.0


def _median_age(patients: pa.Table) -> float | None:
    """Median age at diagnosis in years, from the birth year as written (dd/mm/yyyy or yyyy-mm-dd)."""
    if patients.num_rows == 0:
        return None
    text = patients["birth_date"]
    year = pc.if_else(pc.match_substring(text, "/"), pc.utf8_slice_codeunits(text, -4), pc.utf8_slice_codeunits(text, 0, 4))
    birth_year = pc.cast(year, pa.int32()).to_numpy(zero_copy_only=False).astype(float)
    diagnosis_year = pc.year(patients["diagnosis_date"]).to_numpy(zero_copy_only=False).astype(float)
    return float(np.nanmedian(diagnosis_year - birth_year))


def population_summary(population: Population) -> dict:
    """Counts, case mix, survival and the hard cases, as plain numbers."""
    t = population.tables
    patients = t["cohort_patients"]
    hard = t["hard_cases"]
    n_cohort = patients.num_rows
    n_snds = t["snds_beneficiaries"].num_rows
    by_cancer = {}
    for name in ("breast", "lung", "ovarian"):
        rows = pc.equal(patients["cancer_type"], name)
        sub = patients.filter(rows)
        female = pc.is_in(sub["sex"], pa.array(["F", "2"]))
        dead = pc.is_valid(sub["death_date"])
        by_cancer[name] = {
            "patients": sub.num_rows,
            "share": sub.num_rows / n_cohort if n_cohort else 0.0,
            "female_share": _share(female),
            "deceased_share": _share(dead),
            "median_age_at_diagnosis": _median_age(sub),
        }
    return {
        "cohort_patients": n_cohort,
        "cohort_stays": t["cohort_stays"].num_rows,
        "snds_beneficiaries": n_snds,
        "snds_stays": t["snds_stays"].num_rows,
        "snds_stays_per_beneficiary": t["snds_stays"].num_rows / n_snds if n_snds else 0.0,
        "snds_dispensings": t["snds_dispensings"].num_rows,
        "true_links": t["truth"].num_rows,
        "cohort_only_share": 1 - t["truth"].num_rows / n_cohort if n_cohort else 0.0,
        "snds_duplicate_ids": t["snds_duplicates"].num_rows,
        "by_cancer": by_cancer,
        "hard_cases": {
            **{name: _share(hard[name]) for name in (
                "married_name", "birth_name_missing", "account_holder_nir", "twin", "snds_duplicate", "moved",
                "moved_far", "nir_present", "nir_mistyped", "cohort_death_missing", "borrowed_nir")
               if name in hard.column_names},
            **{f"{name}_any": _share(pc.greater(hard[name], 0)) for name in ("shifted_stays", "sister_site_stays")
               if name in hard.column_names},
            **({"no_stay_in_snds": _share(pc.and_(hard["in_snds"], pc.equal(hard["stays_in_snds"], 0)))}
               if "stays_in_snds" in hard.column_names else {}),
        },
    }


def render_summary(summary: dict):
    """The summary as rich tables, for the terminal."""
    from rich.console import Group
    from rich.table import Table

    counts = Table(title="Simulated population", show_header=False, title_justify="left")
    counts.add_column("what")
    counts.add_column("value", justify="right")
    counts.add_row("cohort patients", f"{summary['cohort_patients']:,}")
    counts.add_row("  of which in SNDS (true links)", f"{summary['true_links']:,}")
    counts.add_row("  cohort-only share", f"{summary['cohort_only_share']:.1%}")
    counts.add_row("cohort stays (centre records)", f"{summary['cohort_stays']:,}")
    counts.add_row("SNDS beneficiary ids", f"{summary['snds_beneficiaries']:,}")
    counts.add_row("  second ids of the same person", f"{summary['snds_duplicate_ids']:,}")
    counts.add_row("SNDS stays (PMSI)", f"{summary['snds_stays']:,}")
    counts.add_row("  per beneficiary", f"{summary['snds_stays_per_beneficiary']:.1f}")
    counts.add_row("SNDS dispensings (DCIR)", f"{summary['snds_dispensings']:,}")

    cancers = Table(title="Cohort case mix", title_justify="left")
    for column in ("cancer", "patients", "share", "female", "deceased", "median age at diagnosis"):
        cancers.add_column(column, justify="left" if column == "cancer" else "right")
    for name, row in summary["by_cancer"].items():
        age = row["median_age_at_diagnosis"]
        cancers.add_row(name, f"{row['patients']:,}", f"{row['share']:.1%}", f"{row['female_share']:.1%}",
                        f"{row['deceased_share']:.1%}", "-" if age is None else f"{age:.0f}")

    hard = Table(title="Hard cases among cohort patients", show_header=False, title_justify="left")
    hard.add_column("case")
    hard.add_column("share", justify="right")
    labels = {
        "married_name": "women using a married name", "birth_name_missing": "birth name not recorded",
        "account_holder_nir": "filed in SNDS under an account holder's NIR", "twin": "same-sex twin in SNDS",
        "snds_duplicate": "two SNDS ids", "moved": "moved since diagnosis",
        "moved_far": "moved to another département", "nir_present": "NIR present in cohort",
        "nir_mistyped": "NIR mistyped in cohort", "cohort_death_missing": "died, no death date in cohort",
        "borrowed_nir": "carries another person's NIR (cohort-only)",
        "shifted_stays_any": "a stay 2+ days off between holders", "sister_site_stays_any": "a stay at a sister site",
        "no_stay_in_snds": "in SNDS, no cohort stay visible there (same FINESS, ±1 day)",
    }
    for key, share in summary["hard_cases"].items():
        hard.add_row(labels.get(key, key), f"{share:.1%}")
    return Group(counts, cancers, hard)
