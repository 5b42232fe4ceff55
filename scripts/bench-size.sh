#!/usr/bin/env bash
# scripts/bench-size.sh [BEFORE AFTER]: the size of two edgenas builds and their NB201 all-conv
# latency, as ratios measured in one run (the machine is shared: the two binaries are timed in
# alternation, 7 rounds, and the ratio of their medians is the figure).
# Default: the `release` profile (the test build) against `dist` (what users download), built
# here natively if missing. Board binaries run through $EDGENAS_BENCH_RUNNER, e.g.
#   EDGENAS_BENCH_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" scripts/bench-size.sh OLD NEW
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-target/release/edgenas}
after=${2:-target/dist/edgenas}
[ -x "$before" ] || cargo build --release --bin edgenas
[ -x "$after" ] || cargo build --profile dist --bin edgenas
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Already-stripped board binaries are copied as they are (the host's strip may not know them).
for which in before after; do
  src=${!which}
  strip -o "$work/$which" "$src" 2>/dev/null || cp "$src" "$work/$which"
done
read -r -a runner <<<"${EDGENAS_BENCH_RUNNER:-}"
arch='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|'
for round in 1 2 3 4 5 6 7; do
  for which in before after; do
    EDGENAS_HOME="$work/home-$which" "${runner[@]}" "$work/$which" profile "$arch" --threads 1 \
      --cpus all --allow-unstable --min-time 1.5 --max-time 1.5 --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["median_ms"])' >> "$work/$which.ms"
  done
done
python3 - "$work" <<'PY'
import os, statistics, sys
w = sys.argv[1]
size = {k: os.path.getsize(f"{w}/{k}") for k in ("before", "after")}
ms = {k: [float(x) for x in open(f"{w}/{k}.ms")] for k in ("before", "after")}
med = {k: statistics.median(v) for k, v in ms.items()}
print(f"stripped size: before {size['before'] / 1e6:.1f} MB, after {size['after'] / 1e6:.1f} MB (ratio {size['after'] / size['before']:.3f})")
print(f"NB201 all-conv3, 1 thread, median of 7 alternating rounds: before {med['before']:.3f} ms, after {med['after']:.3f} ms (ratio {med['after'] / med['before']:.3f})")
pairs = sorted(a / b for a, b in zip(ms["after"], ms["before"]))
print(f"per-round ratios: {', '.join(f'{r:.3f}' for r in pairs)}")
PY
