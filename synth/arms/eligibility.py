"""The emulated trial's settings, read from TOML: who is eligible, when follow-up starts, what is balanced.

A control arm is only as credible as the trial it emulates (Hernán & Robins' *target trial*):
the same eligibility, the same time zero, the same covariates, the same outcome. The spec
is a TOML file with four sections, parsed once into frozen dataclasses (no dicts below the
parser); every key is checked with its type and range, an unknown key is an error (a typo
must never silently widen the eligible population), and every error is one line naming the
key and the fix. ``harmonie arm example-eligibility`` writes :data:`EXAMPLE_ELIGIBILITY`.

- ``[eligibility]``: cancer, subtypes, stages, age range (at diagnosis), sex, diagnosis years;
  treatments required / excluded as the cohort records them (the five flags of
  :data:`synth.schema.TREATMENTS`, decided at diagnosis); *lines of treatment* as kinds of care
  read from the claims (:data:`synth.care_rules.KINDS`): a required kind must show on or before
  the index date, an excluded kind must not show in the ``washout_days`` before it (a
  new-user design);
- ``[index]``: time zero, the diagnosis date or the first claim of some kinds of care
  (e.g. the first chemotherapy session) within ``within_days`` of diagnosis;
- ``[analysis]``: the covariates balanced (:data:`COVARIATES`), the method (propensity-score
  matching, weighting, or none), the outcome model and the RMST horizon;
- ``[disclosure]``: the small-cell threshold of everything written (SNDS rule: 11).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.io import read_settings_text
from linkage.datasets.reference import CANCER_SUBTYPES
from privacy.disclosure import SNDS_MIN_CELL
from synth.care_rules import KINDS
from synth.schema import TREATMENTS

INDEX_RULES = ("diagnosis", "first_care")
METHODS = ("weight", "match", "none")
WEIGHTINGS = ("att", "overlap")
SEXES = ("F", "M")
COVARIATES: dict[str, str] = {
    "age_at_diagnosis": "numeric", "days_to_index": "numeric", "diagnosis_year": "numeric",
    "sex": "categorical", "stage": "categorical", "subtype": "categorical",
    **{flag: "binary" for flag in TREATMENTS},
}
"""What may be balanced, and how each enters the models: numbers as they are, categories as one indicator per
level (the commonest the reference). Only what is known at the index date: never the claims counts of the
follow-up (``n_stays``...), which the outcome itself shapes."""
TREATMENT_CARE = ("surgery", "chemotherapy_session", "radiotherapy_session", "hormone_therapy", "targeted_oral",
                  "oral_chemotherapy")
"""Kinds of care that are a line of treatment (the default index care of ``first_care``)."""
MAX_SPEC_BYTES = 1 << 20


@dataclass(frozen=True)
class IndexRule:
    """Time zero: ``diagnosis``, or ``first_care``: the first claim of one of ``care`` within ``within_days`` of
    diagnosis (a patient without one is not eligible)."""

    date: str = "diagnosis"
    care: tuple[str, ...] = TREATMENT_CARE
    within_days: int = 365

    @property
    def reads_claims(self) -> bool:
        return self.date == "first_care"


@dataclass(frozen=True)
class Eligibility:
    """Who may enter the trial (and so the control arm)."""

    cancer: str
    subtypes: tuple[str, ...] = ()          # empty: any
    stages: tuple[int, ...] = (1, 2, 3, 4)
    age_min: int = 18
    age_max: int = 120
    sexes: tuple[str, ...] = ()             # empty: both
    diagnosis_years: tuple[int, int] | None = None
    treatments_required: tuple[str, ...] = ()
    treatments_excluded: tuple[str, ...] = ()
    care_required: tuple[str, ...] = ()
    care_excluded: tuple[str, ...] = ()
    washout_days: int = 365

    @property
    def reads_claims(self) -> bool:
        return bool(self.care_required or self.care_excluded)


@dataclass(frozen=True)
class Analysis:
    """How the arms are balanced and compared."""

    covariates: tuple[str, ...] = ("age_at_diagnosis", "sex", "stage", "subtype")
    method: str = "weight"        # weight: inverse-probability weights; match: 1:k nearest neighbours; none
    weights: str = "att"          # att: trial 1, control e/(1-e); overlap: trial 1-e, control e
    neighbours: int = 2           # k controls per trial patient (match)
    caliper_sd: float = 0.2       # largest distance on the logit of the score, in its standard deviations (match)
    adjust: bool = True           # the Cox model also adjusts for the covariates (stratified by stage)
    horizon_days: int = 730       # RMST horizon
    bootstrap: int = 200          # bootstrap replicates of the RMST difference's interval (0: none)
    target_smd: float = 0.1       # |SMD| at or below which a covariate is called balanced


@dataclass(frozen=True)
class ArmSpec:
    """A whole emulated-trial spec (one TOML file)."""

    eligibility: Eligibility
    index: IndexRule = field(default_factory=IndexRule)
    analysis: Analysis = field(default_factory=Analysis)
    name: str = "external control arm"
    min_cell: int = SNDS_MIN_CELL

    @property
    def reads_claims(self) -> bool:
        return self.eligibility.reads_claims or self.index.reads_claims


EXAMPLE_ELIGIBILITY = """\
# Harmonie emulated target trial: who is eligible, when follow-up starts, what is balanced.
# `harmonie arm build --eligibility THIS_FILE ...`; every key is optional but eligibility.cancer.
name = "first-line chemotherapy, advanced non-small-cell lung cancer"

[eligibility]
cancer = "lung"                                            # breast, lung or ovarian
subtypes = ["adenocarcinoma", "squamous", "other-nsclc"]   # empty or absent: any subtype
stages = [3, 4]
age = [18, 85]                                             # at diagnosis, inclusive
sex = []                                                   # ["F"], ["M"]; empty: both
diagnosis_years = [2008, 2025]                             # inclusive
treatments_required = ["chemotherapy"]                     # cohort flags: surgery, chemotherapy, radiotherapy,
treatments_excluded = ["targeted_therapy"]                 #   hormone_therapy, targeted_therapy
care_required = ["chemotherapy_session"]                   # kinds of care in the claims, on or before the index date
care_excluded = ["targeted_oral"]                          # none of these in the washout window before the index date
washout_days = 180

[index]
date = "first_care"                                        # "diagnosis" or "first_care"
care = ["chemotherapy_session"]                            # first_care: the first claim of one of these kinds
within_days = 180                                          # ... within this many days of diagnosis

[analysis]
covariates = ["age_at_diagnosis", "sex", "stage", "subtype", "surgery", "radiotherapy", "days_to_index"]
method = "weight"                                          # "weight", "match" or "none" (no balancing)
weights = "att"                                            # weight: "att" (trial population) or "overlap"
neighbours = 2                                             # match: controls per trial patient
caliper_sd = 0.2                                           # match: caliper on the logit of the score, in SDs
adjust = true                                              # Cox model also adjusted for the covariates
horizon_days = 730                                         # restricted mean survival time horizon
bootstrap = 200                                            # replicates of the RMST difference's interval
target_smd = 0.1                                           # |SMD| at or below which a covariate is balanced

[disclosure]
min_cell = 11                                              # no count of 1-10 patients in anything written
"""


# --- checking one value --------------------------------------------------------------------------

def _fail(where: str, message: str) -> HarmonieError:
    return HarmonieError(f"{where} {message}")


def _suggest(value: str, known) -> str:
    close = difflib.get_close_matches(value, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"


def _string(where: str, value, known=None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, 'must be a text value, e.g. "lung"')
    if known is not None and value not in known:
        raise _fail(where, f"is not a known value{_suggest(value, known)}")
    return value


def _strings(where: str, value, known) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(where, f'must be a list, e.g. ["{next(iter(known))}"]')
    out = tuple(_string(f"{where}[{i}]", v, known) for i, v in enumerate(value))
    if len(set(out)) != len(out):
        raise _fail(where, "lists a value twice; list each once")
    return out


def _integer(where: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be a whole number between {low:,} and {high:,}")
    if not low <= value <= high:
        raise _fail(where, f"must be between {low:,} and {high:,} (got {value:,})" if abs(value) < 1e15
                    else f"must be between {low:,} and {high:,}")
    return value


def _number(where: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"must be a number between {low:g} and {high:g}")
    if not low <= value <= high:
        raise _fail(where, f"must be between {low:g} and {high:g} (got {value:g})" if abs(value) < 1e15
                    else f"must be between {low:g} and {high:g}")
    return float(value)


def _boolean(where: str, value) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "must be true or false")
    return value


def _pair(where: str, value, low: int, high: int, example: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(where, f"must be a [first, last] pair, e.g. {example}")
    first, last = (_integer(f"{where}[{i}]", v, low, high) for i, v in enumerate(value))
    if first > last:
        raise _fail(where, f"runs backwards ({first} > {last}): write [first, last]")
    return first, last


# --- the sections --------------------------------------------------------------------------------

_SECTIONS = {
    "eligibility": ("cancer", "subtypes", "stages", "age", "sex", "diagnosis_years", "treatments_required",
                    "treatments_excluded", "care_required", "care_excluded", "washout_days"),
    "index": ("date", "care", "within_days"),
    "analysis": tuple(f.name for f in fields(Analysis)),
    "disclosure": ("min_cell",),
}


def _eligibility(source: str, given: dict) -> Eligibility:
    w = f"{source}: eligibility."
    if "cancer" not in given:
        raise HarmonieError(f"{source}: eligibility.cancer is missing; add e.g. cancer = \"lung\" under [eligibility]")
    cancer = _string(w + "cancer", given["cancer"], tuple(CANCER_SUBTYPES))
    values: dict = {"cancer": cancer}
    if "subtypes" in given:
        values["subtypes"] = _strings(w + "subtypes", given["subtypes"], tuple(CANCER_SUBTYPES[cancer]))
    if "stages" in given:
        stages = given["stages"]
        if not isinstance(stages, list) or not stages:
            raise _fail(w + "stages", "must be a non-empty list of stages 1-4, e.g. stages = [3, 4]")
        values["stages"] = tuple(sorted({_integer(f"{w}stages[{i}]", s, 1, 4) for i, s in enumerate(stages)}))
    if "age" in given:
        values["age_min"], values["age_max"] = _pair(w + "age", given["age"], 0, 120, "age = [18, 75]")
    if "sex" in given:
        values["sexes"] = _strings(w + "sex", given["sex"], SEXES)
    if "diagnosis_years" in given:
        values["diagnosis_years"] = _pair(w + "diagnosis_years", given["diagnosis_years"], 1900, 2100,
                                          "diagnosis_years = [2010, 2025]")
    for key in ("treatments_required", "treatments_excluded"):
        if key in given:
            values[key] = _strings(w + key, given[key], TREATMENTS)
    for key in ("care_required", "care_excluded"):
        if key in given:
            values[key] = _strings(w + key, given[key], tuple(KINDS))
    if "washout_days" in given:
        values["washout_days"] = _integer(w + "washout_days", given["washout_days"], 0, 36_500)
    both = set(values.get("treatments_required", ())) & set(values.get("treatments_excluded", ()))
    if both:
        raise HarmonieError(f"{source}: eligibility.treatments_required and treatments_excluded both list "
                            f"{sorted(both)[0]!r}: no patient can be eligible; keep it in one of them")
    both = set(values.get("care_required", ())) & set(values.get("care_excluded", ()))
    if both:
        raise HarmonieError(f"{source}: eligibility.care_required and care_excluded both list {sorted(both)[0]!r}: "
                            "no patient can be eligible; keep it in one of them")
    return Eligibility(**values)


def _index(source: str, given: dict, eligibility: Eligibility) -> IndexRule:
    w = f"{source}: index."
    values: dict = {}
    if "date" in given:
        values["date"] = _string(w + "date", given["date"], INDEX_RULES)
    if "care" in given:
        care = _strings(w + "care", given["care"], tuple(KINDS))
        if not care:
            raise _fail(w + "care", 'must name at least one kind of care, e.g. care = ["chemotherapy_session"]')
        values["care"] = care
    if "within_days" in given:
        values["within_days"] = _integer(w + "within_days", given["within_days"], 0, 36_500)
    rule = IndexRule(**values)
    excluded = set(rule.care) & set(eligibility.care_excluded) if rule.reads_claims else set()
    if excluded:
        raise HarmonieError(f"{source}: index.care lists {sorted(excluded)[0]!r}, which eligibility.care_excluded "
                            "forbids before the index date; remove it from one of them")
    return rule


def _analysis(source: str, given: dict) -> Analysis:
    w = f"{source}: analysis."
    values: dict = {}
    if "covariates" in given:
        covariates = _strings(w + "covariates", given["covariates"], tuple(COVARIATES))
        if not covariates:
            raise _fail(w + "covariates", 'must name at least one covariate, e.g. covariates = ["age_at_diagnosis"]')
        values["covariates"] = covariates
    if "method" in given:
        values["method"] = _string(w + "method", given["method"], METHODS)
    if "weights" in given:
        values["weights"] = _string(w + "weights", given["weights"], WEIGHTINGS)
    if "neighbours" in given:
        values["neighbours"] = _integer(w + "neighbours", given["neighbours"], 1, 10)
    if "caliper_sd" in given:
        values["caliper_sd"] = _number(w + "caliper_sd", given["caliper_sd"], 0.01, 10.0)
    if "adjust" in given:
        values["adjust"] = _boolean(w + "adjust", given["adjust"])
    if "horizon_days" in given:
        values["horizon_days"] = _integer(w + "horizon_days", given["horizon_days"], 30, 36_500)
    if "bootstrap" in given:
        values["bootstrap"] = _integer(w + "bootstrap", given["bootstrap"], 0, 10_000)
        if 0 < values["bootstrap"] < 20:
            raise _fail(w + "bootstrap", "must be 0 (no interval) or at least 20 replicates")
    if "target_smd" in given:
        values["target_smd"] = _number(w + "target_smd", given["target_smd"], 0.01, 1.0)
    return Analysis(**values)


def parse_arm_spec(text: str, source: str = "eligibility spec") -> ArmSpec:
    """The spec in ``text`` (TOML), checked; errors are one line naming ``source`` and the key."""
    if len(text) > MAX_SPEC_BYTES:
        raise HarmonieError(f"{source} is over {MAX_SPEC_BYTES >> 20} MiB: an eligibility spec is a few lines")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HarmonieError(f"{source} is not valid TOML: {exc}; compare with `harmonie arm example-eligibility`") \
            from None
    except RecursionError:
        raise HarmonieError(f"{source} nests arrays or tables too deeply: a spec is sections of keys") from None
    for key, value in document.items():
        if key == "name":
            continue
        if key not in _SECTIONS:
            raise HarmonieError(f"{source}: unknown {'section [' + key + ']' if isinstance(value, dict) else 'key ' + key}"
                                f"{_suggest(key, ('name', *_SECTIONS))}")
        if not isinstance(value, dict):
            raise HarmonieError(f"{source}: {key} must be a section [{key}], not a value")
        for inner in value:
            if inner not in _SECTIONS[key]:
                raise HarmonieError(f"{source}: unknown key {key}.{inner}{_suggest(inner, _SECTIONS[key])}")
    if "eligibility" not in document:
        raise HarmonieError(f"{source} has no [eligibility] section; start from `harmonie arm example-eligibility`")
    eligibility = _eligibility(source, document["eligibility"])
    index = _index(source, document.get("index", {}), eligibility)
    analysis = _analysis(source, document.get("analysis", {}))
    name = _string(f"{source}: name", document["name"]) if "name" in document else ArmSpec.name
    min_cell = _integer(f"{source}: disclosure.min_cell", document.get("disclosure", {}).get("min_cell", SNDS_MIN_CELL),
                        1, 10_000)
    return ArmSpec(eligibility=eligibility, index=index, analysis=analysis, name=name, min_cell=min_cell)


def read_arm_spec(path: str | Path) -> ArmSpec:
    """The spec of a TOML file (see :func:`parse_arm_spec`)."""
    text = read_settings_text(path, "eligibility file", limit=MAX_SPEC_BYTES,
                              if_missing=" (write one with `harmonie arm example-eligibility`)")
    return parse_arm_spec(text, str(path))


def example_eligibility_text() -> str:
    """The example spec, as ``harmonie arm example-eligibility`` writes it."""
    return EXAMPLE_ELIGIBILITY
