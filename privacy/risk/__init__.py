"""Re-identification risk of a synthetic replica: Anonymeter attacks, distances, uniqueness."""
