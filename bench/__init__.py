"""Benchmarks against baselines measured in the same run."""
