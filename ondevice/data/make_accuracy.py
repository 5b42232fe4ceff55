#!/usr/bin/env python3
"""Writes nb201_accuracy.bin: NATS-Bench's seed-averaged test accuracy of every NB201 cell in
a compact form compiled into the binary.

Layout: b"NB201ACC", u16 LE version (1), u16 LE datasets (3), then for every cell in ordinal
order (edge 0 the most significant base-5 digit; ops none, skip_connect, nor_conv_1x1,
nor_conv_3x3, avg_pool_3x3) three u16 LE: round(accuracy * 100) for cifar10, cifar100,
imagenet16_120 (0.01-point resolution, the tables' own noise is far larger).

Usage: make_accuracy.py ../shared/data/nb201_accuracy_natsbench.csv ondevice/data/nb201_accuracy.bin
"""
import csv, struct, sys

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]

def ordinal(arch):
    ops = [tok.split("~")[0] for grp in arch.strip("|").split("|+|") for tok in grp.split("|")]
    assert len(ops) == 6, arch
    k = 0
    for op in ops:
        k = k * 5 + OPS.index(op)
    return k

rows = [None] * 15625
with open(sys.argv[1]) as f:
    for r in csv.DictReader(f):
        k = ordinal(r["arch_str"])
        rows[k] = [float(r[c]) for c in ("cifar10_test_acc", "cifar100_test_acc", "imagenet16_120_test_acc")]
assert all(r is not None for r in rows)
with open(sys.argv[2], "wb") as out:
    out.write(b"NB201ACC" + struct.pack("<HH", 1, 3))
    for r in rows:
        out.write(struct.pack("<HHH", *(round(v * 100) for v in r)))
