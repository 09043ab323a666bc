"""Scripts that measure and print tables (`python -m benchmarks.<name>` from the repository root)."""
