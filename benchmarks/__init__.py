"""Benchmarks: `throughput` (the `qa-engine bench` command) is installed with the package; the rest are scripts."""
