"""Benchmarks: each row a median and p99, beside the floor or peer measured in the same run."""
