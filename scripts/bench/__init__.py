"""The benchmarks (run the package: python scripts/bench all; see __main__.py)."""
