#!/usr/bin/env bash
# Runs every test of edgenas on a fresh machine: installs what the tests need (idempotently),
# checks formatting and lints, then runs the workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The public tables live beside the checkout (../shared); tests find them there or via EDGENAS_SHARED.
if [ -z "${EDGENAS_SHARED:-}" ] && [ -d ../shared/data ]; then
  export EDGENAS_SHARED="$(cd ../shared && pwd)"
fi
if [ ! -f "${EDGENAS_SHARED:-../shared}/data/nb201_latency_help.csv" ]; then
  echo "test.sh: the shared data tables are missing (expected ../shared/data or \$EDGENAS_SHARED/data)" >&2
  exit 1
fi

# rustfmt and clippy come with the machine's toolchain; installed here when missing. Where they
# cannot be had (no toolchain server), the checks are skipped with a note, never silently.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy || true
fi
if cargo fmt --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
else
  echo "== cargo fmt: SKIPPED (rustfmt is not installed and cannot be fetched)"
fi
if cargo clippy --version >/dev/null 2>&1; then
  echo "== cargo clippy"
  cargo clippy --workspace --all-targets -- -D warnings
else
  echo "== cargo clippy: SKIPPED (clippy is not installed and cannot be fetched)"
fi
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# One closing line over every test binary (cargo prints one "test result" line per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
