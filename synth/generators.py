"""The patients' baseline variables: one SDV single-table synthesizer per cancer type.

Cancers differ in almost everything a study looks at (who gets them, treatments,
survival), and a Gaussian copula captures relations between variables only through one
correlation matrix, so one model per cancer type keeps far more of each cancer's
structure; the number of patients per cancer is drawn from the real shares. The models
learn the baseline (who, what cancer, which treatments, when diagnosed); outcomes and care
volume come after, from :mod:`synth.outcomes`.

Constraint, enforced by SDV on every sampled row: ``FixedCombinations(subtype, sex)``
within a cancer, so only combinations seen in the real data appear (no ovarian cancer in a
man, no lung histology on a breast cancer).

Stage and yes/no columns are encoded in their natural order (SDV's default encoder orders
categories by first appearance, which hides e.g. that death rises with stage).

The département is not learned by the strata's copulas: a stratum (200 patients or more)
holds a handful per département, and a copula reproduces those counts, so an attacker who
knows a patient's cancer, subtype, stage and département could tell from the replica's
count in that cell whether the patient was in the training set (membership AUC 0.59 at
demo size). It is drawn from its cancer type's mix over all training patients instead,
shrunk towards the national mix (:func:`fit_departement_mix`): thousands of patients per
cancer, each weighing little.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from synth.schema import PATIENT_COLUMNS, PATIENT_ID
from synth.sdv_support import metadata, quiet
from synth.strata import fit_strata

GENERATORS = ("gaussian_copula", "ctgan", "tvae")
OUTCOMES = ("n_stays", "days_to_first_stay", "n_dispensings", "death", "death_cause", "end_of_followup",
            "followup_days")
MODEL_COLUMNS = {c: sdtype for c, (sdtype, _) in PATIENT_COLUMNS.items() if c not in (PATIENT_ID, *OUTCOMES)}
DRAWN_APART = ("departement",)  # not in the strata's copulas (see the module docstring)
DEPARTEMENT_PRIOR_PATIENTS = 200  # pseudo-patients of the national mix added to each cancer's mix


def _synthesizer_class(generator: str):
    from sdv.single_table import (
        CTGANSynthesizer,
        GaussianCopulaSynthesizer,
        TVAESynthesizer,
    )

    classes = {"gaussian_copula": GaussianCopulaSynthesizer, "ctgan": CTGANSynthesizer, "tvae": TVAESynthesizer}
    if generator not in classes:
        raise HarmonieError(f"unknown generator {generator!r}: choose one of {', '.join(GENERATORS)}")
    return classes[generator]


def single_table_synthesizer(columns: dict[str, str], generator: str = "gaussian_copula", *, epochs: int = 300,
                             table: str = "patients"):
    """An unfitted SDV synthesizer for one table described by {column: sdtype}."""
    cls = _synthesizer_class(generator)
    options = {} if generator == "gaussian_copula" else {"epochs": epochs, "enable_gpu": False}
    with quiet():
        return cls(metadata({table: columns}), **options)


def fit_synthesizer(synthesizer, frame: pd.DataFrame, seed: int, table: str):
    """Fit with every random source seeded (numpy, and torch for the neural generators)."""
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    with quiet():
        synthesizer.fit({table: frame})
    return synthesizer


def draw(synthesizer, rows: int, seed: int, table: str) -> pd.DataFrame:
    """``rows`` rows from a fitted synthesizer; the same seed gives the same rows."""
    import torch

    if rows <= 0:
        return pd.DataFrame(columns=list(synthesizer.metadata.tables[table].columns))
    torch.manual_seed(seed)
    with quiet():
        synthesizer.reset_sampling()
        synthesizer._set_random_state(seed)  # SDV 2 has no public seed for sample(); this is what it uses
        return synthesizer.sample(num_rows=rows)[table].reset_index(drop=True)


ORDERED = ("stage", "surgery", "chemotherapy", "radiotherapy", "hormone_therapy", "targeted_therapy")
MIN_PATIENTS_PER_CANCER = 30
MIN_PATIENTS_PER_GROUP = 200
GROUPS = (("cancer_type", "subtype", "stage"), ("cancer_type", "stage"), ("cancer_type", "subtype"), ("cancer_type",))


def _sorted_uniform_encoder():
    from rdt.transformers.categorical import UniformEncoder

    class SortedUniformEncoder(UniformEncoder):
        """UniformEncoder with categories in sorted order (stage 1 < 2 < 3 < 4, False < True)."""

        def _fit(self, data):
            super()._fit(data.sort_values(kind="stable"))

    return SortedUniformEncoder()


def _fit_one(frame: pd.DataFrame, generator: str, seed: int, epochs: int):
    from sdv.cag import FixedCombinations

    columns = {c: t for c, t in MODEL_COLUMNS.items() if c != "cancer_type" and c not in DRAWN_APART}
    synthesizer = single_table_synthesizer(columns, generator, epochs=epochs)
    with quiet():
        synthesizer.add_constraints([FixedCombinations(column_names=["subtype", "sex"])])
        if generator == "gaussian_copula":
            synthesizer.auto_assign_transformers({"patients": frame})
            synthesizer.update_transformers({c: _sorted_uniform_encoder() for c in ORDERED})
    return fit_synthesizer(synthesizer, frame, seed, "patients")


def fit_patient_model(patients: pd.DataFrame, generator: str = "gaussian_copula", *, seed: int = 0,
                      epochs: int = 300) -> dict:
    """{group: (share of patients, fitted synthesizer)}, one group per cancer x subtype x stage with at least
    MIN_PATIENTS_PER_GROUP patients (coarsened to cancer x stage, cancer x subtype, then cancer): treatments
    follow subtype and stage (HER2+ -> targeted therapy, stage 4 -> no surgery) far more faithfully than one
    copula can, and stage comes before subtype when coarsening because it decides surgery for every subtype."""
    counts = patients["cancer_type"].value_counts().sort_index()
    small = counts[counts < MIN_PATIENTS_PER_CANCER]
    if len(small):
        raise HarmonieError(f"too few patients to learn from for {', '.join(small.index)} "
                            f"(at least {MIN_PATIENTS_PER_CANCER} per cancer type)")
    groups = fit_strata(patients, GROUPS, MIN_PATIENTS_PER_GROUP)
    from harmonie.progress import progress

    models = {}
    sizes = groups.value_counts().sort_index()
    # counted in patients, not strata: a stratum's fit takes time in proportion to its patients, so the ETA holds
    # when the strata differ in size (at 193,000 patients, from 100 to 20,000)
    with progress(f"fit {len(sizes)} strata", len(patients), unit="patients") as fitted:
        for index, (group, n) in enumerate(sizes.items()):
            frame = patients.loc[groups == group, [c for c in MODEL_COLUMNS if c != "cancer_type"
                                                   and c not in DRAWN_APART]]
            models[group] = (n / len(patients), _fit_one(frame.reset_index(drop=True), generator, seed + index,
                                                         epochs))
            fitted.advance(int(n))
    return models


def fit_departement_mix(patients: pd.DataFrame) -> dict:
    """Per cancer type, the départements and their shares: the cancer's training patients plus
    :data:`DEPARTEMENT_PRIOR_PATIENTS` pseudo-patients spread as the national (all-cancer) mix.
    JSON-ready (it goes into the model manifest)."""
    national = patients["departement"].astype(str).value_counts(normalize=True).sort_index()
    mix = {}
    for cancer, frame in patients.groupby("cancer_type", sort=True):
        counts = frame["departement"].astype(str).value_counts().reindex(national.index, fill_value=0)
        shares = (counts + DEPARTEMENT_PRIOR_PATIENTS * national) / (len(frame) + DEPARTEMENT_PRIOR_PATIENTS)
        mix[str(cancer)] = {"departements": list(national.index), "shares": [float(x) for x in shares]}
    return mix


def _draw_departements(mix: dict, cancers: pd.Series, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(len(cancers), dtype=object)
    for cancer, entry in sorted(mix.items()):
        rows = np.flatnonzero((cancers == cancer).to_numpy())
        shares = np.asarray(entry["shares"], dtype=float)
        out[rows] = np.asarray(entry["departements"], dtype=object)[rng.choice(len(shares), size=len(rows),
                                                                                p=shares / shares.sum())]
    return out


def sample_patients(models: dict, rows: int, seed: int, departements: dict | None = None) -> pd.DataFrame:
    """Synthetic patients' baseline variables, with new ids (S0000001...); ``departements``
    (:func:`fit_departement_mix`) draws the département apart from the copulas."""
    cancers = sorted(models)  # model groups, "depth:|cancer|subtype|stage"
    rng = np.random.default_rng([seed, 7])
    counts = rng.multinomial(rows, [models[c][0] for c in cancers])
    parts = [draw(models[c][1], int(n), seed + i, "patients").assign(cancer_type=c.split("|")[1])
             for i, (c, n) in enumerate(zip(cancers, counts)) if n > 0]
    p = pd.concat(parts, ignore_index=True)
    if departements is not None:
        p["departement"] = _draw_departements(departements, p["cancer_type"], np.random.default_rng([seed, 11]))
    p = p.iloc[rng.permutation(len(p))].reset_index(drop=True)[list(MODEL_COLUMNS)]
    p["diagnosis_date"] = pd.to_datetime(p["diagnosis_date"]).dt.floor("D")
    p.insert(0, PATIENT_ID, synthetic_ids(len(p)))
    return p


def synthetic_ids(n: int) -> list[str]:
    """Ids of ``n`` synthetic patients, S0000001...: never a real analytic id (those start with P)."""
    return [f"S{i + 1:07d}" for i in range(n)]
