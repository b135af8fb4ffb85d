"""Treeport's benchmarks: every figure a ratio against a peer or a baseline measured in the same run.

`treeport bench [--quick] [--json FILE]` (or `make bench`) runs the parts in `bench.run.PARTS`; each part
prints a table and returns its section of the one JSON report. Ratios above 1 mean Treeport is faster
(except `http.ratio_vs_hello`, Treeport's share of the stack's ceiling, and `train.overhead_ratio`,
pipeline time over bare `xgboost.train` time, where lower is better).
"""
