#!/usr/bin/env python3
"""A timing program for `edgenas --exec` on a GPU: imports the PyTorch module edgenas writes
(`--exec-format pytorch`), runs it on CUDA and times each run with CUDA events, printing
`{"latencies_ms": [...]}` (edgenas's JSON contract).

    edgenas run --budget-ms 2 --exec-format pytorch \
        --exec 'python3 scripts/exec/torch-cuda-time.py {model} --runs 50 --half'

The module has fresh weights (latency does not depend on their values). --half times it in
float16. Needs PyTorch with CUDA.
"""
import argparse
import importlib.util
import json

import torch

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--runs", type=int, default=50)
ap.add_argument("--warmup", type=int, default=10)
ap.add_argument("--half", action="store_true")
a = ap.parse_args()

spec = importlib.util.spec_from_file_location("edgenas_net", a.model)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
dtype = torch.float16 if a.half else torch.float32
net = mod.Net().eval().to("cuda", dtype)
x = torch.randn(*mod.INPUT_SHAPE, device="cuda", dtype=dtype)
times = []
with torch.inference_mode():
    for _ in range(a.warmup):
        net(x)
    torch.cuda.synchronize()
    for _ in range(a.runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        net(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
print(json.dumps({"latencies_ms": times}))
