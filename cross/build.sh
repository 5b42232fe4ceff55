#!/usr/bin/env bash
# cross/build.sh <target>: a release edgenas for an ARM board, linked against glibc 2.17 so that
# every JetPack (4: glibc 2.27, 5: 2.31, 6: 2.35) and Raspberry Pi OS runs it, packaged as
#   dist/edgenas-<version>-<target>.tar.gz (+ .sha256)
# Targets: aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf.
#
# How: Debian's rustc-web (/usr/bin/rustc) with the target's standard library from Debian's
# packages (this machine fetches no rustup toolchain), and cargo-zigbuild, whose zig linker
# links against the glibc version named in the target suffix. CARGO_TARGET_*_LINKER must stay
# unset: it silently overrides zig and the floor with it.
#
# Exit codes: 0 built and packaged; 3 skipped because the target's std cannot be installed on
# this machine (said on stderr); anything else is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: cross/build.sh aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf}
case "$target" in
  aarch64-unknown-linux-gnu) debarch=arm64 ;;
  armv7-unknown-linux-gnueabihf) debarch=armhf ;;
  *) echo "cross/build.sh: unsupported target '$target'" >&2; exit 2 ;;
esac
glibc_floor=2.17
target_dir=${EDGENAS_CROSS_TARGET_DIR:-target/cross}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- prerequisites (idempotent) ---------------------------------------------------------------
if [ ! -x /usr/bin/rustc ] || [ ! -d "/usr/lib/rustlib/$target/lib" ]; then
  echo "== cross: installing rustc-web and the $debarch standard library"
  if ! dpkg --print-foreign-architectures | grep -qx "$debarch"; then
    as_root dpkg --add-architecture "$debarch"
  fi
  as_root apt-get update -q >/dev/null 2>&1 || true # a suite out of sync must not stop the build here
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rustc-web "libstd-rust-web-dev:$debarch" >/tmp/edgenas-cross-apt.log 2>&1; then
    reason=$(grep -m1 -E '^(E:| [a-z].*: Depends:)' /tmp/edgenas-cross-apt.log || tail -n1 /tmp/edgenas-cross-apt.log)
    echo "cross/build.sh: SKIPPED $target: apt cannot install libstd-rust-web-dev:$debarch ($reason)" >&2
    exit 3
  fi
fi
if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "== cross: installing cargo-zigbuild and ziglang from PyPI"
  python3 -m pip install -q cargo-zigbuild ziglang
  hash -r
fi

# --- build --------------------------------------------------------------------------------------
for var in $(env | sed -n 's/^\(CARGO_TARGET_[A-Z0-9_]*_LINKER\)=.*/\1/p'); do
  echo "cross: unsetting $var (it would override zig and lose the glibc floor)" >&2
  unset "$var"
done
echo "== cross: building $target (glibc floor $glibc_floor) with $(/usr/bin/rustc --version)"
start=$(date +%s)
RUSTC=/usr/bin/rustc cargo zigbuild --release --locked --bin edgenas \
  --target "$target.$glibc_floor" --target-dir "$target_dir"
echo "cross: $target built in $(( $(date +%s) - start )) s"
bin="$target_dir/$target/release/edgenas"

bash cross/check-floor.sh "$target" "$bin"

# --- package ------------------------------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
name="edgenas-$version-$target"
mkdir -p dist
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/edgenas"
cp README.md "$stage/README.md"
tar -C "$stage" --owner=0 --group=0 --mtime='2026-01-01 00:00Z' -czf "dist/$name.tar.gz" edgenas README.md
(cd dist && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "cross: dist/$name.tar.gz ($(stat -c %s "$bin") bytes stripped binary)"
