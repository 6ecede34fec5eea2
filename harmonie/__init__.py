"""Harmonie: privacy-preserving record linkage and synthetic data for oncology RWD.

The engine is split by who runs it:

- :mod:`linkage` -- the holders' normalisation/encoding front and the linkage unit's engine,
  plus the test populations (:mod:`linkage.datasets`);
- :mod:`privacy` -- keys, keyed hashing, Bloom filters, risk metrics, release gate, audit;
- :mod:`synth` -- analytic dataset, generators, utility reports.

This small package only holds what they share: the root command line, one-line errors,
crash-safe file writing and progress reporting.
"""

__version__ = "0.1.0"
