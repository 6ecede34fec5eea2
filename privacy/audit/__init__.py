"""Audit: the tamper-evident trail of every command, and the attack self-audit of encodings."""
