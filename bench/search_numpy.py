#!/usr/bin/env python3
"""Exact 1:N search in NumPy for comparison: one probe at a time against an
N x 128 float32 matrix of normalised templates (matrix-vector product, argmax),
the same work `civitas bench search` does.

    search_numpy.py ENTRIES QUERIES
"""
import json
import sys
import time

import numpy as np

n, q = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
m = rng.random((n, 128), dtype=np.float32) - 0.5
m /= np.linalg.norm(m, axis=1, keepdims=True)
p = rng.random((q, 128), dtype=np.float32) - 0.5
p /= np.linalg.norm(p, axis=1, keepdims=True)
t = time.perf_counter()
hits = 0
for v in p:
    s = m @ v
    i = int(s.argmax())
    if np.linalg.norm(m[i] - v) <= 0.40:
        hits += 1
dt = time.perf_counter() - t
print(json.dumps({"entries": n, "queries": q, "ms_per_query": dt * 1000 / q, "random_hits": hits}))
