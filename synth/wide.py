"""Wide patient tables: the extra clinical columns, drawn after survival, conditioned on the synthetic patient.

A warehouse holds hundreds of variables per patient beyond the fixed ones of :mod:`synth.schema`
(the cohort's case-report form: biomarkers, comorbidities, performance status...). They come
last in the replica's patient sequence (baseline -> survival -> **extra columns**; the claims
follow from the core), from a **latent Gaussian regression with a Gaussian copula** per cancer
type (the Gaussian copula regression of Song 2000 and Masarotto & Varin 2012, with an ordinal
probit for discrete columns):

- every extra column has a standard-normal latent score regressed on the patient's core
  variables: stage, subtype, age (and its square), sex, the five treatments, year of diagnosis,
  and **survival** (death, and the log of follow-up by death or censoring, with a square term
  for the dead). A number's score is its rank's normal quantile (a linear regression, fitted on
  the patients who have a value); a yes/no, a category (in sorted order) or a whole number with
  at most ``MAX_LEVELS`` values is an ordered level, fitted by an ordinal probit (maximum
  likelihood, Newton-Raphson). A column with missing values gets a second, yes/no latent that
  says whether it is recorded (a biomarker tested more often at some stages);
- the residuals' correlation (numbers' residuals, levels' generalised residuals E[e | level]
  divided by their variance, pairwise over patients recorded on both columns, shrunk towards the
  identity and made positive definite) is the copula that ties the columns together.

Sampling reverses it: the synthetic patient's core and sampled survival give each latent's
mean, a correlated normal draw its residual; a number is read off its quantiles, a level off
the probit's thresholds. So a column keeps its relation with cancer, stage, subtype,
treatments and with survival beyond them (a prognostic marker such as LDH stays higher in
patients who die sooner), a rare yes/no its dependence on a subtype (BRCA in triple-negative
breast cancer), and the columns their correlations, at a cost linear in patients (the probits
on at most ``PROBIT_MAX_ROWS`` of them) and quadratic in columns for one model per cancer type.
The alternatives measured in benchmarks/RESULTS.md ("Wide patient tables"): the per-stratum SDV
copulas on every column cost ~85 s per stratum at 1,000 patients x 500 columns (23 strata) and
cannot see survival, drawn after the baseline; SDV's copula with conditional sampling draws per
distinct condition; a linear model on level scores (SDV's UniformEncoder) weakens every
relation of a discrete column (ECOG ~ stage by a third).

What it does not keep: a relation that is not monotone along a column's sorted categories (a
nominal category more frequent in both the youngest and the oldest), interactions of core
variables outside the design, and relations with the claims (drawn from the core). Tails are
coded as the rest of the replica is (:mod:`synth.topcoding`): numbers lie between the k-th
smallest and the k-th largest real value of their group, a level held by fewer than k real
patients of a group is never drawn, and a column with fewer than 2k values in a group is not
drawn there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from threadpoolctl import threadpool_limits

from harmonie.errors import HarmonieError
from synth.schema import TREATMENTS, with_extra_dtypes

MIN_GROUP_PATIENTS = 100
"""A cancer type with fewer training patients shares a model of all cancers (cancer type as a covariate)."""
MAX_LEVELS = 50
"""A numeric column of whole numbers with at most this many distinct values is an ordered level (a count, a
score): a probit keeps its spikes (0 positive nodes) that a quantile scale would blur."""
PROBIT_MAX_ROWS = 20_000
"""Patients an ordinal probit is fitted on (every k-th recorded one: ids are in random order); its coefficients'
standard errors are then ~0.01-0.02, below what a replica's own sampling adds."""
RIDGE = 1e-3
"""Penalty on the probit's coefficients (per patient): keeps them finite when a level never occurs in a subtype."""
KNOTS = 1001
"""Quantiles kept per numeric column (its inverse distribution), the 0 and 100% ones at the k-safe bounds."""
MIN_PAIR_PATIENTS = 30
"""Two columns recorded together for fewer patients than this get no residual correlation."""
SHRINKAGE = 0.02
"""Share of the identity mixed into the residual correlation: keeps it positive definite when columns are many
and patients few, at a small cost in correlation (x 0.98; 0.05 cost NLR ~ CRP 0.545 -> 0.512, 0.02 -> 0.526)."""
MIN_RESIDUAL_VARIANCE = 0.05
"""The covariates never explain more than 95% of a number's latent score."""
POOLED = "all"
CHUNK_ROWS = 20_000
"""Patients per block when computing residuals and sampling (memory stays ~100 MB a block at 700 latents)."""
_TINY = 1e-12


@dataclass(frozen=True)
class _Column:
    """How one extra column of one group becomes latent scores and back."""

    name: str
    sdtype: str
    absent: bool = False  # not drawn in the group (never recorded, or fewer than 2k values)
    constant: bool = False  # one level only (the others held by fewer than k patients): no latent for its value
    missing: bool = False  # sometimes empty: a recorded / empty latent of its own
    missing_share: float = 0.0
    levels: tuple = ()  # ordered levels (booleans, categories, whole numbers with few values), sorted
    shares: tuple = ()  # their shares (after the small-cell rule)
    knots: tuple = ()  # numbers: quantiles at KNOTS equally spaced levels
    decimals: int = 6


@dataclass
class _Latent:
    """One latent score of a group: its coefficients on the design and, for a level, the probit's thresholds."""

    column: str
    kind: str  # "number", "levels" or "missing"
    beta: np.ndarray
    scale: float = 1.0  # residual standard deviation (1 for the probits)
    thresholds: tuple = ()


def _design(p: pd.DataFrame, spec: dict | None = None) -> tuple[np.ndarray, dict]:
    """The core covariates (see the module docstring) as a matrix, and the spec that rebuilds them for synthetic
    patients (levels, centres and which columns vary)."""
    fitting = spec is None
    if fitting:
        years = p["diagnosis_date"].dt.year.to_numpy(float)
        follow = np.log1p(p["followup_days"].to_numpy(float))
        spec = {"age_mean": float(p["age_at_diagnosis"].mean()), "year_mean": float(years.mean()),
                "log_followup_mean": float(follow.mean()), "log_followup_sd": float(follow.std()) or 1.0,
                "cancers": sorted(p["cancer_type"].astype(str).unique()),
                "stages": sorted(int(s) for s in p["stage"].unique()),
                "subtypes": sorted(p["subtype"].astype(str).unique())}
    age = (p["age_at_diagnosis"].to_numpy(float) - spec["age_mean"]) / 10.0
    ell = (np.log1p(p["followup_days"].to_numpy(float)) - spec["log_followup_mean"]) / spec["log_followup_sd"]
    died = p["death"].astype(bool).to_numpy(float)
    columns = {"intercept": np.ones(len(p)), "age": age, "age_squared": age ** 2,
               "male": (p["sex"] == "M").to_numpy(float),
               "year": (p["diagnosis_date"].dt.year.to_numpy(float) - spec["year_mean"]) / 5.0,
               "death": died, "death_log_followup": died * ell, "death_log_followup_squared": died * ell ** 2,
               "alive_log_followup": (1 - died) * ell}
    for flag in TREATMENTS:
        columns[flag] = p[flag].astype(bool).to_numpy(float)
    stage = p["stage"].to_numpy(int)
    for s in spec["stages"][1:]:
        columns[f"stage={s}"] = (stage == s).astype(float)
    for name, source, values in (("subtype", "subtype", spec["subtypes"]), ("cancer", "cancer_type", spec["cancers"])):
        column = p[source].astype(str).to_numpy()
        for value in values[1:]:
            columns[f"{name}={value}"] = (column == value).astype(float)
    if fitting:  # a covariate constant in the group tells nothing (and makes the regression singular)
        spec["columns"] = ["intercept"] + [c for c, x in columns.items() if c != "intercept" and np.ptp(x) > 0]
    return np.column_stack([columns[c] for c in spec["columns"]]), spec


# --- how each column is coded -------------------------------------------------------------------

def _decimals(values: np.ndarray) -> int:
    """How many decimals the real values are written with (at most 6)."""
    for d in range(7):
        scaled = values * 10 ** d
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * max(1.0, 10 ** d)):
            return d
    return 6


def _level_column(name: str, sdtype: str, values: pd.Series, k: int, missing: bool, missing_share: float
                  ) -> _Column:
    """Levels in sorted order with their shares; a level fewer than ``k`` patients hold is never drawn: its
    patients count as the next level kept (or the last one)."""
    counts = values.value_counts().sort_index()
    levels, weights = counts.index.to_numpy(), counts.to_numpy(float)
    if k > 1:
        kept = np.flatnonzero(weights >= k)
        if len(kept) == 0:
            return _Column(name, sdtype, absent=True)
        position = np.searchsorted(kept, np.arange(len(weights)), side="left").clip(0, len(kept) - 1)
        levels, weights = levels[kept], np.bincount(position, weights=weights, minlength=len(kept))
    as_level = bool if sdtype == "boolean" else float if sdtype == "numerical" else str
    return _Column(name, sdtype, missing=missing, missing_share=missing_share, constant=len(levels) == 1,
                   levels=tuple(as_level(v) for v in levels), shares=tuple(float(w) for w in weights / weights.sum()))


def _describe(name: str, sdtype: str, values: pd.Series, k: int) -> _Column:
    """The column's coding in one group (``values`` its values there, missing included)."""
    present = values.dropna()
    if present.empty or (k > 1 and len(present) < 2 * k):
        return _Column(name, sdtype, absent=True)
    missing_share = 1 - len(present) / len(values)
    missing = len(present) < len(values)
    if sdtype in ("boolean", "categorical"):
        return _level_column(name, sdtype, present.astype(bool) if sdtype == "boolean" else present.astype(str), k,
                             missing, missing_share)
    x = present.to_numpy(float)
    if np.all(x == np.round(x)) and len(np.unique(x)) <= MAX_LEVELS:
        return _level_column(name, sdtype, pd.Series(x), k, missing, missing_share)
    x = np.sort(x)
    knots = np.quantile(x, np.linspace(0, 1, KNOTS))
    if k > 1:  # at least k real values at or beyond each end (synth.topcoding)
        knots = np.clip(knots, x[k - 1], x[-k])
    return _Column(name, sdtype, missing=missing, missing_share=missing_share,
                   knots=tuple(float(v) for v in knots), decimals=_decimals(x))


def _codes(column: _Column, values: pd.Series) -> np.ndarray:
    """Level index of each recorded value (a level not kept counts as the next one kept)."""
    if column.sdtype == "categorical":
        levels, key = np.asarray(column.levels, dtype=object), values.astype(str).to_numpy(object)
    else:
        levels, key = np.asarray(column.levels, dtype=float), values.astype(float).to_numpy(float)
    return np.searchsorted(levels, key, side="left").clip(0, len(column.levels) - 1)


# --- the latent regressions ---------------------------------------------------------------------

def _number_latent(x: np.ndarray, values: pd.Series, rows: np.ndarray, name: str) -> tuple[_Latent, np.ndarray]:
    """Linear regression of a number's rank normal scores; its standardised residuals on ``rows``."""
    ranks = values[rows].rank(method="average").to_numpy()
    z = ndtri((ranks - 0.5) / len(ranks))
    xr = x[rows]
    beta = np.linalg.solve(xr.T @ xr + 1e-6 * len(xr) * np.eye(x.shape[1]), xr.T @ z)
    fitted = xr @ beta
    scale = float(np.sqrt(np.clip(1 - fitted.var(), MIN_RESIDUAL_VARIANCE, 1.0)))
    return _Latent(name, "number", beta, scale), (z - fitted) / scale


def _density(q: np.ndarray) -> np.ndarray:
    """The standard normal density, 0 at +-infinity."""
    finite = np.isfinite(q)
    return np.where(finite, np.exp(-0.5 * np.where(finite, q, 0.0) ** 2), 0.0) / np.sqrt(2 * np.pi)


def _interval_probability(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P(lo < e < hi) for e standard normal, accurate in both tails."""
    return np.maximum(np.where(lo > 0, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo)), _TINY)


def _ordinal_probit(x: np.ndarray, codes: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coefficients with a 0 intercept, thresholds) of an ordinal probit of ``codes`` (0..L-1) on ``x`` (its first
    column the intercept, which the thresholds replace): maximum likelihood with a small ridge on the coefficients,
    by Newton-Raphson (the log-likelihood is concave, Pratt 1981) with step halving."""
    x1 = x[:, 1:]
    n, p = x1.shape
    m = len(shares) - 1  # thresholds
    one_hot_upper = (codes[:, None] == np.arange(m)[None, :]).astype(float)  # tau_y is the level's upper bound
    one_hot_lower = (codes[:, None] - 1 == np.arange(m)[None, :]).astype(float)  # tau_(y-1) its lower bound
    has_upper, has_lower = codes < m, codes > 0
    beta, tau = np.zeros(p), ndtri(np.clip(np.cumsum(shares)[:-1], 1e-6, 1 - 1e-6))

    def loglik(beta, tau):
        eta = x1 @ beta
        bounds = np.r_[-np.inf, tau, np.inf]
        lo, hi = bounds[codes] - eta, bounds[codes + 1] - eta
        return np.log(_interval_probability(lo, hi)).sum() - 0.5 * RIDGE * n * beta @ beta, lo, hi

    current, lo, hi = loglik(beta, tau)
    for _ in range(50):
        prob = _interval_probability(lo, hi)
        fa, fb = _density(hi) / prob, _density(lo) / prob  # d log P / d hi, -d log P / d lo
        a_fin, b_fin = np.where(has_upper, hi, 0.0), np.where(has_lower, lo, 0.0)
        l_aa, l_bb, l_ab = -a_fin * fa - fa ** 2, b_fin * fb - fb ** 2, fa * fb
        g_beta = -x1.T @ (fa - fb) - RIDGE * n * beta
        g_tau = one_hot_upper.T @ fa - one_hot_lower.T @ fb
        h_bb = (x1 * (l_aa + 2 * l_ab + l_bb)[:, None]).T @ x1 - RIDGE * n * np.eye(p)
        h_bt = -(x1.T @ (one_hot_upper * (l_aa + l_ab)[:, None]) + x1.T @ (one_hot_lower * (l_ab + l_bb)[:, None]))
        h_tt = np.diag(one_hot_upper.T @ l_aa + one_hot_lower.T @ l_bb)
        if m > 1:  # a level with both bounds ties its two thresholds
            both = has_upper & has_lower
            ties = np.bincount(codes[both] - 1, weights=l_ab[both], minlength=m)[:m - 1]
            h_tt[np.arange(m - 1), np.arange(1, m)] += ties
            h_tt[np.arange(1, m), np.arange(m - 1)] += ties
        hessian = np.block([[h_bb, h_bt], [h_bt.T, h_tt]])
        try:
            step = -np.linalg.solve(hessian, np.r_[g_beta, g_tau])
        except np.linalg.LinAlgError:
            break
        length = 1.0
        for _ in range(30):  # step halving: thresholds stay in order and the likelihood does not drop
            new_beta, new_tau = beta + length * step[:p], tau + length * step[p:]
            if np.all(np.diff(new_tau) > 0):
                value, new_lo, new_hi = loglik(new_beta, new_tau)
                if value >= current - 1e-9 * abs(current):
                    break
            length /= 2
        else:
            break
        beta, tau, lo, hi, gain, current = new_beta, new_tau, new_lo, new_hi, value - current, value
        if np.max(np.abs(length * step)) < 1e-6 or gain < 1e-9 * max(abs(current), 1.0):
            break
    return np.r_[0.0, beta], tau


def _generalised_residuals(eta: np.ndarray, codes: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """E[e | level, x] for e standard normal: the truncated normal mean of the level's interval."""
    bounds = np.r_[-np.inf, thresholds, np.inf]
    lo, hi = bounds[codes] - eta, bounds[codes + 1] - eta
    return (_density(lo) - _density(hi)) / _interval_probability(lo, hi)


def _level_latent(x: np.ndarray, codes: np.ndarray, shares: np.ndarray, rows: np.ndarray, name: str, kind: str
                  ) -> tuple[_Latent, np.ndarray]:
    """Ordinal probit of level ``codes`` (on ``rows``), fitted on at most PROBIT_MAX_ROWS of them; its generalised
    residuals on ``rows`` divided by their variance, so that their covariance with another latent's residual is
    the latent correlation (Stein's lemma: Cov(E[e|level], f) = Var(E[e|level]) Cov(e, f), to first order)."""
    xr, c = x[rows], codes
    step = max(1, len(c) // PROBIT_MAX_ROWS)
    beta, thresholds = _ordinal_probit(xr[::step], c[::step], shares)
    g = _generalised_residuals(xr @ beta, c, thresholds)
    return _Latent(name, kind, beta, 1.0, tuple(float(t) for t in thresholds)), g / max(float((g ** 2).mean()), 0.05)


def _residual_correlation(residuals: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """The latents' residual correlation: pairwise over patients recorded on both (``residuals`` 0 where not
    recorded, each of unit variance on the latent scale), shrunk towards the identity and made positive definite."""
    m = recorded.astype(np.float32)
    pairs = (m.T @ m).astype(np.float64)
    correlation = np.clip((residuals.T @ residuals).astype(np.float64) / np.maximum(pairs, 1), -0.99, 0.99)
    correlation[pairs < MIN_PAIR_PATIENTS] = 0.0
    correlation = (1 - SHRINKAGE) * correlation + SHRINKAGE * np.eye(len(correlation))
    np.fill_diagonal(correlation, 1.0)
    values, vectors = np.linalg.eigh(correlation)
    fixed = (vectors * np.maximum(values, 1e-4)) @ vectors.T
    d = np.sqrt(np.diag(fixed))
    return fixed / np.outer(d, d)


@dataclass
class _Group:
    columns: list[_Column]
    design: dict
    latents: list[_Latent]
    cholesky: np.ndarray  # of the residual correlation
    patients: int


class WideModel:
    """The extra columns' model: one latent Gaussian regression with a Gaussian copula per cancer type (see the
    module docstring), scikit-learn style (``fit``, learned state in attributes ending with ``_``).

    Saved whole (cloudpickle) by :mod:`synth.model_store`, which pins and authenticates it like SDV's files; it
    holds quantiles, level shares, coefficients and correlations of groups of at least ``MIN_GROUP_PATIENTS``
    real patients, no training row."""

    _synthesizer_id = "harmonie-wide-columns"  # what SDV's loader looks for before giving an id of its own

    def __init__(self, columns: dict[str, str], k: int = 0):
        self.columns = dict(columns)  # {name: sdtype}, in the training table's order
        self.k = k
        self.groups_: dict[str, _Group] = {}
        self.never_recorded_: dict[str, list[str]] = {}

    def fit(self, patients: pd.DataFrame) -> WideModel:
        """Learn from the training patients (core, survival and extra columns); deterministic (no random draw)."""
        cancers = patients["cancer_type"].astype(str)
        recorded = patients[list(self.columns)].notna().groupby(cancers.to_numpy()).any()
        # a column no training patient of a cancer has (a lung biomarker for breast cancer) stays empty for it,
        # whichever model draws the cancer
        self.never_recorded_ = {str(c): [n for n in self.columns if not recorded.loc[c, n]] for c in recorded.index}
        sizes = cancers.value_counts().sort_index()
        names = [c for c in sizes.index if sizes[c] >= MIN_GROUP_PATIENTS]
        if len(names) < len(sizes):
            names.append(POOLED)
        for name in names:
            rows = (cancers == name).to_numpy() if name != POOLED else ~cancers.isin(names).to_numpy()
            if name == POOLED and rows.sum() < MIN_GROUP_PATIENTS:
                rows = np.ones(len(patients), bool)  # too few outside the large cancers: learn from everyone
            self.groups_[name] = self._fit_group(patients[rows].reset_index(drop=True))
        return self

    def _fit_group(self, p: pd.DataFrame) -> _Group:
        x, design = _design(p)
        columns = [_describe(name, sdtype, p[name], self.k) for name, sdtype in self.columns.items()]
        width = sum((not c.absent and not c.constant) + c.missing for c in columns)
        residuals = np.zeros((len(p), width), dtype=np.float32)  # float32: 100,000 patients x 700 is 280 MB
        seen = np.ones((len(p), width), dtype=bool)
        with threadpool_limits(1):  # hundreds of small solves: one BLAS thread is several times faster
            latents, _ = self._fit_latents(x, p, columns, residuals, seen)
        correlation = _residual_correlation(residuals, seen) if width else np.zeros((0, 0))
        return _Group(columns, design, latents, np.linalg.cholesky(correlation), len(p))

    @staticmethod
    def _fit_latents(x: np.ndarray, p: pd.DataFrame, columns: list[_Column], residuals: np.ndarray,
                     seen: np.ndarray) -> tuple[list[_Latent], int]:
        """Each column's latent regressions, their residuals written into ``residuals`` (and ``seen``)."""
        latents, j = [], 0
        for column in columns:
            if column.absent:
                continue
            values = p[column.name]
            rows = values.notna().to_numpy()
            if not column.constant:
                if column.levels:
                    latent, residual = _level_latent(x, _codes(column, values[rows]), np.asarray(column.shares),
                                                     rows, column.name, "levels")
                else:
                    latent, residual = _number_latent(x, values, rows, column.name)
                latents.append(latent)
                residuals[rows, j], seen[:, j] = residual, rows
                j += 1
            if column.missing:
                everyone = np.ones(len(p), bool)
                latent, residual = _level_latent(x, (~rows).astype(int), np.array([1 - column.missing_share,
                                                                                    column.missing_share]),
                                                 everyone, column.name, "missing")
                latents.append(latent)
                residuals[:, j] = residual
                j += 1
        return latents, j

    def sample(self, patients: pd.DataFrame, seed: int) -> pd.DataFrame:
        """The extra columns of synthetic ``patients`` (core columns and survival sampled), in their order."""
        if not self.groups_:
            raise HarmonieError("the wide-column model is not fitted")
        out = {name: np.full(len(patients), None, dtype=object) for name in self.columns}
        cancers = patients["cancer_type"].astype(str)
        groups = cancers.where(cancers.isin(self.groups_), POOLED).to_numpy()
        for index, name in enumerate(sorted(self.groups_)):
            rows = np.flatnonzero(groups == name)
            rng = np.random.default_rng([seed, 29, index])
            for start in range(0, len(rows), CHUNK_ROWS):  # bounded memory; the same draws for one seed
                chunk = rows[start:start + CHUNK_ROWS]
                part = self._sample_group(self.groups_[name], patients.iloc[chunk].reset_index(drop=True), rng)
                for column, values in part.items():
                    out[column][chunk] = values
        for cancer, names in self.never_recorded_.items():
            for column in names:
                out[column][cancers.to_numpy() == cancer] = None
        return with_extra_dtypes(pd.DataFrame(out, index=patients.index), self.columns)

    @staticmethod
    def _sample_group(group: _Group, p: pd.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
        x, _ = _design(p, group.design)
        noise = rng.standard_normal((len(p), len(group.latents))) @ group.cholesky.T
        out, j = {}, 0
        for column in group.columns:
            if column.absent:
                out[column.name] = np.full(len(p), None, dtype=object)
                continue
            if column.constant:
                values = np.full(len(p), column.levels[0], dtype=object)
            elif column.levels:
                latent = group.latents[j]
                score = x @ latent.beta + noise[:, j]
                j += 1
                values = np.asarray(column.levels, dtype=object)[np.searchsorted(np.asarray(latent.thresholds), score)]
            else:
                latent = group.latents[j]
                score = x @ latent.beta + latent.scale * noise[:, j]
                j += 1
                values = np.round(np.interp(ndtr(score), np.linspace(0, 1, KNOTS), np.asarray(column.knots)),
                                  column.decimals).astype(object)
            if column.missing:
                empty = group.latents[j]
                values[np.searchsorted(np.asarray(empty.thresholds), x @ empty.beta + noise[:, j]) == 1] = None
                j += 1
            out[column.name] = values
        return out

    def summary(self) -> dict:
        """What the manifest records: groups, their sizes, the covariates and how many latents each models."""
        return {"method": "latent Gaussian regression (ordinal probits for levels) with a Gaussian copula per "
                          "cancer type, after survival (synth/wide.py)",
                "columns": self.columns, "top_coding_k": self.k,
                "groups": {name: {"patients": g.patients, "covariates": g.design["columns"], "latents": len(g.latents),
                                  "columns_not_drawn": sum(c.absent for c in g.columns)}
                           for name, g in sorted(self.groups_.items())}}

    def save(self, path: str) -> None:
        import cloudpickle

        with open(path, "wb") as f:
            cloudpickle.dump(self, f)


def fit_wide(patients: pd.DataFrame, columns: dict[str, str], *, k: int = 0) -> WideModel:
    """The model of the extra ``columns`` ({name: sdtype}) of the (coded) training ``patients``; ``k`` is the
    top-coding threshold (:class:`synth.topcoding.TopCoding`, 0 or 1 for none)."""
    if not columns:
        raise HarmonieError("no extra column to model")
    return WideModel(columns, k).fit(patients)
