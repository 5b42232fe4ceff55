#!/usr/bin/env bash
# Runs every test of edgenas on a fresh machine: installs what the tests need (idempotently),
# checks formatting and lints, then runs the workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The public tables live beside the checkout (../shared); tests find them there or via EDGENAS_SHARED.
if [ -z "${EDGENAS_SHARED:-}" ] && [ -d ../shared/data ]; then
  export EDGENAS_SHARED="$(cd ../shared && pwd)"
fi
if [ ! -f "${EDGENAS_SHARED:-../shared}/data/nb201_latency_help.csv" ]; then
  echo "test.sh: the shared data tables are missing (expected ../shared/data or \$EDGENAS_SHARED/data)" >&2
  exit 1
fi

# TensorFlow Lite's C library for the second runtime's tests (and the aarch64 -tflite tarball):
# from the npm registry, pinned by sha256, into third_party/tflite/ (idempotent).
bash scripts/fetch-tflite.sh
# ONNX Runtime's C library for the third runtime's tests: from the npm registry, pinned by
# sha256, into third_party/onnxruntime/ (idempotent). This host's platform only: the aarch64
# library crashes while loading under qemu-user (its static initialisers), so the emulated
# tiers run without ONNX Runtime, as a board without it would.
bash scripts/fetch-ort.sh
# onnxruntime's Python package: the real external program of the --exec tests
# (scripts/exec/ort-time.py) and the peer check (scripts/peer-check.py).
if ! python3 -c "import onnxruntime, numpy" >/dev/null 2>&1; then
  python3 -m pip install -q onnxruntime numpy 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
# Every build of this run has the `tflite` feature, so each target is compiled once.
FEATURES=(--features tflite)

# `man -l` renders the generated man page in tests/surface.rs.
if ! command -v man >/dev/null 2>&1; then
  sudo_ apt-get update -q >/dev/null 2>&1 || true
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q man-db >/dev/null
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
  cargo clippy --workspace --all-targets "${FEATURES[@]}" -- -D warnings
  # The default build (no TensorFlow Lite code at all) must stay clean too.
  cargo clippy --workspace --all-targets -- -D warnings
else
  echo "== cargo clippy: SKIPPED (clippy is not installed and cannot be fetched)"
fi
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "${FEATURES[@]}" 2>&1 | tee "$log"

# The end-to-end tests once more on a machine whose governor is `schedutil` (a fixture sysroot of
# an ordinary laptop): no test may depend on the host's governor.
echo "== end-to-end tests with the schedutil fixture (EDGENAS_SYSROOT=tests/fixtures/boards/laptop-schedutil)"
# (The parser fuzzing calls no measurement: once, above, is its run.)
EDGENAS_SYSROOT="$PWD/tests/fixtures/boards/laptop-schedutil" cargo test -p edgenas "${FEATURES[@]}" --tests -- \
  --exact --skip a_million_generated_inputs_and_not_one_panic 2>&1 | tee -a "$log"

# --- The ARM tier -------------------------------------------------------------------------------
# One release build per target (cross/build.sh: glibc 2.17 floor, checked, packaged in dist/), then
# the end-to-end tests of tests/ against the aarch64 binary under qemu.
# EDGENAS_SKIP_ARM=1 skips the tier (say so loudly: it is for quick local runs only).
if [ "${EDGENAS_SKIP_ARM:-0}" = 1 ]; then
  echo "== ARM tier: SKIPPED (EDGENAS_SKIP_ARM=1)"
else
  if ! command -v qemu-aarch64 >/dev/null 2>&1 || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
    echo "== installing qemu-user and the aarch64 C library (the emulated binary's loader)"
    sudo_ apt-get update -q >/dev/null 2>&1 || true
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user libc6-dev-arm64-cross >/dev/null
  fi
  # The two release builds run at once (armv7 in the background, into its own target directory):
  # each ends in a long single-threaded link-time optimisation, so together they keep both cores
  # busy where one after the other left one idle. Their prerequisites are installed first, one
  # package manager at a time.
  armv7_status=0
  build_armv7=${EDGENAS_ARMV7:-1}
  bash cross/build.sh --prepare aarch64-unknown-linux-gnu 2>&1 | tee -a "$log"
  if [ "$build_armv7" = 1 ]; then
    bash cross/build.sh --prepare armv7-unknown-linux-gnueabihf 2>&1 | tee -a "$log" || armv7_status=${PIPESTATUS[0]}
    # qemu-arm's loader: the armv7 binary writes its man page and completions under it at
    # packaging, and profiles an arch below.
    if [ "$armv7_status" = 0 ] && [ ! -e /usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3 ]; then
      sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libc6-armhf-cross >/dev/null
    fi
  fi
  builds_start=$(date +%s)
  v7dir=target/cross-armv7
  v7log=$(mktemp)
  v7pid=
  if [ "$build_armv7" = 1 ] && [ "$armv7_status" = 0 ]; then
    echo "== cross: armv7 release build (profile dist) in the background, into $v7dir"
    (
      t0=$(date +%s)
      status=0
      EDGENAS_CROSS_TARGET_DIR=$v7dir bash cross/build.sh armv7-unknown-linux-gnueabihf > "$v7log" 2>&1 || status=$?
      echo "== time: armv7 build $(( $(date +%s) - t0 )) s" >> "$v7log"
      exit "$status"
    ) &
    v7pid=$!
  fi
  echo "== cross: aarch64 release build (profile dist)"
  t0=$(date +%s)
  bash cross/build.sh aarch64-unknown-linux-gnu 2>&1 | tee -a "$log"
  echo "== time: aarch64 build $(( $(date +%s) - t0 )) s"
  a64=target/cross/aarch64-unknown-linux-gnu/dist/edgenas.stripped
  # Boards with little flash (issue 13): the shipped binary stays under 15 MB.
  a64_bytes=$(stat -c %s "$a64")
  if [ "$a64_bytes" -ge 15000000 ]; then
    echo "FAIL: the aarch64 binary is $a64_bytes bytes, over the 15,000,000-byte budget" | tee -a "$log"
    exit 1
  fi
  echo "== aarch64 binary: $a64_bytes bytes (budget 15,000,000)" | tee -a "$log"
  # Without unwind tables (cross/no-eh-frame.ld), an error with RUST_BACKTRACE=1 still ends in
  # its one line and status 1: capturing a backtrace finds no frames and stops.
  bt_err=$(RUST_BACKTRACE=1 qemu-aarch64 -L /usr/aarch64-linux-gnu "$a64" profile 'not-an-arch' 2>&1 >/dev/null) && bt_status=0 || bt_status=$?
  if [ "$bt_status" != 1 ] || [ "$(printf '%s\n' "$bt_err" | wc -l)" != 1 ]; then
    echo "FAIL: an error under RUST_BACKTRACE=1 gave status $bt_status and: $bt_err" | tee -a "$log"
    exit 1
  fi
  if [ -n "$v7pid" ]; then
    wait "$v7pid" || armv7_status=$?
    echo "== cross: armv7 build's output"
    tee -a "$log" < "$v7log"
  fi
  rm -f "$v7log"
  echo "== time: both release builds $(( $(date +%s) - builds_start )) s"
  if [ "$build_armv7" != 1 ]; then
    echo "== cross: armv7 SKIPPED (EDGENAS_ARMV7=0)"
  elif [ "$armv7_status" = 3 ]; then
    echo "== cross: armv7 SKIPPED (its standard library cannot be installed here; see above)"
  elif [ "$armv7_status" != 0 ]; then
    exit "$armv7_status"
  else
    v7=$v7dir/armv7-unknown-linux-gnueabihf/dist/edgenas.stripped
    echo "== armv7: profile an NB201 arch under qemu-arm ($v7)"
    v7home=$(mktemp -d)
    EDGENAS_HOME="$v7home" qemu-arm -L /usr/arm-linux-gnueabihf "$v7" profile \
      '|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|' \
      --allow-unstable --warmup-runs 1 --warmup-time 0 --min-runs 3 --min-time 0 --max-time 0 \
      --json > "$v7home/profile.json"
    python3 - "$v7home/profile.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
# uname's machine as the emulated binary sees it: "armv7l" on a board, "arm" under some qemu-arm.
assert r["fingerprint"]["arch"].startswith("arm"), r["fingerprint"]["arch"]
assert r["median_ms"] > 0 and r["runs"] >= 3, r
print(f"armv7 under qemu-arm: median {r['median_ms']:.3f} ms over {r['runs']} runs, arch {r['fingerprint']['arch']}")
PY
    rm -rf "$v7home"
  fi
  # `edgenas remote` against real sshds on 127.0.0.1 whose boards run dist/'s aarch64 tarball.
  if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null 2>&1; then
    echo "== installing openssh-server and openssh-client (remote tests: sshd on loopback)"
    sudo_ apt-get update -q >/dev/null 2>&1 || true
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server openssh-client >/dev/null
  fi
  echo "== remote: deploy, run, attach, fetch and a fleet over sshd on loopback (boards run $a64 under qemu)"
  cargo test -p edgenas "${FEATURES[@]}" --test remote -- --ignored 2>&1 | tee -a "$log"
  # The -tflite tarball as a user unpacks it: the binary finds the library beside itself. Its
  # libstdc++/libgcc_s come from Debian's arm64 cross packages (where qemu's -L looks).
  if [ ! -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || [ ! -e /usr/aarch64-linux-gnu/lib/libgcc_s.so.1 ]; then
    echo "== installing libstdc++6-arm64-cross and libgcc-s1-arm64-cross (TensorFlow Lite's C++ runtime under qemu)"
    sudo_ apt-get update -q >/dev/null 2>&1 || true
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libstdc++6-arm64-cross libgcc-s1-arm64-cross >/dev/null
  fi
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
  tflite_dir=$(mktemp -d)
  tar -xzf "dist/edgenas-$version-aarch64-unknown-linux-gnu-tflite.tar.gz" -C "$tflite_dir"
  a64_tflite="$tflite_dir/edgenas"
  echo "== the tarball's man page renders and its bash completions source"
  MANPAGER=cat man -l "$tflite_dir/edgenas.1" | grep -q "edgenas"
  bash -c "set -e; source '$tflite_dir/completions/edgenas.bash'; complete -p edgenas >/dev/null"
  for f in completions/edgenas.zsh completions/edgenas.fish libtensorflowlite_c.so NOTICE-tflite README.md; do
    test -s "$tflite_dir/$f" || { echo "test.sh: $f is missing from the -tflite tarball" >&2; exit 1; }
  done
  echo "== aarch64 -tflite tarball under qemu: infer and profile with --runtime tflite"
  tflhome=$(mktemp -d)
  arch='|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|'
  EDGENAS_HOME="$tflhome" qemu-aarch64 -L /usr/aarch64-linux-gnu "$a64_tflite" infer "$arch" \
    --runtime tflite --json > "$tflhome/infer-arm.json"
  cargo run -q -p edgenas "${FEATURES[@]}" -- infer "$arch" --json > "$tflhome/infer-x86-tract.json"
  EDGENAS_HOME="$tflhome" qemu-aarch64 -L /usr/aarch64-linux-gnu "$a64_tflite" profile "$arch" \
    --runtime tflite --allow-unstable --warmup-runs 1 --warmup-time 0 --min-runs 3 --min-time 0 \
    --max-time 0 --json > "$tflhome/profile.json"
  # int8: the aarch64 build writes the full-integer .tflite and its TensorFlow Lite runs it; the
  # x86 build's int8 run of the same arch is the reference.
  EDGENAS_HOME="$tflhome" qemu-aarch64 -L /usr/aarch64-linux-gnu "$a64_tflite" export "$arch" \
    -o "$tflhome/cell.int8.tflite" --precision int8 > /dev/null
  EDGENAS_HOME="$tflhome" qemu-aarch64 -L /usr/aarch64-linux-gnu "$a64_tflite" infer \
    "$tflhome/cell.int8.tflite" --runtime tflite --json > "$tflhome/infer-arm-int8.json"
  cargo run -q -p edgenas "${FEATURES[@]}" -- infer "$arch" --runtime tflite --precision int8 \
    --json > "$tflhome/infer-x86-int8.json"
  python3 - "$tflhome" <<'PY'
import json, math, sys
d = sys.argv[1]
def rel(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)) / sum(y * y for y in b))
arm8 = json.load(open(f"{d}/infer-arm-int8.json"))["output"]
x86_8 = json.load(open(f"{d}/infer-x86-int8.json"))["output"]
x86_32 = json.load(open(f"{d}/infer-x86-tract.json"))["output"]
assert len(arm8) == 10 and rel(arm8, x86_8) < 0.02 and rel(arm8, x86_32) < 0.15, (arm8, x86_8, x86_32)
print(f"aarch64 int8 .tflite under qemu: {rel(arm8, x86_8):.1e} from x86 int8, {rel(arm8, x86_32):.3f} from x86 fp32")
arm = json.load(open(f"{d}/infer-arm.json"))
x86 = json.load(open(f"{d}/infer-x86-tract.json"))
assert arm["runtime"] == "tflite" and arm["accelerator"] == "xnnpack", arm
worst = max(abs(a - b) for a, b in zip(arm["output"], x86["output"]))
assert len(arm["output"]) == len(x86["output"]) == 10 and worst < 1e-3, (worst, arm, x86)
p = json.load(open(f"{d}/profile.json"))["results"][0]
fp = p["fingerprint"]
assert fp["runtime"] == "tflite+xnnpack" and fp["runtime_version"].startswith("2.") and fp["arch"] == "aarch64", fp
assert p["median_ms"] > 0 and p["runs"] >= 3, p
print(f"aarch64 TensorFlow Lite {fp['runtime_version']} with XNNPACK under qemu: output within {worst:.1e} of x86 tract; "
      f"profile median {p['median_ms']:.3f} ms over {p['runs']} runs")
PY
  rm -rf "$tflhome"
  echo "== end-to-end tests on emulated aarch64 ($a64_tflite, from the -tflite tarball)"
  # Not run under the emulator, each with why (counted as skipped in the closing line): they
  # time networks or kill measurements mid-run, which says nothing at 500-2000x emulated speed.
  emulated_skips=(
    "a_cpu_hog_beside_the_measurement_is_flagged|contention timing under an emulator"
    "threads_and_affinity_are_recorded|two-thread runs are too slow emulated"
    "kill_9_then_resume|kill -9 timing on real measurements"
    "embeddings_keep_conditions_apart_and_probe_reports_staleness|four measured profiles, slow emulated"
    "uniform_cells_are_ordered_by_cost|timing under an emulator says nothing about the network"
    "reproducibility_is_reported_per_minimum_time_with_its_cost|times the same archs four times, minutes emulated"
    "the_loop_measures_here_and_reuses_what_it_measured|measured with tract on the emulated CPU (oracle tests cover the ARM build)"
    "run_survives_kill_9_at_three_points_and_loses_no_measurement|kill -9 timing on real measurements"
    "picks_truly_fit_and_are_near_the_best_that_fits|18 exact searches (the oracle loop test covers the ARM build)"
    "fbnet_oracle_runs_pick_from_the_table_and_the_cap_stops_verification|NASWOT scores of FBNet archs run tract, slow emulated"
    "meta_training_is_deterministic_for_a_seed|meta-training takes minutes emulated"
    "a_million_generated_inputs_and_not_one_panic|the parsers run in the test process, natively: the native tier fed them"
    "the_readme_tour_runs_top_to_bottom|times real networks under the default protocol (minutes emulated)"
    "long_work_reports_progress_with_a_counter_on_a_pipe|NASWOT scores run tract on random inputs, slow emulated"
    "search_parameters_that_make_the_search_meaningless_are_refused|runs a NASWOT search, slow emulated"
    "the_commands_run_on_onnxruntime_and_record_it|ONNX Runtime's aarch64 library crashes while loading under qemu-user: the emulated tier has none"
    "bench_runtimes_compares_the_same_archs_on_each_runtime|times ONNX Runtime, which the emulated tier has not"
    "profile_and_embed_journal_the_same_record|embeds the 10 references, slow emulated"
    "fbnet_kernels_are_timed_once_and_reused|times 102 kernels and FBNet archs with tract, minutes emulated (the oracle loop test covers the ARM build)"
    "ofa_kernels_are_timed_at_three_resolutions_and_interpolated|times 276 kernels and OFA archs with tract, minutes emulated"
    "a_timing_program_times_the_kernels_only_when_asked|writes 108 FBNet kernel networks for 864 program starts, minutes emulated"
  )
  skip_args=()
  for entry in "${emulated_skips[@]}"; do
    skip_args+=(--skip "${entry%%|*}")
    echo "SKIPPED (emulated tier): ${entry%%|*}: ${entry#*|}" | tee -a "$log"
  done
  EDGENAS_TEST_BIN="$a64_tflite" EDGENAS_TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
    cargo test -p edgenas "${FEATURES[@]}" --tests -- --exact "${skip_args[@]}" 2>&1 | tee -a "$log"
  echo "== the emulated aarch64 build against this one (tests/arm.rs)"
  EDGENAS_TEST_BIN="$PWD/$a64" EDGENAS_TEST_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
    cargo test -p edgenas "${FEATURES[@]}" --test arm -- --ignored 2>&1 | tee -a "$log"
  # The library crates' unit tests are not run as aarch64 binaries: libtest's harness hangs under
  # Debian 12's qemu-aarch64 (7.2) even for a one-line test, while plain binaries run. The
  # predictor's math on ARM is covered through the binary instead (tests/arm.rs, tests/predictor.rs).
fi

# One closing line over every test binary (cargo prints one "test result" line per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^SKIPPED/ { s++ }
     END { printf "tests: %d passed, %d failed, %d skipped (named above)\n", p, f, s }' "$log"
