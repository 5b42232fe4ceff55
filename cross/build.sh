#!/usr/bin/env bash
# cross/build.sh <target>: a release edgenas for an ARM board, linked against glibc 2.17 so that
# every JetPack (4: glibc 2.27, 5: 2.31, 6: 2.35) and Raspberry Pi OS runs it, packaged as
#   dist/edgenas-<version>-<target>.tar.gz (+ .sha256)
# and, for aarch64, the same binary with TensorFlow Lite's C library beside it:
#   dist/edgenas-<version>-<target>-tflite.tar.gz (+ .sha256)
# Targets: aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf.
#
# The binary is built once, with the `tflite` feature: it opens the library only when
# `--runtime tflite` asks for it, so the plain tarball's binary runs everywhere and the -tflite
# tarball adds the library (scripts/fetch-tflite.sh, pinned by sha256) and nothing else.
#
# How: Debian's rustc-web (/usr/bin/rustc) with the target's standard library from Debian's
# packages (this machine fetches no rustup toolchain), and cargo-zigbuild, whose zig linker
# links against the glibc version named in the target suffix. CARGO_TARGET_*_LINKER must stay
# unset: it silently overrides zig and the floor with it.
#
# `cross/build.sh --prepare <target>` installs the prerequisites only (apt, rustup, pip), so that
# two builds can then run at once without two package managers racing (scripts/test.sh).
#
# Exit codes: 0 built and packaged (or prepared); 3 skipped because the target's std cannot be
# installed on this machine (said on stderr); anything else is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

prepare_only=0
if [ "${1:-}" = --prepare ]; then
  prepare_only=1
  shift
fi
target=${1:?usage: cross/build.sh [--prepare] aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf}
case "$target" in
  aarch64-unknown-linux-gnu) debarch=arm64 ;;
  armv7-unknown-linux-gnueabihf) debarch=armhf ;;
  *) echo "cross/build.sh: unsupported target '$target'" >&2; exit 2 ;;
esac
glibc_floor=2.17
target_dir=${EDGENAS_CROSS_TARGET_DIR:-target/cross}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- prerequisites (idempotent) ---------------------------------------------------------------
# The target's standard library: Debian's (rustc-web and libstd-rust-web-dev:<arch>), else
# rustup's (`rustup target add`), which serves when apt's index for that architecture is out of
# sync (armhf often is). Skipped (exit 3) only when both fail, with both reasons.
rustc_bin=/usr/bin/rustc
if [ ! -x /usr/bin/rustc ] || [ ! -d "/usr/lib/rustlib/$target/lib" ]; then
  # A standard library rustup added earlier (a --prepare run) serves without asking apt again.
  if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    rustc_bin=$(rustup which rustc)
  fi
fi
if [ "$rustc_bin" = /usr/bin/rustc ] && { [ ! -x /usr/bin/rustc ] || [ ! -d "/usr/lib/rustlib/$target/lib" ]; }; then
  echo "== cross: installing rustc-web and the $debarch standard library"
  if ! dpkg --print-foreign-architectures | grep -qx "$debarch"; then
    as_root dpkg --add-architecture "$debarch"
  fi
  as_root apt-get update -q >/dev/null 2>&1 || true # a suite out of sync must not stop the build here
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rustc-web "libstd-rust-web-dev:$debarch" >/tmp/edgenas-cross-apt.log 2>&1; then
    apt_reason=$(grep -m1 -E '^(E:| [a-z].*: (Depends|Breaks):)' /tmp/edgenas-cross-apt.log || tail -n1 /tmp/edgenas-cross-apt.log)
    echo "== cross: apt cannot install libstd-rust-web-dev:$debarch ($apt_reason); trying rustup target add $target"
    if command -v rustup >/dev/null 2>&1 && rustup target add "$target" >/tmp/edgenas-cross-rustup.log 2>&1; then
      rustc_bin=$(rustup which rustc)
    else
      rustup_reason=$(tail -n1 /tmp/edgenas-cross-rustup.log 2>/dev/null || echo "rustup is not installed")
      echo "cross/build.sh: SKIPPED $target: apt cannot install libstd-rust-web-dev:$debarch ($apt_reason); rustup target add $target failed too ($rustup_reason)" >&2
      exit 3
    fi
  fi
fi
if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "== cross: installing cargo-zigbuild and ziglang from PyPI"
  python3 -m pip install -q cargo-zigbuild ziglang
  hash -r
fi
if [ "$prepare_only" = 1 ]; then
  echo "== cross: $target prerequisites in place"
  exit 0
fi

# --- build --------------------------------------------------------------------------------------
for var in $(env | sed -n 's/^\(CARGO_TARGET_[A-Z0-9_]*_LINKER\)=.*/\1/p'); do
  echo "cross: unsetting $var (it would override zig and lose the glibc floor)" >&2
  unset "$var"
done
echo "== cross: building $target (glibc floor $glibc_floor, profile dist) with $($rustc_bin --version)"
start=$(date +%s)
# For the board's binary only (not build scripts): no unwind tables (panics abort; the panic
# hook's one line needs none; rustc still writes them, so cross/no-eh-frame.ld discards them at
# link time) and no position independence (no relocation table to carry).
target_var=CARGO_TARGET_$(echo "$target" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
export "$target_var=-C force-unwind-tables=no -C relocation-model=static -C link-arg=-Wl,-T,$PWD/cross/no-eh-frame.ld"
RUSTC=$rustc_bin cargo zigbuild --profile dist --locked --bin edgenas --features tflite \
  --target "$target.$glibc_floor" --target-dir "$target_dir"
echo "cross: $target built in $(( $(date +%s) - start )) s"
built="$target_dir/$target/dist/edgenas"

# Symbols for crash reports go to a separate file (kept in dist/, not in the tarball); the
# shipped binary is stripped and names its debug file (.gnu_debuglink).
objcopy=$(command -v llvm-objcopy || true)
if [ -z "$objcopy" ]; then
  objcopy="$($rustc_bin --print sysroot)/lib/rustlib/$($rustc_bin -vV | sed -n 's/^host: //p')/bin/rust-objcopy"
fi
bin="$target_dir/$target/dist/edgenas.stripped"
debug="$target_dir/$target/dist/edgenas.debug"
"$objcopy" --only-keep-debug "$built" "$debug"
"$objcopy" --strip-all --add-gnu-debuglink="$debug" "$built" "$bin"

bash cross/check-floor.sh "$target" "$bin"

# --- package ------------------------------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
name="edgenas-$version-$target"
mkdir -p dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/edgenas"
cp README.md "$stage/README.md"
# The man page and shell completions, generated by the binary itself from its one CLI definition:
# run natively on a matching host, else under qemu-user with the target's loader.
case "$target" in
  aarch64-unknown-linux-gnu) qemu=qemu-aarch64; loader_root=/usr/aarch64-linux-gnu; machine=aarch64 ;;
  armv7-unknown-linux-gnueabihf) qemu=qemu-arm; loader_root=/usr/arm-linux-gnueabihf; machine=armv7l ;;
esac
if [ "$(uname -m)" = "$machine" ]; then
  run_target=("$bin")
else
  run_target=("$qemu" -L "$loader_root" "$bin")
fi
packaged=(edgenas README.md)
mkdir -p "$stage/completions"
if "${run_target[@]}" man > "$stage/edgenas.1" 2>/dev/null \
  && for sh in bash zsh fish; do "${run_target[@]}" completions "$sh" > "$stage/completions/edgenas.$sh" || exit 1; done; then
  packaged+=(edgenas.1 completions)
else
  echo "cross: SKIPPED the man page and completions in the tarball (cannot run the $target binary here: install qemu-user and the target's libc, e.g. libc6-dev-arm64-cross)" >&2
fi
tar -C "$stage" --owner=0 --group=0 --mtime='2026-01-01 00:00Z' -czf "dist/$name.tar.gz" "${packaged[@]}"
(cd dist && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
cp "$debug" "dist/$name.debug"
echo "cross: dist/$name.tar.gz ($(stat -c %s "$bin") bytes stripped binary; symbols in dist/$name.debug)"

# The -tflite tarball: the same binary, TensorFlow Lite's library beside it (found there through
# the binary's own path), and the library's notice.
case "$target" in
  aarch64-unknown-linux-gnu) tflite_platform=linux-aarch64 ;;
  *) tflite_platform= ;;
esac
if [ -n "$tflite_platform" ]; then
  bash scripts/fetch-tflite.sh
  cp "third_party/tflite/$tflite_platform/libtensorflowlite_c.so" "$stage/"
  cp third_party/tflite/NOTICE "$stage/NOTICE-tflite"
  tar -C "$stage" --owner=0 --group=0 --mtime='2026-01-01 00:00Z' -czf "dist/$name-tflite.tar.gz" \
    "${packaged[@]}" libtensorflowlite_c.so NOTICE-tflite
  (cd dist && sha256sum "$name-tflite.tar.gz" > "$name-tflite.tar.gz.sha256")
  echo "cross: dist/$name-tflite.tar.gz (with TensorFlow Lite $(sed -n 's/.*npm package \(.*\) (github.*/\1/p' third_party/tflite/NOTICE))"
fi
