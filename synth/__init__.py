"""Synthetic replicas: the analytic dataset, SDV generators, and the utility report."""
