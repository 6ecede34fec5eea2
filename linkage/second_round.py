"""The second round (linkage unit side): given names of the undecided pairs, under per-pair keys.

    first round (harmonie link) -> select the undecided pairs -> query (pairs of linkage ids)
        -> each holder: harmonie encode-pairs -> answers (per-pair keyed given-name filters)
        -> resolve: given-name levels, their m and u by EM on the queried pairs, rescore,
           one-to-one again -> links

Why: without given names, namesakes (same surname, birth date and sex, residence differs)
cannot be told apart, and field-level given-name filters give the commonest names away
(README, threat model). Per-pair keys (:mod:`linkage.encoding.pair_names`) give the linkage
unit one similarity per queried pair and nothing it can count across records.

**Selection** (:class:`Selection`, :func:`select_pairs`): a left record is *undecided* when
its best candidate's first-round probability is below ``decided`` (0.999), when it probably
has a match but no link, or when two or more of its candidates are each more likely than
not (identical SNDS records: one person's two ids, or two people the first round cannot
tell apart). Of each undecided record, the candidates with probability >=
``min_probability`` (0.02) are queried, most probable first, while no record is in more than
``max_per_record`` (10) pairs and no group of records joined by queried pairs grows beyond
``max_group`` (12): the holders' caps (:class:`linkage.encoding.pair_names.AnswerLimits`),
which bound what a linkage unit can learn about who shares a given name. Optionally
(``unlinked_top``, off by default: it bought under 0.0003 F1 on the simulations) the best
candidates of records left without a link are queried too, even below the assignment floor.
The query holds the pairs' linkage ids only, sorted by id: not the weights, not the order
of likelihood.

**Levels** (:func:`given_name_levels`): per pair, the Dice coefficient of the two holders'
balanced filters (the share of positions where they agree) of the first given name and of
all given names joined: all given names identical; the same first given name where one
side lists no other; the same first given name with other given names that differ; a first
given name equal to the other side's joined list (a lost hyphen); else the best of the
four crossings >= 0.8, >= 0.7, below. Unrelated names land near 0.5, a typo near 0.8.

**m and u** (:class:`GivenNameModel`). u from random pairs, as the first round estimates
it, is impossible: only queried pairs are encoded (and the non-matches that matter here are
namesakes, not random people). So m and u are estimated on the queried pairs themselves,
by EM with each pair's first-round probability as its prior. A left record's queried
candidates j have first-round probabilities P_j (their sum is at most one: a record has at
most one match); under the model, at most one of them is the match, with prior P_j, and
none with prior 1 - sum P_j. Given the given-name levels g_j, the posterior that j is the
match is

    r_j = P_j L_j / ((1 - sum_k P_k) + sum_k P_k L_k),   L_j = m(g_j) / u(g_j)

(E-step; a missing level has L = 1), and m(g) and u(g) are the level frequencies weighted
by r_j and 1 - r_j (M-step, with half a pair per level as a pseudo-count). The first round's
probabilities vary from pair to pair and, within a record, add up to at most one, which
identifies m and u (if every pair had P = 0.5, only m + u would be); the at-most-one
constraint does most of the work: two namesakes of which exactly one shares the given name
is what high m and low u predict. The estimate assumes the first-round probabilities are
calibrated and that, given match status, given-name agreement is independent of the first
round's evidence (as every Fellegi-Sunter comparison does).

**Rescoring**: each queried pair's match weight gains log2(m/u) at its level; every other
considered pair (probability >= the assignment floor) keeps its weight (given names
missing: neutral); the one-to-one decision, threshold and grey zone are re-run on all of
them with :func:`linkage.decide.decide`, and the links are written as the first round
writes them, with a ``level_given_names`` column.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harmonie.errors import HarmonieError
from harmonie.io import ensure_output_dir, write_parquet, write_text
from harmonie.progress import stage
from linkage.decide import ASSIGNMENT_FLOOR, Decision, decide
from linkage.encoded_arrays import EncodedRecords
from linkage.encoding.encoded_file import read_encoded
from linkage.encoding.pair_names import (
    MAX_GROUP,
    MAX_PAIRS_PER_RECORD,
    PAIR_BLOOM,
    PAIR_FIELDS,
    PairAnswer,
    PairQuery,
    QueryGroups,
)
from linkage.kernels import dice_pairs, popcounts
from linkage.model import FellegiSunter
from linkage.plan import LinkPlan
from linkage.scoring import identity_signatures
from linkage.spec import Spec

FIRST_ROUND_FORMAT = "harmonie-first-round"
FIRST_ROUND_VERSION = 1
GIVEN_NAME_LEVELS = ("all given names identical", "same first given name (one side has no other)",
                     "same first given name, other given names differ", "first given name = all given names (crossed)",
                     "Dice >= 0.8", "Dice >= 0.7", "Dice < 0.7")
IDENTICAL = 0.99   # balanced filters of equal names agree on every position (Dice 1)
THRESHOLDS = (0.8, 0.7)
PSEUDO_COUNT = 0.5


@dataclass(frozen=True)
class Selection:
    """Which first-round pairs are undecided enough to ask for given names (module docstring)."""

    decided: float = 0.999
    min_probability: float = 0.02
    max_per_record: int = MAX_PAIRS_PER_RECORD
    max_group: int = MAX_GROUP
    unlinked_top: int = 0
    unlinked_min_pair_probability: float = 0.001

    def validate(self) -> "Selection":
        if not 0 < self.decided <= 1 or not 0 < self.min_probability < 1 \
                or not 0 < self.unlinked_min_pair_probability < 1:
            raise HarmonieError("decided, min_probability and unlinked_min_pair_probability must be probabilities")
        if self.unlinked_top < 0:
            raise HarmonieError("unlinked_top must be zero or more")
        if self.max_per_record < 1 or self.max_group < 2:
            raise HarmonieError("max_per_record must be at least 1 and max_group at least 2")
        return self


# --------------------------------------------------------------------------- the first round's state


@dataclass
class FirstRound:
    """What the linkage unit keeps between the rounds (never sent to a holder): the considered
    pairs of the first round with their weights, probabilities and levels, and which were queried."""

    pairs: pa.Table
    metadata: dict

    @property
    def query(self) -> PairQuery:
        queried = self.pairs.filter(self.pairs["queried"])
        m = self.metadata
        left, right = queried["left_id"].to_pylist(), queried["right_id"].to_pylist()
        order = sorted(range(len(left)), key=lambda k: (left[k], right[k]))
        return PairQuery([left[k] for k in order], [right[k] for k in order], m["spec_name"], m["spec_hash"],
                         m["key_fingerprint"], m["left_holder"], m["right_holder"])

    def save(self, path: str | Path) -> Path:
        document = {"format": FIRST_ROUND_FORMAT, "format_version": FIRST_ROUND_VERSION, **self.metadata}
        metadata = dict(self.pairs.schema.metadata or {})
        metadata[b"harmonie"] = json.dumps(document, sort_keys=True).encode("utf-8")
        return write_parquet(self.pairs.replace_schema_metadata(metadata), path)

    @classmethod
    def load(cls, path: str | Path) -> "FirstRound":
        path = Path(path)
        if not path.is_file():
            raise HarmonieError(f"first-round file {path} not found (written by `harmonie query-pairs`)")
        try:
            table = pq.read_table(path)
            document = json.loads((table.schema.metadata or {}).get(b"harmonie", b"null"))
        except (pa.ArrowInvalid, OSError, json.JSONDecodeError, UnicodeDecodeError):
            raise HarmonieError(f"{path} is not a readable first-round file") from None
        if not isinstance(document, dict) or document.get("format") != FIRST_ROUND_FORMAT:
            raise HarmonieError(f"{path} is not a first-round file (written by `harmonie query-pairs`)")
        if document.get("format_version") != FIRST_ROUND_VERSION:
            raise HarmonieError(f"{path} is a first-round file of another version")
        return cls(table, {k: v for k, v in document.items() if k not in ("format", "format_version")})


def record_probabilities(left_rows: np.ndarray, weights: np.ndarray, prior_weight: float, n_right: int,
                         decision: Decision) -> np.ndarray:
    """Each pair's first-round probability of being its left record's match, also for pairs below the
    assignment floor, which the decision left out: (pi / n_right) LR / D, where the record's
    denominator D = (1 - pi) / (1 - P(record has a match)) is the decision's (:mod:`linkage.decide`)."""
    prior = decision.record_prior
    has_match = np.zeros(int(left_rows.max(initial=-1)) + 1)
    inside = prior.rows < len(has_match)
    has_match[prior.rows[inside]] = prior.has_match[inside]
    share = min(max(prior.share, 1e-12), 1 - 1e-12)
    log2_p = (np.log2(share / n_right) + weights - prior_weight + np.log2(1.0 - has_match[left_rows])
              - np.log2(1.0 - share))
    return np.minimum(np.exp2(log2_p), 1.0)


def select_pairs(left_rows: np.ndarray, right_rows: np.ndarray, weights: np.ndarray, probability: np.ndarray,
                 decision: Decision, selection: Selection = Selection()) -> np.ndarray:
    """Boolean mask over candidate pairs (ascending left row): the pairs to query (module docstring).

    ``probability``: each pair's first-round probability for its left record
    (:func:`record_probabilities`); ``decision`` the first round's (over the same pairs).
    """
    selection.validate()
    n = len(left_rows)
    if n == 0:
        return np.zeros(0, dtype=bool)
    n_left = int(left_rows.max()) + 1
    considered = FellegiSunter.probability(weights) >= ASSIGNMENT_FLOOR
    p = np.where(considered, probability, 0.0)
    best = np.zeros(n_left)
    np.maximum.at(best, left_rows, p)
    likely = np.bincount(left_rows, weights=(p >= 0.5).astype(float), minlength=n_left)
    linked = np.zeros(n_left, dtype=bool)
    linked[decision.linked_left_rows] = True
    has_match = np.zeros(n_left)
    has_match[decision.record_prior.rows] = decision.record_prior.has_match
    undecided = (best < selection.decided) | (likely >= 2) | ((has_match >= 0.5) & ~linked)
    wanted = undecided[left_rows] & considered & (p >= selection.min_probability)
    # records left without a link: their best candidates, even below the assignment floor (a
    # given name shared may lift them), up to unlinked_top, at a pair-level probability floor
    if selection.unlinked_top:
        order = np.lexsort((np.arange(n), -weights, left_rows))
        rank = np.empty(n, dtype=np.int64)
        first = np.r_[True, left_rows[order][1:] != left_rows[order][:-1]]
        rank[order] = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))
        wanted |= (~linked[left_rows] & (rank < selection.unlinked_top)
                   & (FellegiSunter.probability(weights) >= selection.unlinked_min_pair_probability))
    # most probable first: at most max_per_record pairs per record, at most max_group records joined
    # by pairs (the holders' caps, so an honest query is never refused)
    chosen = np.zeros(n, dtype=bool)
    count: dict[tuple[str, int], int] = {}
    groups = QueryGroups()
    candidates = np.flatnonzero(wanted)
    for k in candidates[np.lexsort((candidates, -weights[candidates], -probability[candidates]))]:
        a, b = ("L", int(left_rows[k])), ("R", int(right_rows[k]))
        if (count.get(a, 0) < selection.max_per_record and count.get(b, 0) < selection.max_per_record
                and groups.size_if_joined(a, b) <= selection.max_group):
            chosen[k] = True
            groups.join(a, b)
            count[a], count[b] = count.get(a, 0) + 1, count.get(b, 0) + 1
    return chosen


def first_round(spec: Spec, left_path: str | Path, right_path: str | Path, *, model: FellegiSunter | None = None,
                threshold: float | None = None, selection: Selection = Selection()) -> tuple[FirstRound, dict]:
    """Run the first round (:func:`linkage.link.link`; with ``model``, e.g. the link run's model.json,
    the same weights without EM) and select the pairs to query. Returns the state to keep and
    the first round's summary."""
    from linkage.link import link

    result = link(spec, left_path, right_path, threshold=threshold, model=model)
    if result.model is None:
        raise HarmonieError(f"the first round linked nothing: {result.summary.get('status')}")
    with stage("select the undecided pairs"):
        right = EncodedRecords.from_table(read_encoded(right_path).table)
        c, n_left, n_right = result.candidates, len(result.left_ids), len(result.right_ids)
        signatures = identity_signatures(right, np.arange(n_right))
        plan = LinkPlan(spec, threshold=threshold, model=result.model)
        decision = plan.decide(result.model, c.left, c.right, result.weights, n_left, n_right, signatures[c.right])
        probability = record_probabilities(c.left, result.weights, result.model.prior_weight, n_right, decision)
        queried = select_pairs(c.left, c.right, result.weights, probability, decision, selection)
        kept = np.flatnonzero((FellegiSunter.probability(result.weights) >= ASSIGNMENT_FLOOR) | queried)
        linked = np.zeros(len(c.left), dtype=bool)
        linked[decision.linked] = True
        li, ri = c.left[kept], c.right[kept]
        names = [cmp.name for cmp in result.model.comparisons]
        pairs = pa.table({
            "left_row": pa.array(li.astype(np.int32)), "right_row": pa.array(ri.astype(np.int32)),
            "left_id": result.left_ids.take(pa.array(li.astype(np.int64))),
            "right_id": result.right_ids.take(pa.array(ri.astype(np.int64))),
            "match_weight": pa.array(result.weights[kept], pa.float64()),
            "match_probability": pa.array(probability[kept], pa.float64()),
            "right_signature": pa.array(signatures[ri], pa.uint64()),
            **{f"level_{name}": pa.array(result.levels[kept, j], pa.int8()) for j, name in enumerate(names)},
            "linked_first_round": pa.array(linked[kept]), "queried": pa.array(queried[kept])})
    summary = result.summary
    metadata = {"spec_name": spec.name, "spec_hash": spec.hash, "key_fingerprint": summary["key_fingerprint"],
                "left_holder": summary["left"]["holder"], "right_holder": summary["right"]["holder"],
                "n_left": n_left, "n_right": n_right, "prior_weight": result.model.prior_weight,
                "comparisons": names, "threshold": threshold, "selection": asdict(selection),
                "first_round": summary}
    state = FirstRound(pairs, metadata)
    query = state.query
    state.metadata["query_sha256"] = query.sha256
    state.metadata["queried"] = {"pairs": len(query), "left_records": len(set(query.left_ids)),
                                 "right_records": len(set(query.right_ids))}
    return state, summary


# --------------------------------------------------------------------------- levels and the model


def _filter_words(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray]:
    column = table[name].combine_chunks()
    width = column.type.byte_width
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)[column.offset * width:(column.offset + len(column))
                                                              * width].reshape(len(column), width)
    present = column.is_valid().to_numpy(zero_copy_only=False)
    words = np.ascontiguousarray(np.where(present[:, None], data, 0)).view(np.uint64)
    return words, popcounts(words)


def given_name_levels(left: PairAnswer, right: PairAnswer) -> np.ndarray:
    """int8 level per queried pair (see :data:`GIVEN_NAME_LEVELS`; -1 when either side has no given name).

    Both holders' filters of a pair share the pair's key, so each holder's first given name
    compares with its own full list too: a side whose list is its first given name alone (a
    hospital that records only that one, or a person with one given name) cannot confirm
    or contradict the other given names.
    """
    n = left.table.num_rows
    rows = np.arange(n, dtype=np.int64)
    first, every = PAIR_FIELDS
    filters = [{f: _filter_words(answer.table, f) for f in PAIR_FIELDS} for answer in (left, right)]

    def similarity(a: dict, af: str, b: dict, bf: str) -> np.ndarray:
        (aw, ao), (bw, bo) = a[af], b[bf]
        return dice_pairs(aw, bw, ao, bo, rows, rows)

    lf, rf = filters
    same_first = similarity(lf, first, rf, first) >= IDENTICAL
    same_all = similarity(lf, every, rf, every) >= IDENTICAL
    single = (similarity(lf, first, lf, every) >= IDENTICAL) | (similarity(rf, first, rf, every) >= IDENTICAL)
    best = np.maximum.reduce([similarity(lf, a, rf, b) for a in PAIR_FIELDS for b in PAIR_FIELDS])
    out = np.full(n, len(GIVEN_NAME_LEVELS) - 1, dtype=np.int8)
    for level, hit in ((5, best >= THRESHOLDS[1]), (4, best >= THRESHOLDS[0]), (3, best >= IDENTICAL),
                       (2, same_first), (1, same_first & single), (0, same_all)):
        out[hit] = level
    out[best < 0] = -1
    return out


class GivenNameModel:
    """m and u of the given-name levels, by EM on the queried pairs with first-round priors
    (module docstring). Learned state: ``m_``, ``u_``, ``n_iter_``, ``converged_``."""

    def __init__(self, labels: tuple[str, ...] = GIVEN_NAME_LEVELS, *, max_iterations: int = 500,
                 tolerance: float = 1e-9):
        self.labels, self.max_iterations, self.tolerance = labels, max_iterations, tolerance

    def fit(self, levels: np.ndarray, prior: np.ndarray, groups: np.ndarray) -> "GivenNameModel":
        """``levels`` per pair, ``prior`` its first-round probability, ``groups`` its left record."""
        k = len(self.labels)
        m = np.linspace(1.0, 0.05, k)
        u = m[::-1].copy()
        m, u = m / m.sum(), u / u.sum()
        _, group = np.unique(groups, return_inverse=True)
        total = np.bincount(group, weights=prior)
        prior = prior / np.maximum(total, 1.0)[group]   # identical right records may push a sum above one
        none = np.maximum(1.0 - np.bincount(group, weights=prior), 0.0)
        observed = levels >= 0
        one_hot = np.zeros((len(levels), k))
        one_hot[np.flatnonzero(observed), levels[observed]] = 1.0
        self.converged_, self.n_iter_ = False, 0
        for self.n_iter_ in range(1, self.max_iterations + 1):
            ratio = np.where(observed, m[np.maximum(levels, 0)] / u[np.maximum(levels, 0)], 1.0)
            evidence = prior * ratio
            responsibility = evidence / (none + np.bincount(group, weights=evidence))[group]
            new_m = responsibility @ one_hot + PSEUDO_COUNT
            new_u = (1.0 - responsibility) @ one_hot + PSEUDO_COUNT
            new_m, new_u = new_m / new_m.sum(), new_u / new_u.sum()
            change = max(np.abs(new_m - m).max(), np.abs(new_u - u).max())
            m, u = new_m, new_u
            if change < self.tolerance:
                self.converged_ = True
                break
        self.m_, self.u_ = m, u
        self.posterior_ = responsibility
        return self

    @property
    def level_weights_(self) -> np.ndarray:
        return np.log2(self.m_ / self.u_)

    def weights(self, levels: np.ndarray) -> np.ndarray:
        """log2(m/u) per pair at its level, 0 when missing."""
        return np.where(levels >= 0, self.level_weights_[np.maximum(levels, 0)], 0.0)

    def to_dict(self) -> dict:
        return {"comparison": "given_names", "kind": "per-pair keyed Dice",
                "estimator": "EM on the queried pairs, first-round probabilities as priors",
                "em_iterations": self.n_iter_, "em_converged": self.converged_,
                "levels": [{"label": label, "m": float(m), "u": float(u), "weight": float(w)}
                           for label, m, u, w in zip(self.labels, self.m_, self.u_, self.level_weights_)]}


# --------------------------------------------------------------------------- resolve


@dataclass
class SecondRoundResult:
    links: pa.Table
    grey_zone: pa.Table
    model: GivenNameModel
    summary: dict
    levels: np.ndarray = field(repr=False)      # per queried pair, in query order


def check_answers(state: FirstRound, answers: list[PairAnswer]) -> tuple[PairAnswer, PairAnswer]:
    """Both holders' answers to this state's query, (left, right); one-line errors otherwise."""
    m = state.metadata
    if len(answers) != 2:
        raise HarmonieError("give both holders' answers (--given-names LEFT RIGHT)")
    for answer in answers:
        a = answer.metadata
        if a["key_fingerprint"] != m["key_fingerprint"]:
            raise HarmonieError(f"an answer was encoded with another key (fingerprint {a['key_fingerprint']} vs "
                                f"{m['key_fingerprint']} of the first round)")
        if a["spec_hash"] != m["spec_hash"]:
            raise HarmonieError(f"an answer was made with another spec (hash {a['spec_hash'][:12]}... vs "
                                f"{m['spec_hash'][:12]}...)")
        if a["query_sha256"] != m["query_sha256"]:
            raise HarmonieError(f"the answer of {a['holder']!r} answers another query than this first round's")
        if a.get("bloom") != asdict(PAIR_BLOOM) or a.get("fields") != list(PAIR_FIELDS):
            raise HarmonieError(f"the answer of {a['holder']!r} uses other per-pair filters than this tool's")
    by_holder = {answer.holder: answer for answer in answers}
    for role in (m["left_holder"], m["right_holder"]):
        if role not in by_holder:
            raise HarmonieError(f"no answer from holder {role!r} (got {', '.join(sorted(by_holder))})")
    query = state.query
    for answer in answers:
        if (answer.table["left_id"].to_pylist() != query.left_ids
                or answer.table["right_id"].to_pylist() != query.right_ids):
            raise HarmonieError(f"the answer of {answer.holder!r} does not list the query's pairs in its order")
    return by_holder[m["left_holder"]], by_holder[m["right_holder"]]


def resolve(spec: Spec, state: FirstRound, answers: list[PairAnswer], *, threshold: float | None = None
            ) -> SecondRoundResult:
    """Given-name levels, their m and u, rescoring and the one-to-one decision again (module docstring)."""
    m = state.metadata
    if spec.hash != m["spec_hash"]:
        raise HarmonieError(f"the first round was run with another spec (hash {m['spec_hash'][:12]}... vs "
                            f"{spec.hash[:12]}...)")
    left_answer, right_answer = check_answers(state, answers)
    pairs = state.pairs
    col = {name: pairs[name].to_numpy() for name in ("left_row", "right_row", "match_weight", "match_probability",
                                                    "right_signature", "linked_first_round", "queried")}
    with stage(f"given-name levels of {left_answer.table.num_rows:,} pairs, EM, rescore"):
        levels_in_query_order = given_name_levels(left_answer, right_answer)
        # the state's queried rows, mapped to query order
        queried = np.flatnonzero(col["queried"])
        left_ids = pairs["left_id"].take(pa.array(queried)).to_pylist()
        right_ids = pairs["right_id"].take(pa.array(queried)).to_pylist()
        position = {pair: k for k, pair in enumerate(zip(state.query.left_ids, state.query.right_ids))}
        levels = np.full(pairs.num_rows, -1, dtype=np.int8)
        levels[queried] = levels_in_query_order[[position[p] for p in zip(left_ids, right_ids)]]
        model = GivenNameModel().fit(levels[queried], col["match_probability"][queried], col["left_row"][queried])
        weights = col["match_weight"] + model.weights(levels)
        threshold = threshold if threshold is not None else m.get("threshold")
        decision = decide(col["left_row"].astype(np.int64), col["right_row"].astype(np.int64), weights,
                          m["prior_weight"], m["n_left"], m["n_right"], threshold, spec.model,
                          col["right_signature"])
    names = m["comparisons"]
    links = _pairs_table(pairs, decision.linked, weights, decision.probability, levels, names)
    grey = _pairs_table(pairs, decision.grey, weights, decision.probability, levels, names)
    summary = _summary(state, decision, model, levels, col, threshold is not None)
    return SecondRoundResult(links, grey, model, summary, levels_in_query_order)


def _pairs_table(pairs: pa.Table, rows: np.ndarray, weights: np.ndarray, probability: np.ndarray,
                 levels: np.ndarray, names: list[str]) -> pa.Table:
    order = rows[np.argsort(-weights[rows], kind="stable")] if len(rows) else rows
    take = pa.array(order.astype(np.int64))
    return pa.table({"left_id": pairs["left_id"].take(take), "right_id": pairs["right_id"].take(take),
                     "match_weight": pa.array(weights[order], pa.float64()),
                     "match_probability": pa.array(probability[order], pa.float64()),
                     **{f"level_{name}": pairs[f"level_{name}"].take(take) for name in names},
                     "level_given_names": pa.array(levels[order], pa.int8())})


def _summary(state: FirstRound, decision: Decision, model: GivenNameModel, levels: np.ndarray, col: dict,
             threshold_given: bool) -> dict:
    m = state.metadata
    first = m["first_round"]
    n_left = m["n_left"]
    chosen, prior = decision.chosen, decision.record_prior
    likely = prior.has_match >= 0.5
    ambiguous = int((likely & ~np.isin(prior.rows, decision.linked_left_rows)).sum())
    expected_links = float(decision.probability[decision.linked].sum())
    was = col["linked_first_round"]
    before = set(zip(col["left_row"][was].tolist(), col["right_row"][was].tolist()))
    after = set(zip(col["left_row"][decision.linked].tolist(), col["right_row"][decision.linked].tolist()))
    queried = col["queried"]
    summary = {key: value for key, value in first.items() if key not in ("warnings",)}
    summary.update({
        "status": "linked (second round: given names of the undecided pairs)",
        "left_records_with_a_match": {
            **first.get("left_records_with_a_match", {}), "estimated_share": prior.share,
            "em_iterations": prior.iterations, "em_converged": prior.converged,
            "without_a_plausible_candidate": n_left - int(likely.sum()),
            "likely_matched_but_not_linked": ambiguous},
        "one_to_one_pairs": int(len(decision.kept)), "links": int(len(decision.linked)),
        "grey_zone_pairs": int(len(decision.grey)),
        "threshold": {"probability": chosen.probability,
                      "chosen": "given" if threshold_given else "max expected F1 (at least 0.5)"},
        "estimated": {"precision": chosen.expected_precision, "recall": chosen.expected_recall,
                      "f1": chosen.expected_f1,
                      "recall_if_every_left_record_has_a_match": expected_links / max(n_left, 1)},
        "second_round": {
            "queried_pairs": int(queried.sum()), **m["queried"],
            "selection": m["selection"],
            "given_name_levels": {label: int((levels[queried] == j).sum())
                                  for j, label in enumerate(model.labels)},
            "given_name_missing": int((levels[queried] < 0).sum()),
            "model": model.to_dict(),
            "first_round_links": len(before), "links_kept": len(before & after),
            "links_dropped": len(before - after), "links_added": len(after - before)},
        "warnings": [],
    })
    if not model.converged_:
        summary["warnings"].append("the given-name EM did not converge: the second round's weights may be unstable")
    if ambiguous:
        summary["warnings"].append(
            f"{ambiguous:,} left records still probably have a match among their candidates but no link: review "
            "them in the grey zone")
    return summary


def write_second_round_outputs(result: SecondRoundResult, out_dir: str | Path) -> dict[str, Path]:
    out = ensure_output_dir(out_dir)
    return {"links": write_parquet(result.links, out / "links.parquet"),
            "grey_zone": write_parquet(result.grey_zone, out / "grey_zone.parquet"),
            "given_names_model": write_text(json.dumps(result.model.to_dict(), indent=2) + "\n",
                                            out / "given_names_model.json"),
            "summary": write_text(json.dumps(result.summary, indent=2) + "\n", out / "summary.json")}
