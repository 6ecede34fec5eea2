"""Extra clinical variables of the cohort's patients: the case-report form of a cohort such as CANTO or ESME.

A warehouse holds hundreds of variables per patient besides the fixed ones of the analytic
dataset (biomarkers, comorbidities, performance status, laboratory values, lines of
treatment...). ``PopulationParams(clinical_variables=ClinicalVariablesParams(count=500))``
(``harmonie simulate --param clinical_variables.count=500``) adds ``count`` of them to the
simulated cohort, in ``cohort_variables.parquet`` (``cohort_id`` + one column per variable,
no identifier). With ``count`` 0 (the default) nothing is drawn and no other output moves:
the variables draw from a random stream of their own, after everything else.

**The variables** are a typed catalogue of :class:`ClinicalVariable`
(:func:`clinical_variable_catalogue`): the first ~30 are named and calibrated on the clinical
literature's orders of magnitude (ECOG performance status, BMI, LDH, albumin, EGFR mutation,
PD-L1, Ki-67, CA-125...); the others are generated families (``lab_NNN`` numbers,
``comorbidity_NNN`` yes/no, ``marker_NNN`` categories) whose parameters come from a fixed
catalogue seed, so that variable ``lab_123`` means the same in every population. Variable
number k is the same whatever ``count`` is (a population of 100 variables holds the first
100 of one of 500).

**The generating model** of a variable is a latent standard-normal score per patient

    u = shift(cancer) + stage_slope * (stage - 1) + shift(subtype) + age_slope * (age - 65) / 10
        + male_shift * male + frailty_loading * f + factor_loading * g[factor] + sqrt(1 - l^2 - k^2) * e

turned into a value: a number ``location + spread * u`` (or ``exp`` of it, log-normal), clipped
and rounded; a yes/no ``u > threshold`` (``prevalence`` at u's mean 0); a category by cutting
``u`` at the quantiles of ``level_shares`` (ordered levels). ``f`` is the **frailty shared
with survival**: the normal score of the patient's own standard exponential draw that set
their survival time in :mod:`linkage.datasets.clinical` (time = draw / hazard), reconstructed
from the simulated death date and hazard (for patients alive at the end of follow-up, the
draw's memoryless tail beyond it), so a variable with a positive ``frailty_loading`` is higher
in patients who die sooner than their cancer, stage, subtype, treatments, age and sex
predict: it carries prognostic information of its own, as LDH or albumin do, and the
survival of the world is not touched. ``g`` are a few latent factors shared by families of
variables (inflammation, renal function, cardiometabolic, tumour burden...), which make
variables correlate with each other. ``e`` is the variable's own noise.

**Sparsity**: a variable recorded for some cancers only is empty for the others
(``cancers``), one tested from a given year is empty before it (``recorded_from_year``), and
``missing_rate`` of the eligible patients have no value (not measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from harmonie.errors import InvalidParameter
from linkage.datasets import reference as ref
from linkage.datasets.clinical import DAYS_PER_YEAR, REFERENCE_AGE, TREATMENTS, relative_hazard

KINDS = ("numeric", "boolean", "categorical")
FACTORS = ("inflammation", "renal function", "cardiometabolic", "tumour burden", "geriatric frailty",
           "haematology")
STREAM_KEY = 1_000
"""The variables' random stream is child ``STREAM_KEY`` of the population seed's SeedSequence: independent of
the positional streams of :mod:`linkage.datasets.population` (0, 1, 2...), whatever is appended to them."""
CATALOGUE_SEED = 20_230_423
"""Seed of the generated families' parameters: the same catalogue in every population."""


@dataclass(frozen=True)
class ClinicalVariable:
    """One extra clinical variable and its generating model (see the module docstring for the formula).

    Effects are on the latent score's scale (standard deviations); ``frailty_loading`` and
    ``factor_loading`` are correlations of the score with the frailty and the factor, so
    ``frailty_loading ** 2 + factor_loading ** 2`` must stay below 1."""

    name: str
    kind: str  # one of KINDS
    meaning: str
    cancers: tuple[str, ...] = ()  # recorded for these cancer types only (empty: all)
    missing_rate: float = 0.0  # share of the eligible patients with no value
    recorded_from_year: int = 0  # empty for patients diagnosed before this year (0: always recorded)
    cancer_shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # breast, lung, ovarian
    stage_slope: float = 0.0  # per stage above I
    subtype_shift: tuple[tuple[str, float], ...] = ()  # (subtype, shift) pairs
    age_slope: float = 0.0  # per 10 years from 65
    male_shift: float = 0.0
    frailty_loading: float = 0.0  # > 0: higher in patients who die sooner than their covariates predict
    factor: int = -1  # index into FACTORS, -1 for none
    factor_loading: float = 0.0
    location: float = 0.0  # numeric: the value (or its log) at u = 0
    spread: float = 1.0  # numeric: change of the value (or its log) per unit of u
    log_normal: bool = False
    decimals: int = 1
    minimum: float = -math.inf
    maximum: float = math.inf
    prevalence: float = 0.5  # boolean: share of "yes" at u's mean 0
    levels: tuple[str, ...] = ()  # categorical: ordered levels...
    level_shares: tuple[float, ...] = ()  # ...and their shares at u's mean 0

    def __post_init__(self):
        def bad(why: str) -> None:
            raise InvalidParameter(f"clinical variable {self.name!r}: {why}")

        if not self.name.isidentifier() or self.name != self.name.lower():
            bad("the name must be a lower-case identifier (letters, digits, underscores)")
        if self.kind not in KINDS:
            bad(f"kind must be one of {', '.join(KINDS)}")
        if unknown := sorted(set(self.cancers) - set(ref.CANCERS)):
            bad(f"unknown cancer type(s) {', '.join(unknown)} (known: {', '.join(ref.CANCERS)})")
        if not 0 <= self.missing_rate < 1:
            bad("missing_rate must be in [0, 1)")
        if self.frailty_loading ** 2 + self.factor_loading ** 2 >= 1:
            bad("frailty_loading^2 + factor_loading^2 must stay below 1 (they are correlations of one score)")
        if not -1 <= self.factor < len(FACTORS) or (self.factor < 0 and self.factor_loading):
            bad(f"factor must index FACTORS (0-{len(FACTORS) - 1}), or be -1 with no loading")
        if self.kind == "boolean" and not 0 < self.prevalence < 1:
            bad("prevalence must be in (0, 1)")
        if self.kind == "categorical" and (len(self.levels) < 2 or len(self.levels) != len(self.level_shares)
                                           or abs(sum(self.level_shares) - 1) > 1e-6 or min(self.level_shares) <= 0):
            bad("a categorical variable needs two levels or more, each with a positive share, shares summing to 1")


# --- the catalogue ----------------------------------------------------------------------------

def _named() -> tuple[ClinicalVariable, ...]:
    """Variables with a clinical name, ordered as they are added. Orders of magnitude from the oncology
    literature; effects are plausible directions, not estimates."""
    v = ClinicalVariable
    inflammation, renal, cardio, burden, geriatric, haem = range(len(FACTORS))
    return (
        v("ecog_performance_status", "categorical", "ECOG performance status at diagnosis (0 fully active - 4)",
          levels=("0", "1", "2", "3-4"), level_shares=(0.45, 0.35, 0.13, 0.07), stage_slope=0.3, age_slope=0.35,
          cancer_shift=(-0.3, 0.1, 0.0), frailty_loading=0.5, factor=geriatric, factor_loading=0.4),
        v("bmi", "numeric", "body-mass index at diagnosis (kg/m2)", location=26.0, spread=4.5, minimum=14, maximum=60,
          cancer_shift=(0.1, -0.25, 0.0), frailty_loading=-0.15, factor=cardio, factor_loading=0.5,
          missing_rate=0.05),
        v("weight_loss_pct", "numeric", "weight lost in the 6 months before diagnosis (% of body weight)",
          location=2.5, spread=3.0, minimum=0, maximum=40, stage_slope=0.3, cancer_shift=(-0.3, 0.5, 0.2),
          frailty_loading=0.4, missing_rate=0.15),
        v("charlson_index", "numeric", "Charlson comorbidity index, cancer excluded", location=1.0, spread=1.3,
          decimals=0, minimum=0, maximum=12, age_slope=0.5, cancer_shift=(-0.2, 0.4, 0.0), frailty_loading=0.2,
          factor=cardio, factor_loading=0.3),
        v("smoking_status", "categorical", "tobacco smoking", levels=("never", "former", "current"),
          level_shares=(0.5, 0.3, 0.2), cancer_shift=(-0.3, 1.3, -0.3), male_shift=0.4, missing_rate=0.08),
        v("pack_years", "numeric", "cumulative tobacco exposure (pack-years)", cancers=("lung",), location=35.0,
          spread=18.0, decimals=0, minimum=0, maximum=150, male_shift=0.4, frailty_loading=0.1, missing_rate=0.3),
        v("diabetes", "boolean", "diabetes mellitus", prevalence=0.12, age_slope=0.3, factor=cardio,
          factor_loading=0.6, frailty_loading=0.1),
        v("hypertension", "boolean", "arterial hypertension", prevalence=0.35, age_slope=0.45, factor=cardio,
          factor_loading=0.5),
        v("copd", "boolean", "chronic obstructive pulmonary disease", prevalence=0.08,
          cancer_shift=(-0.5, 1.0, -0.5), frailty_loading=0.2),
        v("heart_failure", "boolean", "chronic heart failure", prevalence=0.04, age_slope=0.5, frailty_loading=0.25,
          factor=cardio, factor_loading=0.3),
        v("ldh_ui_l", "numeric", "lactate dehydrogenase (UI/L)", location=math.log(220), spread=0.3, log_normal=True,
          decimals=0, stage_slope=0.3, frailty_loading=0.55, factor=burden, factor_loading=0.4, missing_rate=0.25),
        v("albumin_g_l", "numeric", "serum albumin (g/L)", location=40.0, spread=5.0, minimum=15, maximum=55,
          stage_slope=-0.2, frailty_loading=-0.5, factor=inflammation, factor_loading=-0.4, missing_rate=0.2),
        v("haemoglobin_g_dl", "numeric", "haemoglobin (g/dL)", location=12.6, spread=1.5, minimum=5, maximum=19,
          male_shift=0.8, stage_slope=-0.15, frailty_loading=-0.3, factor=haem, factor_loading=0.5),
        v("neutrophil_lymphocyte_ratio", "numeric", "neutrophil-to-lymphocyte ratio", location=math.log(3.0),
          spread=0.5, log_normal=True, decimals=2, frailty_loading=0.4, factor=inflammation, factor_loading=0.6),
        v("creatinine_umol_l", "numeric", "serum creatinine (umol/L)", location=math.log(75), spread=0.25,
          log_normal=True, decimals=0, male_shift=0.6, age_slope=0.3, factor=renal, factor_loading=0.7),
        v("crp_mg_l", "numeric", "C-reactive protein (mg/L)", location=math.log(8), spread=1.0, log_normal=True,
          frailty_loading=0.35, factor=inflammation, factor_loading=0.7, missing_rate=0.3),
        v("tumour_size_mm", "numeric", "largest tumour diameter at diagnosis (mm)", location=math.log(22), spread=0.5,
          log_normal=True, decimals=0, minimum=1, maximum=300, stage_slope=0.5, cancer_shift=(0.0, 0.5, 0.6),
          factor=burden, factor_loading=0.4, missing_rate=0.1),
        v("positive_lymph_nodes", "numeric", "positive regional lymph nodes", cancers=("breast", "lung"),
          location=0.3, spread=2.0, decimals=0, minimum=0, maximum=40, stage_slope=0.7, missing_rate=0.2),
        v("tumour_grade", "categorical", "histological grade", levels=("1", "2", "3"), level_shares=(0.2, 0.45, 0.35),
          subtype_shift=(("triple-negative", 1.0), ("HER2+", 0.5), ("high-grade-serous", 1.2)),
          frailty_loading=0.2, missing_rate=0.1),
        v("ki67_pct", "numeric", "Ki-67 proliferation index (% of tumour cells)", cancers=("breast",), location=20.0,
          spread=12.0, decimals=0, minimum=1, maximum=95, subtype_shift=(("triple-negative", 1.2), ("HER2+", 0.6)),
          frailty_loading=0.3, missing_rate=0.15),
        v("menopausal_status", "categorical", "menopausal status at diagnosis", cancers=("breast",),
          levels=("pre", "post"), level_shares=(0.3, 0.7), age_slope=2.5),
        v("brca_mutation", "boolean", "germline BRCA1/2 pathogenic variant (tested patients)",
          cancers=("breast", "ovarian"), prevalence=0.06,
          subtype_shift=(("triple-negative", 1.0), ("high-grade-serous", 0.8)), frailty_loading=-0.2,
          missing_rate=0.5),
        v("egfr_mutation", "boolean", "EGFR activating mutation", cancers=("lung",), prevalence=0.12,
          subtype_shift=(("adenocarcinoma", 0.8), ("squamous", -1.5), ("small-cell", -2.0)), male_shift=-0.3,
          frailty_loading=-0.3, missing_rate=0.35),
        v("alk_rearrangement", "boolean", "ALK rearrangement", cancers=("lung",), prevalence=0.03,
          subtype_shift=(("adenocarcinoma", 0.5),), missing_rate=0.45),
        v("pdl1_tps", "categorical", "PD-L1 tumour proportion score", cancers=("lung",),
          levels=("0-1%", "1-49%", "50-100%"), level_shares=(0.35, 0.35, 0.30), recorded_from_year=2016,
          missing_rate=0.3, frailty_loading=0.1),
        v("ca125_u_ml", "numeric", "CA-125 at diagnosis (U/mL)", cancers=("ovarian",), location=math.log(300),
          spread=1.2, log_normal=True, decimals=0, stage_slope=0.6, frailty_loading=0.4, factor=burden,
          factor_loading=0.4, missing_rate=0.1),
        v("cea_ng_ml", "numeric", "carcinoembryonic antigen (ng/mL)", cancers=("breast", "lung"),
          location=math.log(3), spread=1.0, log_normal=True, stage_slope=0.5, frailty_loading=0.35, factor=burden,
          factor_loading=0.5, missing_rate=0.4),
        v("her2_ihc_score", "categorical", "HER2 immunohistochemistry score", cancers=("breast",),
          levels=("0", "1+", "2+", "3+"), level_shares=(0.35, 0.3, 0.2, 0.15),
          subtype_shift=(("HER2+", 2.5), ("triple-negative", -1.5)), missing_rate=0.05),
        v("residual_disease", "boolean", "macroscopic residual disease after surgery (R1/R2)", cancers=("ovarian",),
          prevalence=0.2, stage_slope=0.6, frailty_loading=0.4, missing_rate=0.3),
        v("brain_metastases", "boolean", "brain metastases at diagnosis", cancers=("breast", "lung"),
          prevalence=0.03, stage_slope=0.6, cancer_shift=(-0.3, 0.5, 0.0), frailty_loading=0.35),
        v("lines_of_treatment", "numeric", "lines of systemic treatment received in the first two years",
          location=1.0, spread=1.0, decimals=0, minimum=0, maximum=8, stage_slope=0.6, frailty_loading=0.15),
        v("depression", "boolean", "depressive disorder treated in the year of diagnosis", prevalence=0.1,
          frailty_loading=0.1, factor=geriatric, factor_loading=0.3),
    )


NAMED_VARIABLES: tuple[ClinicalVariable, ...] = _named()


def _generated(position: int, rng: np.random.Generator) -> ClinicalVariable:
    """Variable number ``position`` (1-based) of the generated families, from its own draws of ``rng``."""
    family = rng.choice(3, p=(0.45, 0.35, 0.20))
    cancer_shift = tuple(float(x) for x in np.round(rng.normal(0, 0.3, 3), 3))
    subtypes = [s for c in ref.CANCERS for s in ref.CANCER_SUBTYPES[c]]
    shifted = rng.choice(len(subtypes), size=rng.integers(0, 3), replace=False)
    subtype_shift = tuple((subtypes[i], float(round(rng.normal(0, 0.5), 3))) for i in sorted(shifted))
    prognostic = rng.random() < 0.25
    frailty = float(round(rng.uniform(0.15, 0.5) * rng.choice((-1, 1)), 3)) if prognostic else 0.0
    factor = int(rng.integers(len(FACTORS)))
    factor_loading = float(round(rng.uniform(0.1, 0.6) * rng.choice((-1, 1)), 3))
    sparse = rng.random() < 0.35
    missing = float(round(rng.uniform(0.5, 0.95), 3)) if sparse else float(round(rng.uniform(0, 0.1), 3))
    cancers = (ref.CANCERS[int(rng.integers(3))],) if rng.random() < 0.1 else ()
    common = dict(cancer_shift=cancer_shift, subtype_shift=subtype_shift,
                  stage_slope=float(round(rng.normal(0, 0.15), 3)), age_slope=float(round(rng.normal(0, 0.15), 3)), frailty_loading=frailty, factor=factor,
                  factor_loading=factor_loading, missing_rate=missing, cancers=cancers)
    if family == 0:
        return ClinicalVariable(f"lab_{position:03d}", "numeric", f"laboratory value {position} (generated; "
                                f"{FACTORS[factor]} family)", location=float(round(rng.uniform(0, 5), 3)),
                                spread=float(round(rng.uniform(0.2, 0.8), 3)), log_normal=True, decimals=2, **common)
    if family == 1:
        return ClinicalVariable(f"comorbidity_{position:03d}", "boolean", f"comorbidity or symptom {position} "
                                f"(generated; {FACTORS[factor]} family)",
                                prevalence=float(round(rng.uniform(0.02, 0.3), 3)), **common)
    k = int(rng.integers(3, 6))
    shares = rng.dirichlet(np.full(k, 3.0))
    shares = np.round(shares / shares.sum(), 4)
    shares[-1] = round(1 - shares[:-1].sum(), 4)
    return ClinicalVariable(f"marker_{position:03d}", "categorical", f"categorical marker {position} (generated; "
                            f"{k} ordered levels)", levels=tuple(f"level_{i + 1}" for i in range(k)),
                            level_shares=tuple(float(x) for x in shares), **common)


def clinical_variable_catalogue(count: int) -> tuple[ClinicalVariable, ...]:
    """The first ``count`` variables: the named ones, then the generated families. Variable k is the same for
    every ``count`` >= k (each generated variable draws from its own child of :data:`CATALOGUE_SEED`)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidParameter(f"the number of clinical variables must be a whole number, 0 or more (got {count!r})")
    named = NAMED_VARIABLES[:count]
    generated = [_generated(position, np.random.default_rng([CATALOGUE_SEED, position]))
                 for position in range(len(named) + 1, count + 1)]
    return (*named, *generated)


def describe_catalogue(variables: tuple[ClinicalVariable, ...]) -> list[dict]:
    """The variables as JSON-ready rows (name, kind, meaning, where recorded, sparsity, link to survival)."""
    return [{"name": v.name, "kind": v.kind, "meaning": v.meaning, "cancers": list(v.cancers) or list(ref.CANCERS),
             "missing_rate": v.missing_rate, "recorded_from_year": v.recorded_from_year or None,
             "frailty_loading": v.frailty_loading, "factor": FACTORS[v.factor] if v.factor >= 0 else None}
            for v in variables]


# --- drawing -------------------------------------------------------------------------------------

def frailty_scores(rng: np.random.Generator, *, cancer, stage, subtype, sex, age, treatments, diagnosis, death,
                   end_day: int, effects) -> np.ndarray:
    """Per person, the standard-normal frailty shared with survival: high for those who die sooner than their
    hazard predicts.

    The simulator's survival time is ``exposure / hazard`` years, ``exposure`` a standard exponential draw
    (:func:`linkage.datasets.clinical.draw_clinical_world`). It is recovered from what the world kept: for a
    death on day ``t`` after diagnosis, ``exposure = hazard * (t - U) / 365.25`` (U uniform: death days are
    rounded up); for a person alive at the end of follow-up ``c`` days after diagnosis, ``hazard * c / 365.25``
    plus a fresh standard exponential (the draw's memoryless tail). Its normal score is the frailty, with the
    sign that makes high frailty mean short survival."""
    from scipy.special import ndtri

    n = len(cancer)
    baseline = np.array([ref.CANCER_HAZARD[c] for c in ref.CANCERS])[cancer, np.clip(stage - 1, 0, 3)] \
        if n else np.zeros(0)
    hazard = baseline * relative_hazard(cancer, stage, subtype, sex, age.astype(np.float64), treatments, effects)
    dead = death >= 0
    days = np.where(dead, death - diagnosis - rng.random(n), end_day - diagnosis).astype(np.float64)
    exposure = np.maximum(hazard, 1e-12) * np.maximum(days, 0.0) / DAYS_PER_YEAR
    exposure = np.where(dead, exposure, exposure + rng.standard_exponential(n))
    return ndtri(np.clip(np.exp(-exposure), 1e-300, 1 - 1e-16))  # = -Phi^-1(1 - exp(-exposure))


def _latent_mean(v: ClinicalVariable, cancer, stage, subtype, male, age) -> np.ndarray:
    mean = np.asarray(v.cancer_shift)[cancer] + v.stage_slope * (stage - 1.0) + \
        v.age_slope * (age - REFERENCE_AGE) / 10.0 + v.male_shift * male
    for label, shift in v.subtype_shift:
        mean = mean + shift * (subtype == label)
    return mean


def _values(v: ClinicalVariable, u: np.ndarray, missing: np.ndarray) -> pa.Array:
    """The latent scores as the variable's values (nulls where ``missing``)."""
    from scipy.special import ndtri

    if v.kind == "boolean":
        return pa.array(u > ndtri(1 - v.prevalence), type=pa.bool_(), mask=missing)
    if v.kind == "categorical":
        cuts = ndtri(np.clip(np.cumsum(v.level_shares)[:-1], 1e-12, 1 - 1e-12))
        codes = pa.array(np.searchsorted(cuts, u).astype(np.int32), mask=missing)
        return pa.DictionaryArray.from_arrays(codes, pa.array(v.levels, pa.string())).cast(pa.string())
    x = v.location + v.spread * u
    x = np.round(np.clip(np.exp(x) if v.log_normal else x, v.minimum, v.maximum), v.decimals)
    return pa.array(x + 0.0, type=pa.float64(), mask=missing)  # + 0.0: no -0.0


def draw_clinical_variables(rng: np.random.Generator, variables: tuple[ClinicalVariable, ...], *, cancer, stage,
                            subtype, sex, age, diagnosis_year, frailty, outcome_link: float = 1.0) -> pa.Table:
    """One column per variable for the given people (arrays aligned, ``cancer`` an index into
    ``reference.CANCERS``, ``sex`` 1 = male): see the module docstring. ``outcome_link`` scales every
    frailty loading (0: no variable is prognostic beyond the covariates)."""
    n = len(cancer)
    factors = rng.standard_normal((n, len(FACTORS)))
    male = (sex == 1).astype(np.float64)
    columns, fields = [], []
    for v in variables:
        frailty_loading = v.frailty_loading * outcome_link
        own = math.sqrt(max(1.0 - frailty_loading ** 2 - v.factor_loading ** 2, 0.0))
        u = _latent_mean(v, cancer, stage, subtype, male, age) + frailty_loading * frailty + own * \
            rng.standard_normal(n)
        if v.factor >= 0:
            u += v.factor_loading * factors[:, v.factor]
        missing = rng.random(n) < v.missing_rate
        if v.cancers:
            missing |= ~np.isin(cancer, [ref.CANCERS.index(c) for c in v.cancers])
        if v.recorded_from_year:
            missing |= diagnosis_year < v.recorded_from_year
        columns.append(_values(v, u, missing))
        fields.append(pa.field(v.name, columns[-1].type, metadata={"kind": v.kind, "meaning": v.meaning}))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def cohort_variables_table(world, ids: pa.Array, number: np.ndarray, params, seed: int) -> pa.Table:
    """``cohort_variables``: ``cohort_id`` and the ``params.clinical_variables.count`` variables of each cohort
    patient (rows ``world.cohort_people``, whose ids are ``ids`` and id numbers ``number``), sorted by id as
    ``cohort_patients`` is. Drawn from child :data:`STREAM_KEY` of ``seed``'s SeedSequence."""
    from linkage.datasets.persons import day_number

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM_KEY,)))
    settings = params.clinical_variables
    variables = clinical_variable_catalogue(settings.count)
    w = world
    frailty = frailty_scores(rng, cancer=w.cancer, stage=w.stage, subtype=w.subtype, sex=w.sex, age=w.age,
                             treatments={t: w.treatments[t] for t in TREATMENTS}, diagnosis=w.diagnosis,
                             death=w.death, end_day=day_number(f"{params.last_diagnosis_year}-12-31"),
                             effects=params.clinical)
    person = w.cohort_people
    years = (w.diagnosis[person].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970)
    table = draw_clinical_variables(rng, variables, cancer=w.cancer[person], stage=w.stage[person].astype(np.float64),
                                    subtype=w.subtype[person], sex=w.sex[person],
                                    age=w.age[person].astype(np.float64), diagnosis_year=years,
                                    frailty=frailty[person], outcome_link=settings.outcome_link)
    table = table.add_column(0, pa.field("cohort_id", pa.string()), ids)
    return table.take(pa.array(np.argsort(number)))
