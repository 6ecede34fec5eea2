"""The link plan: the stages every engine runs, in order, and everything they share.

    load -> blocking -> compare -> EM (u from random pairs, m per blocking pass, prior)
         -> score -> one-to-one, threshold and grey zone -> summary

An engine executes the data-heavy stages its own way: :func:`linkage.link.link` in this
process, :func:`linkage.engines.spark.link_spark` on a cluster. The plan holds the rest,
once: the input checks, the comparisons and the saved model's fit to them, the EM set-up
(the model's settings, the random pairs u is estimated on, one training session per
blocking pass), the decision, and the run's :class:`LinkSummary`. Both engines therefore
give the same links, model and summary for the same inputs, spec and seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harmonie.errors import HarmonieError
from linkage.blocking import Candidates, PassReport
from linkage.compare import Comparison, build_comparisons
from linkage.decide import Decision, decide
from linkage.encoding.encoded_file import check_compatible
from linkage.model import FellegiSunter
from linkage.spec import BlockingPass, Spec

NO_CANDIDATES = "no candidate pairs: nothing to link (check the blocking passes and the inputs)"
# The random pairs u is estimated on reuse this many right-hand records (each met by 25 random
# left records at the default 5,000,000 pairs), so the Spark driver fetches no more than that.
U_SAMPLE_RIGHT_RECORDS = 200_000


@dataclass
class LinkSummary:
    """What a run did and decided; ``to_dict`` is summary.json."""

    spec: str
    spec_hash: str
    key_fingerprint: str
    left: dict                      # {"holder": ..., "records": n, "run_id": the encoding's}
    right: dict
    blocking: list[PassReport]
    candidate_pairs: int
    status: str = NO_CANDIDATES
    decision: dict = field(default_factory=dict)  # filled by LinkPlan.decided
    warnings: list[str] = field(default_factory=list)
    engine: dict | None = None

    @property
    def reduction_ratio(self) -> float:
        return 1 - self.candidate_pairs / max(self.left["records"] * self.right["records"], 1)

    def to_dict(self) -> dict:
        out = {"spec": self.spec, "spec_hash": self.spec_hash, "key_fingerprint": self.key_fingerprint,
               "left": self.left, "right": self.right, "blocking": [vars(r) for r in self.blocking],
               "candidate_pairs": self.candidate_pairs, "reduction_ratio": self.reduction_ratio,
               "status": self.status, **self.decision, "warnings": self.warnings}
        if self.engine is not None:
            out["engine"] = self.engine
        return out


def forced_fields(spec: Spec, spec_pass: BlockingPass) -> set[str]:
    """Fields a blocking pass biases: its own, any field read from the same input columns (a
    pass on the commune also fixes the departement derived from it), and the fields the
    spec says its non-matches agree on more than random pairs do (``leave_out``: people who
    shared a hospital stay tend to live in the same departement)."""
    fields = spec_pass.fields | set(spec_pass.leave_out)
    columns = {c for f in spec.fields if f.name in fields for c in f.columns}
    return fields | {f.name for f in spec.fields if columns & set(f.columns)}


class LinkPlan:
    """One linkage of two encoded files under ``spec``, as every engine runs it.

    With a fitted ``model`` (e.g. last year's model.json) no EM runs: the pairs are scored
    with it, which keeps weights comparable between runs. ``threshold`` (a match
    probability) overrides the spec's.
    """

    def __init__(self, spec: Spec, *, threshold: float | None = None, model: FellegiSunter | None = None):
        self.spec, self.threshold, self.saved_model = spec, threshold, model
        self.settings = spec.model

    # -- load
    def check_inputs(self, left_metadata: dict, right_metadata: dict) -> None:
        """Both files from the same secret and spec, two holders, and that spec is this plan's."""
        check_compatible(left_metadata, right_metadata)
        if left_metadata["spec_hash"] != self.spec.hash:
            raise HarmonieError(f"the encoded files were made with another spec than {self.spec.name!r} "
                                f"(hash {left_metadata['spec_hash'][:12]}... vs {self.spec.hash[:12]}...)")

    def comparisons(self, left_columns: set[str], right_columns: set[str]) -> list[Comparison]:
        """The spec's comparisons on these files; a saved model must have exactly their levels."""
        comparisons = build_comparisons(self.spec, left_columns, right_columns)
        if self.saved_model is not None and \
                [c.labels for c in self.saved_model.comparisons] != [c.labels for c in comparisons]:
            raise HarmonieError("the saved model's comparisons and levels differ from this spec's")
        return comparisons

    def summary(self, left_metadata: dict, right_metadata: dict, n_left: int, n_right: int,
                reports: list[PassReport], candidate_pairs: int) -> LinkSummary:
        return LinkSummary(spec=self.spec.name, spec_hash=self.spec.hash,
                           key_fingerprint=left_metadata["key_fingerprint"],
                           left={"holder": left_metadata.get("holder"), "records": n_left,
                                 "run_id": left_metadata.get("run_id")},
                           right={"holder": right_metadata.get("holder"), "records": n_right,
                                  "run_id": right_metadata.get("run_id")},
                           blocking=reports, candidate_pairs=candidate_pairs)

    # -- EM set-up
    @property
    def needs_em(self) -> bool:
        return self.saved_model is None

    def new_model(self, comparisons: list[Comparison]) -> FellegiSunter:
        return FellegiSunter(comparisons, max_iterations=self.settings.em_max_iterations,
                             tolerance=self.settings.em_tolerance)

    def random_pairs(self, n_left: int, n_right: int) -> tuple[np.ndarray, np.ndarray]:
        """The (left, right) row pairs u is estimated on: ``[model] u_sample_pairs`` random pairs, or
        every pair once when there are no more than that (a cohort of 300 against 3,000 beneficiaries
        has 900,000 pairs: drawing 5,000,000 with replacement from them cost five times the work for a
        noisier u)."""
        count = self.settings.u_sample_pairs
        if n_left * n_right <= count and n_right <= U_SAMPLE_RIGHT_RECORDS:
            return (np.repeat(np.arange(n_left, dtype=np.int32), n_right),
                    np.tile(np.arange(n_right, dtype=np.int32), n_left))
        rng = np.random.default_rng(self.settings.seed)
        right = rng.integers(0, n_right, size=min(count, U_SAMPLE_RIGHT_RECORDS))
        left = rng.integers(0, n_left, size=count)
        return left.astype(np.int32), np.resize(right, count).astype(np.int32)

    def training_plan(self, comparisons: list[Comparison], pass_pairs: list[int], n_left: int
                      ) -> list[tuple[str, int, set[int]]]:
        """One EM session per blocking pass, leaving out the comparisons the pass forces to agree:
        (name, pass index, comparisons left out), from the number of pairs each pass proposed.

        Passes proposing more than ``em_max_pairs_per_record`` pairs per left record are not
        used for training: they are mostly non-matches, and EM would mistake their structure
        (same-sex pairs having more similar first names, say) for matches. If every pass is
        that large, the smallest one is used.
        """
        limit = self.settings.em_max_pairs_per_record * max(n_left, 1)
        sessions = []
        for i, p in enumerate(self.spec.blocking):
            excluded = {j for j, c in enumerate(comparisons) if set(c.fields) & forced_fields(self.spec, p)}
            sessions.append((p.name, i, excluded, pass_pairs[i]))
        usable = [s for s in sessions if 0 < s[3] <= limit]
        if not usable:
            usable = [min((s for s in sessions if s[3] > 0), key=lambda s: s[3])]
        return [s[:3] for s in usable]

    def training_sessions(self, candidates: Candidates, comparisons: list[Comparison], n_left: int
                          ) -> list[tuple[str, np.ndarray, set[int]]]:
        """:meth:`training_plan` with each session's pairs as a mask over ``candidates``."""
        masks = [candidates.pass_mask(i) for i in range(len(self.spec.blocking))]
        plan = self.training_plan(comparisons, [int(mask.sum()) for mask in masks], n_left)
        return [(name, masks[index], excluded) for name, index, excluded in plan]

    # -- decision
    def decide(self, model: FellegiSunter, left_rows: np.ndarray, right_rows: np.ndarray, weights: np.ndarray,
               n_left: int, n_right: int, right_signatures: np.ndarray) -> Decision:
        return decide(left_rows, right_rows, weights, model.prior_weight, n_left, n_right, self.threshold,
                      self.settings, right_signatures)

    def decided(self, summary: LinkSummary, model: FellegiSunter, decision: Decision) -> LinkSummary:
        """The summary with the model's and the decision's figures, and what a user must not miss."""
        chosen, prior = decision.chosen, decision.record_prior
        n_left = summary.left["records"]
        likely = prior.has_match >= 0.5
        ambiguous = int((likely & ~np.isin(prior.rows, decision.linked_left_rows)).sum())
        expected_links = float(decision.probability[decision.linked].sum())
        summary.status = "linked"
        summary.decision = {
            "prior_lambda": model.lambda_, "expected_matches": model.expected_matches_,
            "left_records_with_a_match": {
                "estimated_share": prior.share, "declared_share": self.settings.expected_match_share,
                "em_iterations": prior.iterations, "em_converged": prior.converged,
                "without_a_plausible_candidate": n_left - int(likely.sum()),
                "likely_matched_but_not_linked": ambiguous},
            "em_iterations": model.n_iter_, "em_converged": model.converged_,
            "one_to_one_pairs": int(len(decision.kept)), "links": int(len(decision.linked)),
            "grey_zone_pairs": int(len(decision.grey)), "grey_zone": list(self.settings.grey_zone),
            "threshold": {"probability": chosen.probability, "chosen": "given" if decision.threshold_given else
                          "max expected F1 (at least 0.5)"},
            "em_sessions": model.sessions_,
            "estimated": {"precision": chosen.expected_precision, "recall": chosen.expected_recall,
                          "f1": chosen.expected_f1,
                          "recall_if_every_left_record_has_a_match": expected_links / max(n_left, 1)},
        }
        stuck = [s["session"] for s in model.sessions_ if not s["converged"]]
        if stuck:
            summary.warnings.append(
                f"EM did not converge in {self.settings.em_max_iterations} iterations ({'; '.join(stuck)}): the "
                "weights may be unstable; raise [model] em_max_iterations or check that pass's blocking")
        if self.settings.expected_match_share is None:
            summary.warnings.append(
                f"the recall estimate assumes {prior.share:.1%} of left records have a match, the share with a "
                "plausible candidate; matches that left no evidence are not counted: if every left record has one, "
                f"recall is {expected_links / max(n_left, 1):.4f} (declare [model] expected_match_share if known)")
        if ambiguous:
            summary.warnings.append(
                f"{ambiguous:,} left records probably have a match among their candidates but no link (candidates "
                "the model cannot tell apart, or taken by another record): review them in the grey zone")
        return summary
