"""Scripts that measure and print tables (`python -m lab.benchmarks.<name>` from the repository root)."""
