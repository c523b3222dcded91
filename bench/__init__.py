"""Benchmarks: they measure and report figures; they never pass or fail on them."""
