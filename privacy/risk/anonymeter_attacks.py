"""Anonymeter's three attacks (singling out, linkability, inference), seeded and summarised.

Each attack is run against the training data (what the generator saw) and against the
control set (real patients it never saw); the risk is the attack's excess success on the
training data, ``(train rate - control rate) / (1 - control rate)``, with its 95%
confidence interval. Anonymeter draws some randomness from unseeded generators; the
:func:`seeded` context fixes them so the same inputs give the same figures.

The interval is set by the number of attacks on each side, and the control side is the
short one (the control set is a fifth of the patients). Linkability and inference attack
one target at a time, and a target's success depends on that target and the replica only,
so they attack *every* training and every control patient (up to ``n_attacks`` each side):
unequal sides are valid and the training side then adds almost no variance. Singling out
is different: whether a predicate isolates one patient depends on how many patients the
set holds, so its training and control sets must have the same size (the caller's job).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

CONFIDENCE = 0.95


def cache_compiled_kernels() -> None:
    """Compile Anonymeter's two numba kernels (Gower distance, nearest neighbours) with numba's on-disk cache.

    Anonymeter jits them without ``cache=True``, so every process that runs an attack compiled them again
    (~5 s, each time `harmonie risk` or `release` ran, and in every test worker). The same Python functions,
    jitted with the same options plus the cache; numba invalidates the cache when the library's source changes.
    """
    import anonymeter.evaluators  # noqa: F401  (imports the kernels' module without its import cycle)
    from anonymeter.neighbors import mixed_types_kneighbors as kernels
    from numba import jit

    if getattr(kernels, "_harmonie_cached", False):
        return
    # gower_distance first: _nearest_neighbors finds it among the module's globals when it is compiled
    for name in ("gower_distance", "_nearest_neighbors"):
        setattr(kernels, name, jit(nopython=True, nogil=True, cache=True)(getattr(kernels, name).py_func))
    kernels._harmonie_cached = True


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Make Anonymeter reproducible: seed numpy's legacy global state, polars, and every
    argument-less ``default_rng()``, and make polars' ``group_by`` and ``Series.unique``
    keep first-appearance order (Anonymeter lists values through these unordered,
    multi-threaded calls, then draws from the lists with the seeded generator)."""
    import polars as pl

    original_rng, original_group_by, original_unique = np.random.default_rng, pl.DataFrame.group_by, pl.Series.unique
    counter = itertools.count()

    def default_rng(seed_arg=None):
        return original_rng(seed_arg if seed_arg is not None else [seed, next(counter)])

    def group_by(self, *by, maintain_order: bool = False, **named_by):
        return original_group_by(self, *by, maintain_order=True, **named_by)

    def unique(self, *, maintain_order: bool = False):
        return original_unique(self, maintain_order=True)

    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    pl.set_random_seed(seed)
    np.random.default_rng, pl.DataFrame.group_by, pl.Series.unique = default_rng, group_by, unique
    try:
        yield
    finally:
        np.random.default_rng, pl.DataFrame.group_by, pl.Series.unique = original_rng, original_group_by, original_unique
        np.random.set_state(state)


@contextmanager
def _capture_warnings() -> Iterator[Callable[[], list[str]]]:
    """Anonymeter warns through logging and ``warnings``; yield a function listing both so far."""
    import warnings

    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logger = logging.getLogger("anonymeter")
    logger.addHandler(handler)
    previous, logger.propagate = logger.propagate, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield lambda: sorted(set(messages) | {str(w.message) for w in caught
                                                  if "anonymeter" in (w.filename or "")})
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous


def _summary(results, n_attacks: dict, warnings_so_far: Callable[[], list[str]], **extra) -> dict:
    risk = results.risk()
    return {
        "risk": round(float(risk.value), 4), "ci": [round(float(risk.ci[0]), 4), round(float(risk.ci[1]), 4)],
        "attack_rate": round(float(results.attack_rate.value), 4),
        "baseline_rate": round(float(results.baseline_rate.value), 4),
        "control_rate": round(float(results.control_rate.value), 4) if results.control_rate else None,
        "n_attacks": n_attacks, **extra, "warnings": warnings_so_far(),
    }


def singling_out(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame, *, mode: str,
                 n_attacks: int, seed: int, n_cols: int = 4) -> dict:
    """Singling out with up to ``n_attacks`` predicates built from the replica; ``train`` and ``control`` of one size.

    Anonymeter divides its successes by the predicates asked for, not by those it could
    build; univariate predicates (a value held by one replica record, a column's minimum or
    maximum) are as many as the replica allows, so no more are asked for than it allows.
    """
    from anonymeter.evaluators import SinglingOutEvaluator

    if len(train) != len(control):
        raise ValueError("singling out compares sets of one size: a predicate isolates one patient more easily in a "
                         f"smaller set (got {len(train)} training and {len(control)} control patients)")
    if mode == "univariate":
        n_attacks = min(n_attacks, univariate_predicates(synthetic, n_attacks, seed))
    with seeded(seed), _capture_warnings() as messages:
        evaluator = SinglingOutEvaluator(ori=train, syn=synthetic, control=control, n_attacks=n_attacks,
                                         n_cols=n_cols, max_attempts=200_000, seed=seed)
        evaluator.evaluate(mode=mode)
        return _summary(evaluator.results(confidence_level=CONFIDENCE),
                        {"training": n_attacks, "control": n_attacks, "baseline": n_attacks}, messages,
                        successful_queries=len(evaluator.queries()), mode=mode,
                        n_cols=n_cols if mode == "multivariate" else 1)


def univariate_predicates(synthetic: pd.DataFrame, at_most: int, seed: int) -> int:
    """How many univariate singling-out predicates the replica allows (counted by Anonymeter's own generator)."""
    import polars as pl
    from anonymeter.evaluators.singling_out_evaluator import univariate_singling_out_queries

    with seeded(seed):
        queries = univariate_singling_out_queries(pl.DataFrame(synthetic).unique(maintain_order=True), at_most,
                                                  np.random.default_rng(seed))
    return len(queries)


def linkability(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame, *,
                aux_cols: tuple[list[str], list[str]], n_attacks: int, seed: int, n_neighbors: int = 10,
                n_jobs: int = 2) -> dict:
    """Linkability on up to ``n_attacks`` targets per side (every patient, when there are fewer).

    Anonymeter's evaluator draws as many control as training targets; each side is attacked
    by its own evaluator here, so neither is cut to the other's size, and the two counts are
    combined by Anonymeter's own :class:`EvaluationResults`.
    """
    from anonymeter.evaluators import LinkabilityEvaluator
    from anonymeter.stats.confidence import EvaluationResults

    cache_compiled_kernels()

    n_train, n_control = min(n_attacks, len(train)), min(n_attacks, len(control))
    with seeded(seed), _capture_warnings() as messages:
        counts = {}
        for side, targets, n in (("training", train, n_train), ("control", control, n_control)):
            evaluator = LinkabilityEvaluator(ori=targets, syn=synthetic, aux_cols=aux_cols, n_attacks=n,
                                             n_neighbors=n_neighbors)
            counts[side] = evaluator.evaluate(n_jobs=n_jobs).results(confidence_level=CONFIDENCE)
        results = EvaluationResults(n_attacks=(n_train, n_train, n_control), n_success=counts["training"].n_success,
                                    n_baseline=counts["training"].n_baseline, n_control=counts["control"].n_success,
                                    confidence_level=CONFIDENCE)
        return _summary(results, {"training": n_train, "control": n_control, "baseline": n_train}, messages,
                        aux_cols=[list(aux_cols[0]), list(aux_cols[1])], n_neighbors=n_neighbors)


def inference(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame, *, secret: str,
              n_attacks: int, seed: int, n_jobs: int = 2) -> dict:
    """Inference of ``secret`` from every other column, on up to ``n_attacks`` targets per side."""
    from anonymeter.evaluators import InferenceEvaluator

    cache_compiled_kernels()

    aux = [c for c in train.columns if c != secret]
    with seeded(seed), _capture_warnings() as messages:
        evaluator = InferenceEvaluator(ori=train, syn=synthetic, control=control, aux_cols=aux, secret=secret,
                                       regression=False, n_attacks=n_attacks)
        evaluator.evaluate(n_jobs=n_jobs)
        results = evaluator.results(confidence_level=CONFIDENCE)
        return _summary(results, {"training": results.n_attacks_ori, "control": results.n_attacks_control,
                                  "baseline": results.n_attacks_baseline}, messages, secret=secret)
