#!/usr/bin/env python3
"""Peer check of edgenas's runtime bindings: the same files timed by edgenas and by each
runtime's own Python package, on the same thread count, in alternating rounds.

    pip install onnxruntime ai-edge-litert
    python3 scripts/peer-check.py [--edgenas target/release/edgenas] [--archs 20] [--rounds 3]
                                  [--precision fp32|int8]

For N seeded NB201 archs, edgenas exports each as .onnx and .tflite (same weights). Each round
times every file with

- edgenas `profile --runtime ort` and onnxruntime's InferenceSession (1 intra-op thread,
  sequential, all graph optimisations: the settings edgenas uses);
- edgenas `profile --runtime tflite` (XNNPACK) and LiteRT's Interpreter (1 thread, XNNPACK
  applied by default), and edgenas `--tflite-delegate none` for the figure without it.

The order of the tools alternates between rounds, so a slow phase of a shared machine falls on
all of them. Per file the median over rounds is kept; printed per pair of tools: the median of
the per-file ratio, its p10-p90, and the Spearman of the two tools' latencies. --json prints the
same as JSON.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def nb201_archs(n, seed):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        e = [rng.choice(OPS) for _ in range(6)]
        a = f"|{e[0]}~0|+|{e[1]}~0|{e[2]}~1|+|{e[3]}~0|{e[4]}~1|{e[5]}~2|"
        if a not in out:
            out.append(a)
    return out


def time_python(session_run, warmup_s=0.3, sample_s=1.0, min_runs=20):
    """Median of `session_run` timings in ms: warm-up, then at least min_runs and sample_s."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup_s:
        session_run()
    times = []
    t0 = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - t0 < sample_s:
        s = time.perf_counter()
        session_run()
        times.append((time.perf_counter() - s) * 1e3)
    return statistics.median(times)


def onnxruntime_ms(path):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).uniform(-1, 1, [d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
    feed = {inp.name: x}
    return time_python(lambda: sess.run(None, feed))


def litert_ms(path):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], np.random.default_rng(0).uniform(-1, 1, d["shape"]).astype(np.float32))
    return time_python(it.invoke)


def edgenas_ms(binary, files, runtime, home):
    args = [binary, "profile", *files, "--json", "--threads", "1", "--allow-unstable",
            "--warmup-time", "0.3", "--min-time", "1", "--max-time", "2"]
    args += runtime
    env = dict(os.environ, EDGENAS_HOME=home)
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    results = json.loads(out)["results"]
    return [r["median_ms"] for r in results]


def spearman(a, b):
    def ranks(v):
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for k, i in enumerate(order):
            r[i] = float(k)
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den


def quantile(v, q):
    v = sorted(v)
    return v[round((len(v) - 1) * q)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edgenas", default="target/release/edgenas")
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "int8"],
                    help="the precision edgenas exports the files at (int8: QDQ .onnx, full-integer .tflite)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="edgenas-peer-")
    archs = nb201_archs(a.archs, a.seed)
    onnx, tfl = [], []
    for i, arch in enumerate(archs):
        for ext, out in (("onnx", onnx), ("tflite", tfl)):
            f = os.path.join(work, f"a{i:03}.{ext}")
            subprocess.run([a.edgenas, "export", arch, "-o", f, "--precision", a.precision],
                           check=True, capture_output=True)
            out.append(f)

    tools = {
        "edgenas ort": lambda: edgenas_ms(a.edgenas, onnx, ["--runtime", "ort"], work),
        "onnxruntime (Python)": lambda: [onnxruntime_ms(f) for f in onnx],
        "edgenas tflite+xnnpack": lambda: edgenas_ms(a.edgenas, tfl, ["--runtime", "tflite"], work),
        "LiteRT (Python, XNNPACK)": lambda: [litert_ms(f) for f in tfl],
        "edgenas tflite+none": lambda: edgenas_ms(a.edgenas, tfl, ["--runtime", "tflite", "--tflite-delegate", "none"], work),
    }
    rounds = {name: [] for name in tools}
    names = list(tools)
    for r in range(a.rounds):
        order = names if r % 2 == 0 else list(reversed(names))
        for name in order:
            # A fresh state directory each time: edgenas must measure, not resume.
            for f in os.listdir(work):
                if f.endswith(".journal"):
                    os.remove(os.path.join(work, f))
            rounds[name].append(tools[name]())
            print(f"round {r + 1}/{a.rounds}: {name} done", file=sys.stderr)
    med = {n: [statistics.median(v[i] for v in rounds[n]) for i in range(len(archs))] for n in names}

    pairs = [
        ("edgenas ort", "onnxruntime (Python)"),
        ("edgenas tflite+xnnpack", "LiteRT (Python, XNNPACK)"),
        ("edgenas tflite+none", "LiteRT (Python, XNNPACK)"),
        ("edgenas tflite+xnnpack", "edgenas ort"),
    ]
    report = {"archs": len(archs), "rounds": a.rounds, "threads": 1,
              "median_ms": {n: statistics.median(med[n]) for n in names}, "pairs": []}
    for x, y in pairs:
        ratio = [p / q for p, q in zip(med[x], med[y])]
        report["pairs"].append({"a": x, "b": y, "median_ratio_a_over_b": statistics.median(ratio),
                                "p10": quantile(ratio, 0.1), "p90": quantile(ratio, 0.9),
                                "spearman": spearman(med[x], med[y])})
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(archs)} NB201 archs, 1 thread, {a.rounds} alternating rounds (median per file)")
    for n in names:
        print(f"  {n:<26} median {report['median_ms'][n]:8.3f} ms")
    for p in report["pairs"]:
        print(f"  {p['a']} / {p['b']}: median {p['median_ratio_a_over_b']:.3f} "
              f"(p10-p90 {p['p10']:.3f}-{p['p90']:.3f}), spearman {p['spearman']:.3f}")


if __name__ == "__main__":
    main()
