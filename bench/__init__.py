"""Benchmarks: programs that print side-by-side comparisons, run on purpose (`make bench`)."""
