"""Benchmarks: `make bench` (or `python -m bench [name…]`). Each prints its figure beside a floor measured in the same
run on the same machine, so the ratio means something anywhere. Numbers and how to reproduce: docs/performance.md."""
