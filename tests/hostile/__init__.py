"""The hostile-input suite of issue 18 (a package, so its conftest never shadows tests/conftest.py)."""
