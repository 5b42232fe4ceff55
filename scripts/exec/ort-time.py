#!/usr/bin/env python3
"""A timing program for `edgenas --exec`: times an .onnx file with onnxruntime's Python
package and prints one `edgenas-latency-ms: X` line per timed run (edgenas's line contract).

    edgenas profile ARCH --exec 'python3 scripts/exec/ort-time.py {model} --runs 30'

Settings as edgenas's own `--runtime ort`: 1 intra-op thread (--threads), sequential
execution, all graph optimisations, CPU provider (--provider to pick another, e.g.
CUDAExecutionProvider). Warm-up runs are not printed. Needs `pip install onnxruntime`.
"""
import argparse
import time

import numpy as np
import onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--runs", type=int, default=30)
ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--provider", default="CPUExecutionProvider")
a = ap.parse_args()

so = ort.SessionOptions()
so.intra_op_num_threads = a.threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
sess = ort.InferenceSession(a.model, so, providers=[a.provider])
inp = sess.get_inputs()[0]
shape = [d if isinstance(d, int) else 1 for d in inp.shape]
feed = {inp.name: np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)}
for _ in range(a.warmup):
    sess.run(None, feed)
for _ in range(a.runs):
    t = time.perf_counter()
    sess.run(None, feed)
    print(f"edgenas-latency-ms: {(time.perf_counter() - t) * 1e3:.6f}")
