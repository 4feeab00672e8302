"""Benchmarks and the fake provider servers they share with the tests (not shipped)."""
