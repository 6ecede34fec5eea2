"""Membership inference on the full sets: can the replica tell its training patients from other patients?

Targets are every training patient (members) and every control patient (non-members); on
very large sets, a sample of ``max_targets`` per side, drawn stratified by cancer type under
the gate's secret seed (large enough that the interval stays far narrower than its limit).
Each attack scores every target (higher = "more likely a member") and is summarised by the
ROC AUC of members against non-members with DeLong's 95% interval (:mod:`privacy.risk.roc`):
0.5 is a coin, and what the replica teaches about the population does not move it, since
members and non-members come from the same population.

Three attacks, each with its attacker model (:mod:`privacy.risk.attacker_models`):

- **cell frequency**, the attack this design invites. The generator fits one copula per
  cancer x subtype x stage stratum (:mod:`synth.generators`), and each reproduces its
  training patients' frequencies of the other columns, département first. An attacker who
  knows a patient's cancer, subtype, stage and département compares the replica's count in
  that cell with the count expected from the replica's count for the stratum times the
  département's share of the population; a member's cell holds at least one training
  patient, so the copula tends to put more replica records in it. The population shares
  are what an attacker gets from published statistics (registries, INSEE); the gate
  estimates them from every real patient it holds (training and control pooled: the same
  for members and non-members, and only ever the shares of the non-stratum columns, never a
  cell count).
- **density ratio** (DOMIAS, van Breugel et al., AISTATS 2023): the replica's density at the
  target over a reference population's, both by Gaussian kernel density estimation in the
  encoded space. A generator that overfits raises its density at its training points above
  the population's. The reference is the control set, each control target left out of its
  own reference density (so no target ever counts itself); the bandwidth maximises the
  likelihood of the reference under the replica's density (held-out likelihood: data the
  attacker has).
- **distance to closest record**: minus the distance from the target to the closest replica
  record; members sit closer when the generator memorises.

Encoding (the attacker's, fitted on the replica alone): each number by its empirical
distribution function (ranks in [0, 1], robust to skew and outliers) with missing values as
an indicator of their own; each category one-hot over sqrt(2), so two records differing on
one category are at distance 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmonie.errors import HarmonieError
from privacy.risk import attacker_models
from privacy.risk.features import CATEGORICAL, COLUMNS, MISSING_NUMBER
from privacy.risk.roc import delong_auc, roc_curve, tpr_at_fpr

CELL_QUASI_IDENTIFIERS = ("cancer_type", "subtype", "stage", "departement")
GENERATOR_STRATA = ("cancer_type", "subtype", "stage")  # the finest strata of synth.generators.GROUPS
LOW_FPR = 0.01
MIN_TARGETS_PER_CANCER = 20  # fewer members or non-members of a cancer and no per-cancer AUC is given
SMOOTHING = 0.5  # added to observed and expected counts: empty cells stay finite, small ones are not overstated
BANDWIDTHS = tuple(float(h) for h in np.geomspace(0.05, 1.0, 14))  # in the encoded space (ranks, categories at 1)
_BANDWIDTH_PROBES = 1000
_BLOCK_CELLS = 2 ** 22  # distance-matrix entries per block (16 MB of float32)


@dataclass(frozen=True)
class MembershipSettings:
    """What the membership attacks assume and how many targets they score."""

    quasi_identifiers: tuple[str, ...] = CELL_QUASI_IDENTIFIERS
    """Columns the cell-frequency attacker knows about a target."""
    max_targets: int = 20_000
    """Targets per side (members, non-members); a side larger than this is sampled, stratified by cancer."""
    max_replica_rows: int = 50_000
    """Replica records the density and distance attacks search (a sample beyond this; the cell counts use all)."""

    def __post_init__(self):
        unknown = [c for c in self.quasi_identifiers if c not in COLUMNS]
        if not self.quasi_identifiers or unknown:
            raise HarmonieError(f"membership quasi-identifiers must be attack columns ({', '.join(COLUMNS)}); "
                                f"got {', '.join(unknown) or 'none'}")
        if len(set(self.quasi_identifiers)) != len(self.quasi_identifiers):
            raise HarmonieError("membership quasi-identifiers are listed twice")
        for name in ("max_targets", "max_replica_rows"):
            if getattr(self, name) < 100:
                raise HarmonieError(f"membership {name} must be at least 100")


def _stratified_sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """At most ``rows`` rows, each cancer type keeping its share (largest remainders), under ``seed``."""
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    shares = frame["cancer_type"].value_counts().sort_index() * rows / len(frame)
    quota = np.floor(shares).astype(int)
    quota[(shares - quota).sort_values(ascending=False, kind="stable").index[:rows - quota.sum()]] += 1
    parts = [frame[frame["cancer_type"] == cancer].sample(int(n), random_state=seed + i)
             for i, (cancer, n) in enumerate(quota.items()) if n > 0]
    return pd.concat(parts).reset_index(drop=True)


def _summary(members: np.ndarray, non_members: np.ndarray) -> dict:
    auc = delong_auc(members, non_members)
    return {"auc": round(auc["auc"], 4), "ci": [round(v, 4) for v in auc["ci"]], "se": round(auc["se"], 5),
            "members": auc["members"], "non_members": auc["non_members"],
            f"tpr_at_fpr_{LOW_FPR:g}": round(tpr_at_fpr(members, non_members, LOW_FPR), 4),
            "roc": roc_curve(members, non_members)}


def _keys(frame: pd.DataFrame, columns) -> pd.Series:
    if not columns:
        return pd.Series(0, index=frame.index, dtype=np.uint64)
    return pd.util.hash_pandas_object(frame[list(columns)], index=False)


def _cell_sources(quasi_identifiers) -> tuple[list[str], list[str]]:
    from_replica = [c for c in quasi_identifiers if c in GENERATOR_STRATA]
    from_population = [c for c in quasi_identifiers if c not in GENERATOR_STRATA]
    return (from_replica, from_population) if from_population else ([], list(quasi_identifiers))


def cell_frequency_scores(targets: pd.DataFrame, replica: pd.DataFrame, population: pd.DataFrame,
                          quasi_identifiers=CELL_QUASI_IDENTIFIERS) -> np.ndarray:
    """Per target: log of (replica count in its cell + s) over (expected count + s), s = :data:`SMOOTHING`.

    Expected = the replica's count for the target's generator-stratum columns (those of
    ``quasi_identifiers`` the generator stratifies on) times the population share of the
    other columns; when all or none of them are stratum columns, the replica's size times
    the population share of the whole cell.
    """
    quasi_identifiers = list(quasi_identifiers)
    from_replica, from_population = _cell_sources(quasi_identifiers)
    cell_counts = _keys(replica, quasi_identifiers).value_counts()
    observed = _keys(targets, quasi_identifiers).map(cell_counts).fillna(0).to_numpy(np.float64)
    stratum_counts = _keys(replica, from_replica).value_counts()
    in_stratum = _keys(targets, from_replica).map(stratum_counts).fillna(0).to_numpy(np.float64)
    share = _keys(targets, from_population).map(_keys(population, from_population).value_counts(normalize=True))
    expected = in_stratum * share.fillna(0).to_numpy(np.float64)
    return np.log((observed + SMOOTHING) / (expected + SMOOTHING))


class _Encoding:
    """The attacker's encoding, fitted on the replica: ranks for numbers (plus a missing flag), one-hot categories.

    Under a Gaussian kernel of bandwidth h in this space, each rank is a continuous
    dimension and each flag or category a discrete one whose kernel weighs a mismatch
    ``exp(-1 / (2 h^2))``; :meth:`log_normaliser` is what makes that kernel a density for
    each h, so bandwidths can be compared by likelihood.
    """

    def __init__(self, replica: pd.DataFrame):
        self.numerical = [c for c in replica.columns if c not in CATEGORICAL]
        self.observed = {c: np.sort(replica[c].to_numpy()[replica[c].to_numpy() != MISSING_NUMBER])
                         for c in self.numerical}
        self.categories = {c: sorted(set(replica[c])) for c in CATEGORICAL if c in replica.columns}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for column in self.numerical:
            values, known = frame[column].to_numpy(), self.observed[column]
            missing = values == MISSING_NUMBER
            rank = ((np.searchsorted(known, values, "left") + np.searchsorted(known, values, "right"))
                    / (2 * len(known)) if len(known) else np.full(len(values), 0.5))
            parts += [np.where(missing, 0.5, rank)[:, None], missing[:, None].astype(np.float64)]
        for column, values in self.categories.items():  # a category absent from the replica: all zeros
            codes = pd.Categorical(frame[column], categories=values).codes
            onehot = np.zeros((len(frame), len(values)))
            onehot[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1 / np.sqrt(2)
            parts.append(onehot)
        return np.hstack(parts)

    def log_normaliser(self, bandwidth: float) -> float:
        discrete = [2] * len(self.numerical) + [len(v) for v in self.categories.values()]
        mismatch = np.exp(-1 / (2 * bandwidth ** 2))
        return float(-len(self.numerical) * np.log(bandwidth) - sum(np.log1p((k - 1) * mismatch) for k in discrete))


class _Cloud:
    """Points in float32 with their squared norms, computed once (half the memory and time of float64; the
    kernels and nearest neighbours need no more precision)."""

    def __init__(self, points: np.ndarray):
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.norms = (self.points ** 2).sum(axis=1)

    def __len__(self) -> int:
        return len(self.points)

    def blocks(self, queries: "_Cloud"):
        """(rows of ``queries``, their squared distances to every point), a bounded block at a time."""
        step = max(16, _BLOCK_CELLS // max(len(self), 1))
        for start in range(0, len(queries), step):
            rows = slice(start, min(start + step, len(queries)))
            d2 = queries.norms[rows, None] + self.norms[None, :] - 2 * (queries.points[rows] @ self.points.T)
            yield rows, np.maximum(d2, 0, out=d2)


def closest_distances(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance from each query row to its closest reference row."""
    out = np.empty(len(queries))
    for rows, d2 in _Cloud(reference).blocks(_Cloud(queries)):
        out[rows] = np.sqrt(d2.min(axis=1))
    return out


def _log_mean_kernel(squared: np.ndarray, bandwidth: float, n: np.ndarray) -> np.ndarray:
    """log(mean over columns of exp(-squared / (2 h^2))), row by row, without overflow (``squared`` is spent)."""
    scaled = np.multiply(squared, np.float32(-0.5 / bandwidth ** 2), out=squared)
    top = scaled.max(axis=1, keepdims=True)
    scaled -= top
    np.exp(scaled, out=scaled)
    with np.errstate(divide="ignore"):
        return np.log(scaled.sum(axis=1, dtype=np.float64)) + top[:, 0].astype(np.float64) - np.log(n)


def _leave_out(d2: np.ndarray, own_rows: np.ndarray | None, n_points: int) -> np.ndarray:
    """Drop each query's own point (``own_rows[i]`` >= 0) from ``d2``; the number of points left per query."""
    n = np.full(len(d2), float(n_points))
    if own_rows is not None:
        rows = np.flatnonzero(own_rows >= 0)
        d2[rows, own_rows[rows]] = np.inf
        n[rows] -= 1
    return n


def log_density(queries: np.ndarray, points: np.ndarray, bandwidth: float, *, leave_out: np.ndarray | None = None
                ) -> np.ndarray:
    """Log Gaussian-kernel density of ``points`` at each query (up to a constant shared by every density of this
    bandwidth and dimension). ``leave_out[i]`` (>= 0) is a row of ``points`` to leave out of query i's sum."""
    out = np.empty(len(queries))
    for rows, d2 in _Cloud(points).blocks(_Cloud(queries)):
        n = _leave_out(d2, None if leave_out is None else leave_out[rows], len(points))
        out[rows] = _log_mean_kernel(d2, bandwidth, n)
    return out


def choose_bandwidth(encoding: _Encoding, replica: np.ndarray, reference: np.ndarray, seed: int) -> float:
    """The bandwidth under which the replica's density gives the reference sample the highest likelihood (held-out
    likelihood: chosen from data the attacker holds, never from who is a member)."""
    probe = reference[np.random.default_rng([seed, 11]).permutation(len(reference))[:_BANDWIDTH_PROBES]]
    total = dict.fromkeys(BANDWIDTHS, 0.0)
    for _, d2 in _Cloud(replica).blocks(_Cloud(probe)):  # each distance block once, for every bandwidth
        n = np.full(len(d2), float(len(replica)))
        for h in BANDWIDTHS:
            total[h] += float(_log_mean_kernel(d2.copy(), h, n).sum())
    likelihood = {h: total[h] / len(probe) + encoding.log_normaliser(h) for h in BANDWIDTHS}
    return float(max(likelihood, key=likelihood.get))


def _by_cancer(scores: np.ndarray, cancer: np.ndarray, is_member: np.ndarray) -> dict:
    out = {}
    for value in sorted(set(cancer)):
        members, non_members = scores[(cancer == value) & is_member], scores[(cancer == value) & ~is_member]
        if min(len(members), len(non_members)) < MIN_TARGETS_PER_CANCER:
            out[value] = {"members": len(members), "non_members": len(non_members), "auc": None, "ci": None}
            continue
        auc = delong_auc(members, non_members)
        out[value] = {"auc": round(auc["auc"], 4), "ci": [round(v, 4) for v in auc["ci"]],
                      "members": len(members), "non_members": len(non_members)}
    return out


def _distance_scores(targets: pd.DataFrame, is_member: np.ndarray, replica: pd.DataFrame, seed: int):
    """Per target, minus the distance to the closest replica record and the DOMIAS log density ratio; the bandwidth.

    The reference population is the non-member targets, each left out of its own reference density. One pass
    over the target x replica distances serves both scores.
    """
    encoding = _Encoding(replica)
    replica_points, target_points = encoding.encode(replica), encoding.encode(targets)
    bandwidth = choose_bandwidth(encoding, replica_points, target_points[~is_member], seed)
    targets_cloud = _Cloud(target_points)
    nearest, on_replica, on_reference = (np.empty(len(targets)) for _ in range(3))
    for rows, d2 in _Cloud(replica_points).blocks(targets_cloud):
        nearest[rows] = -np.sqrt(d2.min(axis=1))
        on_replica[rows] = _log_mean_kernel(d2, bandwidth, np.full(len(d2), float(len(replica_points))))
    own_row = np.where(is_member, -1, np.cumsum(~is_member) - 1)  # a non-member's row among the reference points
    for rows, d2 in _Cloud(target_points[~is_member]).blocks(targets_cloud):
        on_reference[rows] = _log_mean_kernel(d2, bandwidth, _leave_out(d2, own_row[rows], int((~is_member).sum())))
    return nearest, on_replica - on_reference, bandwidth


def membership_metrics(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame,
                       settings: MembershipSettings = MembershipSettings(), *, seed: int) -> dict:
    """The three membership attacks on attack tables (:func:`privacy.risk.features.attack_table`), JSON-ready."""
    for name, frame in (("training", train), ("control", control), ("replica", synthetic)):
        if len(frame) < 2:
            raise HarmonieError(f"membership attacks need patients in the {name} set")
    members = _stratified_sample(train, settings.max_targets, seed)
    non_members = _stratified_sample(control, settings.max_targets, seed + 1)
    targets = pd.concat([members, non_members], ignore_index=True)
    is_member = np.arange(len(targets)) < len(members)
    cancer = targets["cancer_type"].to_numpy()

    population = pd.concat([train, control], ignore_index=True)
    cell = cell_frequency_scores(targets, synthetic, population, settings.quasi_identifiers)
    in_replica = _keys(targets, settings.quasi_identifiers).isin(
        set(_keys(synthetic, settings.quasi_identifiers))).to_numpy()  # a replica record in the target's cell

    searched = synthetic if len(synthetic) <= settings.max_replica_rows else synthetic.sample(
        settings.max_replica_rows, random_state=seed + 2)
    nearest, density, bandwidth = _distance_scores(targets, is_member, searched, seed)

    columns = list(train.columns)
    from_replica, from_population = _cell_sources(settings.quasi_identifiers)
    return {
        "targets": {"members": int(is_member.sum()), "non_members": int((~is_member).sum()),
                    "training_patients": len(train), "control_patients": len(control),
                    "sampled": bool(len(members) < len(train) or len(non_members) < len(control)),
                    "replica_records_searched": len(searched), "replica_records": len(synthetic)},
        "cell_frequency": {
            **_summary(cell[is_member], cell[~is_member]),
            "quasi_identifiers": list(settings.quasi_identifiers),
            "share_with_a_replica_record_in_their_cell": {
                "members": round(float(in_replica[is_member].mean()), 4),
                "non_members": round(float(in_replica[~is_member].mean()), 4)},
            "by_cancer": _by_cancer(cell, cancer, is_member),
            "attacker_model": attacker_models.cell_frequency(settings.quasi_identifiers, from_replica,
                                                             from_population)},
        "density_ratio": {**_summary(density[is_member], density[~is_member]), "bandwidth": round(bandwidth, 4),
                          "bandwidth_choice": "maximum held-out likelihood of the reference under the replica",
                          "attacker_model": attacker_models.density_ratio(columns)},
        "nearest_neighbour": {**_summary(nearest[is_member], nearest[~is_member]),
                              "attacker_model": attacker_models.nearest_neighbour(columns)},
    }
