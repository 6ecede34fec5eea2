"""Anonymeter's three attacks (singling out, linkability, inference), seeded and summarised.

Each attack is run against the training data (what the generator saw) and against the
control set (real patients it never saw); the risk is the attack's excess success on the
training data, ``(train rate - control rate) / (1 - control rate)``, with its 95%
confidence interval. Anonymeter draws some randomness from unseeded generators; the
:func:`seeded` context fixes them so the same inputs give the same figures.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

CONFIDENCE = 0.95


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


def _summary(evaluator, n_attacks: int, warnings_so_far: Callable[[], list[str]], **extra) -> dict:
    risk = evaluator.risk(confidence_level=CONFIDENCE)
    results = evaluator.results(confidence_level=CONFIDENCE)
    return {
        "risk": round(float(risk.value), 4), "ci": [round(float(risk.ci[0]), 4), round(float(risk.ci[1]), 4)],
        "attack_rate": round(float(results.attack_rate.value), 4),
        "baseline_rate": round(float(results.baseline_rate.value), 4),
        "control_rate": round(float(results.control_rate.value), 4) if results.control_rate else None,
        "n_attacks": n_attacks, **extra, "warnings": warnings_so_far(),
    }


def singling_out(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame, *, mode: str,
                 n_attacks: int, seed: int, n_cols: int = 4) -> dict:
    from anonymeter.evaluators import SinglingOutEvaluator

    with seeded(seed), _capture_warnings() as messages:
        evaluator = SinglingOutEvaluator(ori=train, syn=synthetic, control=control, n_attacks=n_attacks,
                                         n_cols=n_cols, max_attempts=200_000, seed=seed)
        evaluator.evaluate(mode=mode)
        return _summary(evaluator, n_attacks, messages, successful_queries=len(evaluator.queries()), mode=mode,
                        n_cols=n_cols if mode == "multivariate" else 1)


def linkability(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame, *,
                aux_cols: tuple[list[str], list[str]], n_attacks: int, seed: int, n_neighbors: int = 10,
                n_jobs: int = 2) -> dict:
    from anonymeter.evaluators import LinkabilityEvaluator

    n_attacks = min(n_attacks, len(train), len(control))
    with seeded(seed), _capture_warnings() as messages:
        evaluator = LinkabilityEvaluator(ori=train, syn=synthetic, control=control, aux_cols=aux_cols,
                                         n_attacks=n_attacks, n_neighbors=n_neighbors)
        evaluator.evaluate(n_jobs=n_jobs)
        return _summary(evaluator, n_attacks, messages, aux_cols=[list(aux_cols[0]), list(aux_cols[1])],
                        n_neighbors=n_neighbors)


def inference(train: pd.DataFrame, synthetic: pd.DataFrame, control: pd.DataFrame, *, secret: str,
              n_attacks: int, seed: int, n_jobs: int = 2) -> dict:
    from anonymeter.evaluators import InferenceEvaluator

    aux = [c for c in train.columns if c != secret]
    n_attacks = min(n_attacks, len(train), len(control))
    with seeded(seed), _capture_warnings() as messages:
        evaluator = InferenceEvaluator(ori=train, syn=synthetic, control=control, aux_cols=aux, secret=secret,
                                       regression=False, n_attacks=n_attacks)
        evaluator.evaluate(n_jobs=n_jobs)
        return _summary(evaluator, n_attacks, messages, secret=secret)
