"""Reference methods run beside Harmonie in the benchmarks (not part of the product)."""
