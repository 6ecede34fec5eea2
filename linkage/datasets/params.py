"""Every knob of the simulated population, each documented, with realistic defaults.

Parameters are plain frozen dataclasses. From the command line, any of them can be set
with ``--param NAME=VALUE`` (``cohort.name_typo=0.1`` for a per-side corruption rate,
``clinical.hr_surgery=0.5`` for an effect of the clinical world);
``harmonie simulate --list-params`` prints them all with their documentation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from harmonie.errors import InvalidParameter


def _p(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


def _rate(default: float, doc: str) -> Any:
    """A probability: validated to lie in [0, 1]."""
    return field(default=default, metadata={"doc": doc, "rate": True})


@dataclass(frozen=True)
class SideCorruption:
    """Rates at which one holder's records differ from the person (each in [0, 1])."""

    name_typo: float = _rate(0.04, "share of surnames with one typo (keyboard, phonetic, OCR, deletion, insertion, transposition)")
    first_name_typo: float = _rate(0.03, "share of first names with one typo")
    drop_accents: float = _rate(0.30, "share of records whose names lost their accents (on top of the holder's own style)")
    drop_hyphens: float = _rate(0.15, "share of hyphenated names written with a space instead ('JEAN PIERRE')")
    first_names_swapped: float = _rate(0.03, "share of records with several first names where the first two are swapped")
    first_name_only: float = _rate(0.60, "share of records with several first names where only the first is recorded")
    birth_day_month_swap: float = _rate(0.01, "share of birth dates with day and month swapped (when the day is 12 or less)")
    birth_day_missing: float = _rate(0.01, "share of birth dates whose day is unknown (written 00)")
    birth_date_typo: float = _rate(0.01, "share of birth dates with a mistyped day or year")
    nir_missing: float = _rate(0.70, "share of records with no NIR")
    nir_typo: float = _rate(0.03, "share of present NIRs with one digit substituted or two swapped")
    commune_missing: float = _rate(0.03, "share of records with no residence commune")
    value_missing: float = _rate(0.01, "share of records missing the sex or the first names")
    stay_missing: float = _rate(0.05, "share of care events absent from this holder's records")
    stay_shifted: float = _rate(0.04, "share of care events recorded with the admission (and discharge) a day off")
    stay_shifted_far: float = _rate(0.0, "share of care events recorded 2 or more days off (up to stay_shift_max_days; "
                                         "admission and discharge move together)")
    death_missing: float = _rate(0.10, "share of deaths this holder does not know about")


COHORT_CORRUPTION = SideCorruption()
SNDS_CORRUPTION = SideCorruption(
    name_typo=0.01, first_name_typo=0.01, drop_accents=0.0, drop_hyphens=0.05,
    first_names_swapped=0.01, first_name_only=0.20, birth_day_month_swap=0.002,
    birth_day_missing=0.002, birth_date_typo=0.003, nir_missing=0.0, nir_typo=0.002,
    commune_missing=0.01, value_missing=0.002, stay_missing=0.02, stay_shifted=0.01,
    death_missing=0.01,
)


def _positive(default: float, doc: str) -> Any:
    """A ratio or a scale: validated to be > 0."""
    return field(default=default, metadata={"doc": doc, "positive": True})


@dataclass(frozen=True)
class ClinicalEffects:
    """The clinical world's planted effects: hazard ratios of death, confounding by indication
    in the choice of treatments, causes of death, and the knobs of the care pathways.

    Survival is exponential with hazard ``h = c[cancer, stage] * H[cancer, stage] *
    hr_age_per_year ** (age - 65) * r`` where ``H`` is ``reference.CANCER_HAZARD``, ``r`` the
    product of the subtype, treatment and sex hazard ratios below and ``c`` a constant per
    cell keeping its mean hazard that of the age factor alone: each ratio is the true
    conditional hazard ratio of a Cox model stratified by cancer and stage.
    """

    hr_breast_her2: float = _positive(1.3, "hazard ratio of death, breast HER2+ vs HR+/HER2-")
    hr_breast_triple_negative: float = _positive(1.8, "hazard ratio of death, breast triple-negative vs HR+/HER2-")
    hr_lung_squamous: float = _positive(1.15, "hazard ratio of death, lung squamous vs adenocarcinoma")
    hr_lung_small_cell: float = _positive(1.6, "hazard ratio of death, lung small-cell vs adenocarcinoma")
    hr_ovarian_clear_cell: float = _positive(1.5, "hazard ratio of death, ovarian clear-cell vs high-grade serous")
    hr_surgery: float = _positive(0.55, "hazard ratio of death of surgery")
    hr_chemotherapy: float = _positive(0.80, "hazard ratio of death of chemotherapy")
    hr_radiotherapy: float = _positive(0.90, "hazard ratio of death of radiotherapy")
    hr_hormone_therapy: float = _positive(0.65, "hazard ratio of death of hormone therapy")
    hr_targeted_therapy: float = _positive(0.60, "hazard ratio of death of a targeted therapy")
    hr_male: float = _positive(1.20, "hazard ratio of death, men vs women")
    hr_age_per_year: float = _positive(1.03, "hazard ratio of death per year of age at diagnosis")
    surgery_or_per_decade: float = _positive(0.65, "odds ratio of surgery per 10 years of age at diagnosis (older "
                                                   "patients are operated less: confounding by indication)")
    chemotherapy_or_per_decade: float = _positive(0.55, "odds ratio of chemotherapy per 10 years of age at diagnosis")
    radiotherapy_or_per_decade: float = _positive(0.85, "odds ratio of radiotherapy per 10 years of age at diagnosis")
    background_mortality_at_65: float = _rate(0.012, "yearly mortality from causes other than the cancer at 65 "
                                                     "(Gompertz); sets the share of deaths of another cause")
    background_mortality_growth: float = _positive(1.095, "growth of that mortality per year of age at death")
    max_other_cause_share: float = _rate(0.9, "largest share of a patient's death hazard from another cause")
    palliative_stay_rate: float = _rate(0.55, "share of deaths preceded by a palliative-care stay (Z51.5) ending "
                                              "at or shortly before death")
    end_of_life_morphine_rate: float = _rate(0.5, "share of deaths preceded by morphine dispensings")
    radiotherapy_in_pmsi: float = _rate(0.45, "share of radiotherapy courses given in hospitals that file "
                                              "sessions in PMSI (the others are billed outside PMSI)")
    hormone_quarterly_share: float = _rate(0.9, "share of hormone therapy patients dispensed 3 boxes every ~84 "
                                                 "days (the others 1 box every ~28 days)")
    hormone_stop_rate_per_year: float = _rate(0.15, "yearly rate of stopping hormone therapy before 5 years")


MAX_CLINICAL_VARIABLES = 5_000


@dataclass(frozen=True)
class ClinicalVariablesParams:
    """Extra clinical variables of the cohort's patients (a case-report form: biomarkers, comorbidities,
    performance status, lines of treatment...), written to ``cohort_variables.parquet``. Off by default
    (``count`` 0: no file, every other output unchanged). The variables and their generating model are in
    :mod:`linkage.datasets.clinical_variables`."""

    count: int = _p(0, "extra clinical variables per cohort patient, in cohort_variables.parquet (0: none, no "
                       "file); the first ~30 are named (ecog_performance_status, ldh_ui_l, egfr_mutation...), the "
                       "rest generated families (lab_, comorbidity_, marker_)")
    outcome_link: float = _rate(1.0, "scale of every variable's loading on the frailty shared with survival "
                                     "(0: no variable says more about survival than cancer, stage, subtype, "
                                     "age and sex do)")

    def __post_init__(self):
        if isinstance(self.count, bool) or not isinstance(self.count, int) or \
                not 0 <= self.count <= MAX_CLINICAL_VARIABLES:
            raise InvalidParameter(f"clinical_variables.count must be a whole number from 0 to "
                                   f"{MAX_CLINICAL_VARIABLES:,} (got {self.count!r})")


@dataclass(frozen=True)
class PopulationParams:
    """The simulated cohort <-> SNDS population."""

    n_cohort: int = _p(2_000, "cohort patients (rows of cohort_patients)")
    n_snds: int = _p(30_000, "SNDS beneficiary ids (rows of snds_beneficiaries), duplicates included")
    cohort_only_rate: float = _rate(0.03, "share of cohort patients absent from SNDS")
    snds_cancer_mix: tuple[float, float, float] = _p((0.52, 0.42, 0.06), "SNDS shares of breast, lung, ovarian cancer")
    cohort_cancer_mix: tuple[float, float, float] = _p((0.70, 0.22, 0.08), "cohort shares of breast, lung, ovarian cancer")
    first_diagnosis_year: int = _p(2008, "first year of diagnosis")
    last_diagnosis_year: int = _p(2025, "last year of diagnosis; follow-up ends on 31 December of that year")
    stays_per_beneficiary: float = _p(10.0, "mean hospital stays per person: the care pathways' own (~8.4 by "
                                            "default: work-up, surgery, sessions, palliative care) and other medical "
                                            "stays making up the rest (none when the pathways alone reach it)")
    dispensings_per_beneficiary: float = _p(9.0, "mean drug dispensings per SNDS beneficiary: the care pathways' own "
                                                 "(~8.3 by default: up to 5 years of hormone therapy for a third of them) and "
                                                 "other drugs of follow-up making up the rest (none when the pathways "
                                                 "alone reach it)")
    cohort_stays_at_centre: float = _rate(0.70, "share of a cohort patient's stays that take place in their cancer centre")
    non_cohort_treated_at_centre: float = _rate(0.08, "share of non-cohort SNDS patients also treated in a cancer centre")
    married_name_rate: float = _rate(0.60, "share of adult women using a spouse's surname")
    cohort_birth_name_recorded: float = _rate(0.60, "share of cohort records holding the birth name (the use name is always there)")
    cohort_birth_name_holds_use_name: float = _rate(0.10, "share of married women whose cohort birth-name field holds the married name")
    snds_use_name_recorded: float = _rate(0.90, "share of married women whose SNDS record holds the use name")
    use_name_changed: float = _rate(0.03, "share of married women whose use name differs between holders (divorce, remarriage)")
    name_annotation_rate: float = _rate(0.03, "share of married women's cohort use names written with 'épouse'/'née'")
    double_surname_rate: float = _rate(0.03, "share of people with a double-barrelled birth name ('DUPONT-MOREAU')")
    account_holder_rate: float = _rate(0.05, "share of SNDS beneficiaries filed under an account holder's NIR (spouse, parent)")
    twin_rate: float = _rate(0.002, "share of SNDS beneficiaries with a same-sex twin under the same account holder")
    snds_duplicate_rate: float = _rate(0.005, "share of SNDS ids that are a second id of an already present person")
    born_abroad_rate: float = _rate(0.08, "share of people born abroad (NIR place 99 + country code)")
    move_rate_per_year: float = _rate(0.03, "yearly probability of moving house after diagnosis")
    move_far_rate: float = _rate(0.4, "share of movers who land anywhere in France (a département drawn by population) "
                                      "rather than within their own département")
    name_concentration: float = _rate(0.0, "how concentrated surnames and given names are: 0 = French register "
                                           "frequencies (commonest surname ~0.3%), 1 = harshest (commonest surname "
                                           "~20%, ten commonest ~50%; commonest given name ~35%)")
    sister_site_rate: float = _rate(0.0, "share of a cancer centre's stays that take place at another site (FINESS "
                                         "géographique) of its legal entity (FINESS juridique): PMSI files them "
                                         "under that site, the cohort under the centre's FINESS")
    stay_shift_max_days: int = _p(7, "largest shift, in days, of a stay recorded far off (cohort/snds.stay_shifted_far)")
    centres_without_death_dates: float = _rate(0.0, "share of cancer centres whose records hold no death date at all "
                                                    "(1: a cohort without death dates)")
    borrowed_nir_rate: float = _rate(0.0, "share of cohort-only patients treated under a household member's carte "
                                          "Vitale: their record carries the NIR of a real SNDS beneficiary of another "
                                          "birth date or sex, in the same commune, whose surname they use")
    cohort_nir_spaced: float = _rate(0.25, "share of present cohort NIRs written with spaces ('2 56 03 75 114 005 42')")
    clinical: ClinicalEffects = _p(ClinicalEffects(), "the clinical world: hazard ratios, treatment choice, "
                                                      "causes of death, care pathways")
    clinical_variables: ClinicalVariablesParams = _p(ClinicalVariablesParams(), "extra clinical variables of "
                                                     "the cohort's patients (off by default)")
    cohort: SideCorruption = _p(COHORT_CORRUPTION, "corruption of the cohort holder's records")
    snds: SideCorruption = _p(SNDS_CORRUPTION, "corruption of the SNDS holder's records")

    def validate(self) -> "PopulationParams":
        if self.n_cohort < 0 or self.n_snds < 0:
            raise InvalidParameter("population sizes must be zero or more")
        if self.first_diagnosis_year > self.last_diagnosis_year:
            raise InvalidParameter("first_diagnosis_year is after last_diagnosis_year")
        if not 1990 <= self.first_diagnosis_year <= 2100 or not 1990 <= self.last_diagnosis_year <= 2100:
            raise InvalidParameter("diagnosis years must lie between 1990 and 2100")
        for name, value in _rates(self):
            if not 0.0 <= value <= 1.0:
                raise InvalidParameter(f"{name} must be between 0 and 1 (got {value})")
        for name, value in _rates(self, kind="positive"):
            if not 0.0 < value < 1e6:
                raise InvalidParameter(f"{name} must be a positive number (got {value})")
        for name in ("snds_cancer_mix", "cohort_cancer_mix"):
            mix = getattr(self, name)
            if len(mix) != 3 or min(mix) < 0 or abs(sum(mix) - 1) > 1e-6:
                raise InvalidParameter(f"{name} must be three non-negative shares summing to 1")
        for name in ("stays_per_beneficiary", "dispensings_per_beneficiary"):
            if not 0 <= getattr(self, name) <= 1000:
                raise InvalidParameter(f"{name} must be between 0 and 1000")
        if not 2 <= self.stay_shift_max_days <= 365:
            raise InvalidParameter("stay_shift_max_days must be between 2 and 365")
        return self


# Presets: named starting points for the knobs, before any --param override. "harsh" is
# what an independent population written outside this project exercised (issue #17):
# ~17% of cohort patients live in another commune than the one SNDS holds, movers land
# anywhere in France, the commonest surname is carried by ~20%, a cohort whose centres do
# not record deaths, stays filed under a sister site or recorded days off, and cohort-only
# patients filed under a real beneficiary's NIR.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "harsh": {
        "move_rate_per_year": 0.033,   # with far moves: ~17% of cohort patients' communes differ from SNDS's
        "move_far_rate": 1.0,          # every mover lands anywhere in France
        "name_concentration": 1.0,     # commonest surname ~20%, ten commonest ~50%
        "sister_site_rate": 0.3,       # 30% of centre stays at another site of the centre's legal entity
        "cohort.stay_shifted_far": 0.2,  # 20% of the cohort's stays recorded 2-7 days off
        "centres_without_death_dates": 1.0,  # no centre records death dates
        "borrowed_nir_rate": 0.25,     # a quarter of cohort-only patients carry a household member's NIR
    },
}


def preset_params(name: str, base: "PopulationParams | None" = None) -> PopulationParams:
    """The parameters of a preset (see :data:`PRESETS`), applied on ``base`` (defaults otherwise)."""
    if name not in PRESETS:
        raise InvalidParameter(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return with_overrides(base or PopulationParams(), [f"{k}={v}" for k, v in PRESETS[name].items()])


def preset_name(params: PopulationParams) -> str:
    """Which preset ``params`` carry, judged on the knobs the presets set: a preset's name or 'custom'."""
    knobs = sorted({k for values in PRESETS.values() for k in values})
    actual = {k: _get(params, k) for k in knobs}
    for name in PRESETS:
        if actual == {k: _get(preset_params(name), k) for k in knobs}:
            return name
    return "custom"


def _get(params: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        params = getattr(params, part)
    return params


def _rates(params: Any, prefix: str = "", kind: str = "rate") -> list[tuple[str, float]]:
    """(dotted name, value) of every parameter marked ``kind`` ("rate" or "positive"), nested groups included."""
    out = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if dataclasses.is_dataclass(value):
            out.extend(_rates(value, f"{prefix}{f.name}.", kind))
        elif f.metadata.get(kind):
            out.append((prefix + f.name, value))
    return out


def describe(params: Any = None, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(name, default, documentation) for every parameter, nested ones dotted."""
    params = params if params is not None else PopulationParams()
    rows = []
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if dataclasses.is_dataclass(value):
            rows.extend(describe(value, f"{prefix}{f.name}."))
        else:
            rows.append((prefix + f.name, value, f.metadata.get("doc", "")))
    return rows


def _coerce(raw: str, like: Any, name: str) -> Any:
    try:
        if isinstance(like, bool):
            return raw.lower() in ("1", "true", "yes")
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
        if isinstance(like, tuple):
            return tuple(float(x) for x in raw.split(","))
    except ValueError:
        raise InvalidParameter(f"parameter {name} expects a {type(like).__name__}, got {raw!r}") from None
    return raw


def with_overrides(params: PopulationParams, assignments: list[str]) -> PopulationParams:
    """Apply ``NAME=VALUE`` strings (dotted names for per-side rates) to ``params``."""
    for assignment in assignments:
        name, sep, raw = assignment.partition("=")
        name = name.strip()
        if not sep:
            raise InvalidParameter(f"--param expects NAME=VALUE, got {assignment!r}")
        head, _, tail = name.partition(".")
        known = {f.name for f in dataclasses.fields(params)}
        if head not in known:
            raise InvalidParameter(f"unknown parameter {name!r} (see harmonie simulate --list-params)")
        current = getattr(params, head)
        if tail:
            if not dataclasses.is_dataclass(current) or tail not in {f.name for f in dataclasses.fields(current)}:
                raise InvalidParameter(f"unknown parameter {name!r} (see harmonie simulate --list-params)")
            group = dataclasses.replace(current, **{tail: _coerce(raw, getattr(current, tail), name)})
            params = dataclasses.replace(params, **{head: group})
        else:
            if dataclasses.is_dataclass(current):
                example = dataclasses.fields(current)[0].name
                raise InvalidParameter(f"{name} is a group; set one of its parameters, e.g. {name}.{example}=...")
            params = dataclasses.replace(params, **{head: _coerce(raw, current, name)})
    return params
