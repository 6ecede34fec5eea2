"""Re-identification risk of a synthetic replica: copies, membership attacks, Anonymeter attacks, distances,
uniqueness, each with the attacker it assumes."""
