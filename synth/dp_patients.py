"""A differentially private patient table: smartnoise-synth's MST or AIM on a public discretisation.

``harmonie synth fit --generator mst --epsilon 3`` replaces the default patient generator
(per-stratum copulas + a Cox model, :mod:`synth.generators`, :mod:`synth.outcomes`) by one
(ε, δ)-differentially private model of the whole patient row: sex, age, département,
cancer, subtype, stage, diagnosis date, the five treatment flags, death, cause of death and
follow-up. MST (McKenna et al. 2021, winner of the NIST 2018 challenge) measures every
column's margin and a maximum spanning tree of pairs with Gaussian noise; AIM (McKenna et
al. 2022) picks, round after round, the pair of columns its model fits worst and measures it.
Both fit a graphical model (private-pgm) to the noisy counts and sample from it.

**What ε and δ mean here.** Neighbouring datasets differ by one patient's row, added or
removed (the number of training patients is treated as public: MST uses it as the known
total, and the model manifest records it). For any set of possible outputs of the patient
model, its probability with or without any one patient differs by a factor of at most e^ε,
except with probability δ: at ε = 1 a factor of 2.7, at ε = 3 of 20, at ε = 10 of 22,000
(a weak guarantee). The budget is converted to zero-concentrated DP by smartnoise
(``cdp_rho``) and spent on the noisy counts; the noise comes from OpenDP's samplers.

**What it covers, and what it does not.** Covered: every column of the patient table except
``n_stays``, ``n_dispensings`` and ``days_to_first_stay``. NOT covered: the claims (stays and
dispensings), which still come from the care-pathway model (:mod:`synth.pathways`) fitted on
the real claims without noise and conditioned on the DP patients, and the three columns
recomputed from them. A replica made with this generator is therefore not a DP release as a
whole: the guarantee is that of its patient table alone, and the release gate's risk measures
still apply to it (the model manifest, the replica's provenance and the utility report say so).

**The discretisation spends no budget: every bound and bin edge is public.** MST and AIM
count categories; bounds learnt from the data (the oldest patient, the last diagnosis date)
would leak, so nothing here is read from the training data:

- age at diagnosis: clipped to 18-105 years (adult oncology) in 5-year bins;
- diagnosis date: calendar years of the study window (``--study-start`` / ``--study-end``,
  from the protocol, default the simulated cohort's 2008-01-01 to 2025-12-31); follow-up is
  censored at the window's end (a death after it counts as alive at the end);
- follow-up days: 0 to the window's length, in months for a year, quarters to three years, then
  years;
- categories from public coding: sex F/M, the French départements (plus "missing"), the
  cancers and their subtypes (:data:`linkage.datasets.reference.CANCER_SUBTYPES`, the cohort's
  coding, also used by :mod:`synth.arms`) with stages 1-4, alive or dead of cancer / other /
  unknown cause, treatment flags.

A value outside these domains (a subtype the coding does not name, a diagnosis outside the
window) is a one-line error naming the column, never the value, and never silently learnt.
Cancer x subtype x stage is one code of the model, and so are death x follow-up
(:class:`PublicBins`): no subtype can land on another cancer. Rows are drawn in bins, each
value uniformly within its bin; a drawn patient that breaks a public rule (ovarian cancer in a
man, follow-up past the window's end) is redrawn. Both are post-processing of the DP model:
they cost no budget. The bins are also why no real extreme (the oldest patient's age, one
patient's follow-up) is reproduced exactly; the real-data age bounds of :mod:`synth.topcoding`
are not applied (they would be a release outside the budget).

**Randomness.** The fit cannot be made deterministic, by design: OpenDP draws its noise from a
secure generator that takes no seed, and the mechanisms' selection steps (numpy's global
generator) are given fresh entropy, since a DP selection made with a seed written in the
manifest would be a deterministic function of the data. So two fits give two different models.
Sampling from a fitted model is seeded and reproducible.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError, InvalidParameter
from synth.generators import MODEL_COLUMNS, synthetic_ids
from synth.schema import PATIENT_ID, TREATMENTS
from synth.sdv_support import quiet

DP_GENERATORS = ("mst", "aim")
DEFAULT_DELTA = 1e-9  # smartnoise's default; far below 1 / (number of patients) at any cohort size
AGE_BOUNDS = (18, 105)  # public: adult oncology; ages outside are clipped, not learnt
AGE_BIN_YEARS = 5
FOLLOWUP_BINS = ((365, 12), (3 * 365, 4), (None, 1))  # follow-up bins: months for a year, quarters to 3 years,
# then years ((until day, bins per year)); with diagnosis years, few bin pairs end past the window (each of
# those holds only noise in a DP model, and is redrawn)
DEFAULT_AIM_ROUNDS = 48  # each round refits the model: at 15,000 patients 48 rounds took 6 min, 80 (14 columns)
# 12; AIM's own default (16 per column, 176) would take about half an hour. AIM first spends as many rounds' worth
# of budget as there are columns on the one-way margins, so rounds must be more than twice the columns
OUTCOME_COLUMNS = ("death", "death_cause", "end_of_followup", "followup_days")
VITAL_STATUS = (None, "cancer", "other", "unknown")  # alive, then the causes of death of synth.schema
MAX_DRAW_ROUNDS = 30


def _simulated_window() -> tuple[date, date]:
    """The simulated cohort's study window (its diagnosis years, follow-up to 31 December of the last)."""
    from linkage.datasets.params import PopulationParams

    params = PopulationParams()
    return date(params.first_diagnosis_year, 1, 1), date(params.last_diagnosis_year, 12, 31)


@dataclass(frozen=True)
class DPSettings:
    """The privacy budget and the public bounds of a DP patient model.

    ``epsilon`` > 0 and 0 < ``delta`` < 1 (finite numbers); ``study_start`` / ``study_end``: the
    study window from the protocol (public): every diagnosis lies in it, follow-up is censored at its end;
    ``aim_rounds``: the most rounds AIM may spend its budget over (ignored by MST)."""

    epsilon: float
    delta: float = DEFAULT_DELTA
    study_start: date = field(default_factory=lambda: _simulated_window()[0])
    study_end: date = field(default_factory=lambda: _simulated_window()[1])
    aim_rounds: int = DEFAULT_AIM_ROUNDS

    def __post_init__(self):
        for name in ("epsilon", "delta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidParameter(f"{name} must be a finite number (got {value!r})")
        if self.epsilon <= 0:
            raise InvalidParameter(f"epsilon must be greater than 0 (got {self.epsilon!r}): it is the privacy budget")
        if not 0 < self.delta < 1:
            raise InvalidParameter(f"delta must lie strictly between 0 and 1 (got {self.delta!r})")
        if not (isinstance(self.study_start, date) and isinstance(self.study_end, date)):
            raise InvalidParameter("the study window's start and end must be dates")
        if self.study_start >= self.study_end:
            raise InvalidParameter(f"the study window must end after it starts ({self.study_start} to "
                                   f"{self.study_end})")
        if isinstance(self.aim_rounds, bool) or not isinstance(self.aim_rounds, int) or self.aim_rounds < 1:
            raise InvalidParameter(f"aim_rounds must be a whole number of at least 1 (got {self.aim_rounds!r})")


def dp_settings(generator: str, epsilon: float | None, delta: float | None = None, study_start: date | None = None,
                study_end: date | None = None) -> DPSettings | None:
    """The settings for ``generator`` from command-line values (``None``: not given): required for mst/aim,
    refused for the others."""
    if generator not in DP_GENERATORS:
        given = [name for name, v in (("--epsilon", epsilon), ("--delta", delta), ("--study-start", study_start),
                                      ("--study-end", study_end)) if v is not None]
        if given:
            raise InvalidParameter(f"{', '.join(given)} applies to the differentially private generators "
                                   f"({', '.join(DP_GENERATORS)}), not to {generator}")
        return None
    if epsilon is None:
        raise InvalidParameter(f"--generator {generator} needs a privacy budget: give --epsilon (e.g. 3)")
    window = _simulated_window()
    return DPSettings(epsilon=epsilon, delta=DEFAULT_DELTA if delta is None else delta,
                      study_start=study_start or window[0],
                      study_end=study_end or window[1])


# --- the public discretisation -------------------------------------------------------------

def _public_categories() -> dict[str, tuple]:
    """The public coding, each column's values in order; a tumour is (cancer, subtype, stage): each subtype belongs
    to one cancer, so no code of the model can put a lung histology on a breast cancer."""
    from linkage.datasets.reference import CANCER_SUBTYPES, DEPARTEMENTS

    tumours = tuple((cancer, subtype, stage) for cancer, subtypes in CANCER_SUBTYPES.items() for subtype in subtypes
                    for stage in (1, 2, 3, 4))
    return {"sex": ("F", "M"), "departement": (*DEPARTEMENTS, None), "tumour": tumours}


@dataclass(frozen=True)
class PublicBins:
    """Every column of the DP model as small integer codes, with edges computed from public facts only.

    Two model columns join what studies always read together, so that one edge of MST's tree (or one AIM
    measurement) carries it: ``tumour`` = cancer x subtype x stage (44 codes: what treatments and survival depend
    on first) and ``outcome`` = vital status x follow-up bin (a death and its time). Kept apart, MST's tree could
    link follow-up to the cancer only through death, which erased the lung/breast difference in survival
    (Kaplan-Meier distance 0.16 at epsilon 10, 20,000 patients)."""

    study_start: pd.Timestamp
    study_end: pd.Timestamp
    categories: dict[str, tuple]
    age_edges: np.ndarray        # lower edges of the age bins; the last bin ends at AGE_BOUNDS[1]
    year_edges: np.ndarray       # datetime64[D]: starts of the calendar years, then the day after the window
    followup_edges: np.ndarray   # days: lower edges, then the window's length + 1

    @classmethod
    def of(cls, settings: DPSettings) -> PublicBins:
        start, end = pd.Timestamp(settings.study_start), pd.Timestamp(settings.study_end)
        years = pd.date_range(start.to_period("Y").start_time, end, freq="YS")
        year_edges = np.append(years.to_numpy("datetime64[D]"), np.datetime64(end + pd.Timedelta(days=1), "D"))
        length, edges, since = (end - start).days, [], 0
        for until, per_year in FOLLOWUP_BINS:
            until = length + 1 if until is None else min(until, length + 1)
            edges += list(np.arange(since, until, 365.25 / per_year))
            since = until
        followup = np.unique(np.append(np.round(edges).astype(np.int64), length + 1))
        return cls(start, end, _public_categories(), np.arange(AGE_BOUNDS[0], AGE_BOUNDS[1] + 1, AGE_BIN_YEARS),
                   year_edges, followup)

    @property
    def followup_bins(self) -> int:
        return len(self.followup_edges) - 1

    @property
    def cardinalities(self) -> dict[str, int]:
        return {"sex": len(self.categories["sex"]), "age": len(self.age_edges),
                "departement": len(self.categories["departement"]), "tumour": len(self.categories["tumour"]),
                "diagnosis_year": len(self.year_edges) - 1, **{t: 2 for t in TREATMENTS},
                "outcome": len(VITAL_STATUS) * self.followup_bins}

    def _category_codes(self, values: pd.Series, column: str, what: str) -> np.ndarray:
        lookup = {v: i for i, v in enumerate(self.categories[column])}
        codes = values.map(lambda v: lookup.get(None if v is None or v is pd.NA or v != v else v, -1)).to_numpy(
            np.int64)
        unknown = int((codes < 0).sum())
        if unknown:
            raise HarmonieError(f"{unknown:,} patient(s) hold a {what} outside its public coding; the DP generator "
                                "learns public categories only (fix the analytic dataset, or extend the coding)")
        return codes

    def encode(self, patients: pd.DataFrame) -> pd.DataFrame:
        """The patients as codes (one column per :attr:`cardinalities` entry); a value outside the public domain of
        a date or category is a one-line error naming the column, never the value."""
        p = patients
        diagnosis = pd.to_datetime(p["diagnosis_date"]).dt.floor("D")
        end = pd.to_datetime(p["end_of_followup"]).dt.floor("D")
        outside = int(((diagnosis < self.study_start) | (diagnosis > self.study_end) | (end < diagnosis)).sum())
        if outside:
            raise HarmonieError(f"{outside:,} patient(s) have a diagnosis outside the study window "
                                f"{self.study_start:%Y-%m-%d} to {self.study_end:%Y-%m-%d} (--study-start / "
                                "--study-end: the protocol's public window), or follow-up ending before it")
        # follow-up is censored at the window's end (a public bound, applied to each patient alone): a death after it
        # is not observed within the study
        late = (end > self.study_end).to_numpy()
        died = p["death"].astype(bool).to_numpy() & ~late
        end = end.where(~late, self.study_end)
        for column in (*TREATMENTS, "death"):
            if p[column].isna().any():
                raise HarmonieError(f"{column} has missing values; the DP generator needs true/false in every row")
        age = p["age_at_diagnosis"].astype(float).clip(*AGE_BOUNDS).to_numpy()
        stage = pd.to_numeric(p["stage"], errors="coerce")
        tumour = pd.Series(list(zip(p["cancer_type"], p["subtype"], stage.where(stage.notna(), None))),
                           index=p.index, dtype=object)
        followup = np.searchsorted(self.followup_edges, (end - diagnosis).dt.days.to_numpy(), side="right") - 1
        codes = {
            "sex": self._category_codes(p["sex"], "sex", "sex"),
            "age": np.searchsorted(self.age_edges, age, side="right") - 1,
            "departement": self._category_codes(p["departement"], "departement", "departement"),
            "tumour": self._category_codes(tumour, "tumour", "cancer_type, subtype or stage"),
            "diagnosis_year": np.searchsorted(self.year_edges, diagnosis.to_numpy("datetime64[D]"), side="right") - 1,
            **{t: p[t].astype(bool).to_numpy(np.int64) for t in TREATMENTS},
            "outcome": self._vital_codes(p["death_cause"], pd.Series(died, index=p.index)) * self.followup_bins
            + followup,
        }
        return pd.DataFrame(codes)[list(self.cardinalities)].astype(np.int64)

    @staticmethod
    def _vital_codes(cause: pd.Series, died: pd.Series) -> np.ndarray:
        lookup = {v: i for i, v in enumerate(VITAL_STATUS) if v is not None}
        codes = cause.map(lambda v: lookup.get(v, -1) if isinstance(v, str) else -1).to_numpy(np.int64)
        codes[~died.to_numpy()] = 0
        if (codes < 0).any():
            raise HarmonieError(f"{int((codes < 0).sum()):,} dead patient(s) have a cause of death outside "
                                f"{', '.join(VITAL_STATUS[1:])}")
        return codes

    def decode(self, codes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Patients from codes, each value drawn uniformly within its bin (no seed other than ``rng``)."""
        c = {name: codes[name].to_numpy(np.int64) for name in self.cardinalities}
        cat = {name: np.asarray(values, dtype=object) for name, values in self.categories.items()}
        tumours = np.asarray(self.categories["tumour"], dtype=object)[c["tumour"]]
        vital, bin_ = np.divmod(c["outcome"], self.followup_bins)
        low = self.age_edges[c["age"]]
        high = np.minimum(low + AGE_BIN_YEARS - 1, AGE_BOUNDS[1])
        # a diagnosis day within its year and a follow-up within its bin, ending by the window's end: the real
        # patients always fit (a bin pair that cannot is impossible, and redrawn: see possible())
        end_day = np.datetime64(self.study_end, "D").astype(np.int64)
        y_low = np.maximum(self.year_edges[c["diagnosis_year"]].astype(np.int64),
                           np.datetime64(self.study_start, "D").astype(np.int64))
        f_low, f_high = self.followup_edges[bin_], self.followup_edges[bin_ + 1]
        f_low = np.where(vital > 0, np.maximum(f_low, 1), f_low)  # nobody dies on the diagnosis day
        latest = np.minimum(self.year_edges[c["diagnosis_year"] + 1].astype(np.int64), end_day - f_low + 1)
        diagnosis = rng.integers(y_low, np.maximum(latest, y_low + 1))
        followup = rng.integers(f_low, np.maximum(np.minimum(f_high, end_day - diagnosis + 1), f_low + 1))
        out = pd.DataFrame({
            "sex": cat["sex"][c["sex"]],
            "age_at_diagnosis": rng.integers(low, high + 1).astype(np.int64),
            "departement": cat["departement"][c["departement"]],
            "cancer_type": [t[0] for t in tumours],
            "subtype": [t[1] for t in tumours],
            "stage": np.array([t[2] for t in tumours], dtype=np.int64),
            "diagnosis_date": pd.to_datetime(diagnosis.astype("datetime64[D]")).astype("datetime64[ns]"),
            **{t: c[t].astype(bool) for t in TREATMENTS},
            "death": vital > 0,
            "death_cause": np.asarray(VITAL_STATUS, dtype=object)[vital],
            "followup_days": followup.astype(np.int64),
        })
        out["cancer_type"], out["subtype"] = out["cancer_type"].astype(object), out["subtype"].astype(object)
        out["end_of_followup"] = out["diagnosis_date"] + pd.to_timedelta(out["followup_days"], unit="D")
        return out

    def possible(self, patients: pd.DataFrame) -> np.ndarray:
        """Rows that break no public rule: no ovarian cancer in a man, the follow-up ends within the study window
        (a subtype always belongs to its cancer: they are one code)."""
        return (~((patients["cancer_type"] == "ovarian") & (patients["sex"] == "M")).to_numpy()
                & (patients["end_of_followup"] <= self.study_end).to_numpy())

    def described(self) -> dict:
        """The bounds and bins, JSON-ready, for the manifest (all public)."""
        return {"age_at_diagnosis": f"clipped to {AGE_BOUNDS[0]}-{AGE_BOUNDS[1]} years, {AGE_BIN_YEARS}-year bins",
                "diagnosis_date": f"calendar years of the study window {self.study_start:%Y-%m-%d} to "
                                  f"{self.study_end:%Y-%m-%d}",
                "followup_days": f"0 to {int(self.followup_edges[-1]) - 1} days (the window's length): months for a "
                                 "year, quarters to three years, then years",
                "categories": "public coding: sex F/M, French départements and missing, cancer x subtype x stage "
                              "(subtypes of linkage.datasets.reference, stages 1-4), alive or dead of "
                              "cancer/other/unknown cause x follow-up bin, treatment flags",
                "within_bins": "uniform draws (post-processing)", "budget_spent_on_bounds": 0}


# --- fitting and sampling ------------------------------------------------------------------

@contextlib.contextmanager
def _numpy_global_seed(seed: int | None) -> Iterator[None]:
    """numpy's global generator seeded (``None``: fresh OS entropy) for the library code that draws from it, then
    put back as it was."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _jax_compilation_cache() -> None:
    """Keep JAX's compiled programs on disk (``$JAX_COMPILATION_CACHE_DIR``, else ``~/.cache/harmonie/jax``).

    private-pgm runs each clique's operations as JAX programs compiled for its shape: about 600 compilations,
    half of an MST fit at 1,000 patients. Shapes come from the public bins and the mechanism's noisy
    selection, never from a data value, so the cache holds nothing a DP release would not."""
    import os

    import jax

    if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        jax.config.update("jax_compilation_cache_dir", str(base / "harmonie" / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _smartnoise(mechanism: str, settings: DPSettings):
    if mechanism == "mst":
        from snsynth.mst import MSTSynthesizer

        return MSTSynthesizer(epsilon=float(settings.epsilon), delta=float(settings.delta))
    if mechanism == "aim":
        from snsynth.aim import AIMSynthesizer

        columns = len(PublicBins.of(settings).cardinalities)
        if settings.aim_rounds <= 2 * columns:  # else the one-way margins eat the budget (smartnoise then fails)
            raise InvalidParameter(f"AIM needs more than {2 * columns} rounds for {columns} columns "
                                   f"(got {settings.aim_rounds})")
        return AIMSynthesizer(epsilon=float(settings.epsilon), delta=float(settings.delta), rounds=settings.aim_rounds)
    raise InvalidParameter(f"unknown DP generator {mechanism!r}: choose one of {', '.join(DP_GENERATORS)}")


def _public_transformer(cardinalities: dict[str, int]):
    """smartnoise's table transformer fitted on the public domain (every code of every column), never on data:
    its categories, hence the model's domain, are the public ones."""
    from snsynth.transform.label import LabelTransformer
    from snsynth.transform.table import TableTransformer

    domain = pd.DataFrame({name: np.arange(max(cardinalities.values())) % k for name, k in cardinalities.items()})
    transformer = TableTransformer([LabelTransformer(nullable=False) for _ in cardinalities])
    transformer.fit(domain)
    if [list(t.categories) for t in transformer.transformers] != [list(range(k)) for k in cardinalities.values()]:
        raise HarmonieError("smartnoise's label transformer no longer maps each code to itself; pin "
                            "smartnoise-synth to the version in pyproject.toml")
    return transformer


def _factor(epsilon: float) -> str:
    """e^epsilon, readable at any budget (2.7, 20.1, 22,026.5, 7.23e+86)."""
    return f"{math.exp(epsilon):,.1f}" if epsilon < 20 else (f"{math.exp(epsilon):.3g}" if epsilon < 700 else
                                                            "more than 1e300")


def privacy_statement(mechanism: str, settings: DPSettings, bins: PublicBins) -> dict:
    """What the manifest, the replica's provenance and the reports say about the guarantee (public facts only)."""
    from snsynth.utils import cdp_rho

    return {
        "mechanism": mechanism.upper(), "library": f"smartnoise-synth {version('smartnoise-synth')}",
        "epsilon": float(settings.epsilon), "delta": float(settings.delta),
        "rho_zcdp": round(float(cdp_rho(float(settings.epsilon), float(settings.delta))), 8),
        "neighbouring": "one patient's row added or removed (the number of training patients is public)",
        "meaning": f"any output of the patient model is at most e^epsilon = {_factor(settings.epsilon)} times "
                   f"more or less likely with or without any one patient, except with probability delta",
        "covers": "the patients table: " + ", ".join(c for c in (*MODEL_COLUMNS, *OUTCOME_COLUMNS)),
        "not_covered": "stays and dispensings (the care-pathway model, fitted on the real claims without noise and "
                       "conditioned on the DP patients) and n_stays, n_dispensings, days_to_first_stay (recomputed "
                       "from them): the replica as a whole is not differentially private",
        "public_bounds": bins.described(),
        "fit_randomness": "not reproducible by design (OpenDP's secure noise, fresh entropy for the selection); "
                          "sampling from a fitted model is seeded",
    }


class DPPatientModel:
    """A fitted DP patient model: smartnoise's synthesizer, the public bins and the statement of its guarantee.

    Saved whole (cloudpickle) by :mod:`synth.model_store`, which pins and authenticates it like SDV's files;
    it holds noisy counts and the fitted graphical model, no training row."""

    _synthesizer_id = "harmonie-dp-patients"  # what SDV's loader looks for before giving an id of its own

    def __init__(self, mechanism: str, settings: DPSettings):
        self.mechanism, self.settings = mechanism, settings
        self.bins_ = PublicBins.of(settings)
        self.statement_ = privacy_statement(mechanism, settings, self.bins_)
        self.synthesizer_ = None

    def fit(self, patients: pd.DataFrame) -> DPPatientModel:
        codes = self.bins_.encode(patients)
        synthesizer = _smartnoise(self.mechanism, self.settings)
        transformer = _public_transformer(self.bins_.cardinalities)
        _jax_compilation_cache()
        with quiet(), contextlib.redirect_stdout(io.StringIO()), _numpy_global_seed(None):
            synthesizer.fit(codes, transformer=transformer)
        self.synthesizer_ = synthesizer
        return self

    def _draw_codes(self, rows: int) -> pd.DataFrame:
        """``rows`` rows of codes drawn i.i.d. from the fitted graphical model.

        Not smartnoise's ``sample()``: it calls private-pgm's ``synthetic_data`` with its default "round" method,
        which (mbi 1.1.0) hands each column's values out by row rank within each group of parent values, so
        columns that share no clique become dependent (in a 15,000-patient MST fit, ovarian patients' mean
        follow-up bin came out 67 where the model itself says 32). ``method="sample"`` draws each row from the
        model's conditionals. MST's domain compression is then undone as smartnoise does it; the codes need no
        inverse transform (the public transformer maps each code to itself, checked at fit time)."""
        names = list(self.bins_.cardinalities)
        with quiet():
            data = self.synthesizer_.synthesizer.synthetic_data(rows=rows, method="sample")
            if self.mechanism == "mst":
                data = self.synthesizer_.undo_compress_fn(data)
        frame = data.df[[f"col{i}" for i in range(len(names))]]
        return pd.DataFrame(frame.to_numpy(np.int64), columns=names)

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """``rows`` synthetic patients (ids S0000001...; baseline and outcomes, no claims), the same for one seed."""
        if self.synthesizer_ is None:
            raise HarmonieError("the DP patient model is not fitted")
        _jax_compilation_cache()
        rng = np.random.default_rng([seed, 15])
        kept, have, drawn_in_all = [], 0, 0
        with _numpy_global_seed(seed % 2**32):
            for _ in range(MAX_DRAW_ROUNDS):
                if have >= rows:
                    break
                acceptance = have / drawn_in_all if drawn_in_all else 0.9
                batch = int(math.ceil((rows - have) / max(acceptance, 0.02) * 1.1)) + 16
                codes = self._draw_codes(batch)  # shuffled: no order of the library's rows is relied on
                patients = self.bins_.decode(codes.iloc[rng.permutation(len(codes))].reset_index(drop=True), rng)
                patients = patients[self.bins_.possible(patients)]
                kept.append(patients)
                have, drawn_in_all = have + len(patients), drawn_in_all + batch
        if have < rows:
            raise HarmonieError(f"the DP patient model puts {1 - have / drawn_in_all:.0%} of its patients on "
                                "impossible combinations (ovarian cancer in a man, follow-up past the window); "
                                "raise epsilon or check the study window")
        p = pd.concat(kept, ignore_index=True).iloc[:rows].reset_index(drop=True)
        p = p[[*MODEL_COLUMNS, *OUTCOME_COLUMNS]]
        p.insert(0, PATIENT_ID, synthetic_ids(len(p)))
        return p

    def save(self, path: str) -> None:
        import cloudpickle

        with open(path, "wb") as f:
            cloudpickle.dump(self, f)


def fit_dp_patients(patients: pd.DataFrame, mechanism: str, settings: DPSettings) -> DPPatientModel:
    """The DP patient model of ``patients`` (the real, uncoded patient table: top-coding at real quantiles would
    be a data-dependent transform outside the budget)."""
    if not isinstance(settings, DPSettings):
        raise InvalidParameter("the DP generators take DPSettings (epsilon, delta, study window)")
    return DPPatientModel(mechanism, settings).fit(patients)
