#!/usr/bin/env bash
# Fetches ONNX Runtime's C library (1.30.0, CPU build) for this host's platform (x86_64 or
# aarch64 Linux; --all: both) into third_party/onnxruntime/ (git-ignored). The source is the npm package onnxruntime-node@1.30.0
# (MIT, Microsoft), which carries the prebuilt libonnxruntime.so.1 of each platform (glibc
# >= 2.28); the package and each library are pinned by sha256. Idempotent: a second run checks
# and exits.
#
#   third_party/onnxruntime/linux-x86_64/libonnxruntime.so.1
#   third_party/onnxruntime/linux-aarch64/libonnxruntime.so.1
#
# edgenas loads the library at run time (dlopen), only when --runtime ort asks for it, so a build
# needs none of this; tests and the -tflite tarballs (which carry it too) do. On a Jetson, point
# EDGENAS_ORT_LIB at the board's own build with CUDA and TensorRT instead (README).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=onnxruntime-node
VERSION=1.30.0
TGZ_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
declare -A LIB_SHA256=(
  [linux-x86_64]=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
  [linux-aarch64]=1f549d46250b005580b597f4164984aaf75b3bcb9f3aeb07c7f8a8fe60b23c76
)
declare -A NPM_DIR=([linux-x86_64]=x64 [linux-aarch64]=arm64)
if [[ ${1:-} != --all ]]; then
  host="linux-$(uname -m)"
  [[ -n ${LIB_SHA256[$host]:-} ]] || { echo "fetch-ort: no library for $host (x86_64, aarch64)" >&2; exit 1; }
  for platform in "${!LIB_SHA256[@]}"; do
    [[ $platform == "$host" ]] || unset "LIB_SHA256[$platform]"
  done
fi
DEST=third_party/onnxruntime
LIB=libonnxruntime.so.1

have_all() {
  for platform in "${!LIB_SHA256[@]}"; do
    local lib="$DEST/$platform/$LIB"
    [[ -f $lib ]] || return 1
    [[ $(sha256sum "$lib" | cut -d' ' -f1) == "${LIB_SHA256[$platform]}" ]] || return 1
  done
}

if have_all; then
  echo "fetch-ort: $DEST is up to date (ONNX Runtime from $PACKAGE@$VERSION)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source scripts/npm-package.sh
npm_package "$PACKAGE" "$VERSION" "$TGZ_SHA256" "$tmp/package.tgz" fetch-ort
tar -xzf "$tmp/package.tgz" -C "$tmp" package/bin/napi-v6/linux
for platform in "${!LIB_SHA256[@]}"; do
  src="$tmp/package/bin/napi-v6/linux/${NPM_DIR[$platform]}/$LIB"
  got=$(sha256sum "$src" | cut -d' ' -f1)
  if [[ $got != "${LIB_SHA256[$platform]}" ]]; then
    echo "fetch-ort: $platform library has sha256 $got, expected ${LIB_SHA256[$platform]}" >&2
    exit 1
  fi
  mkdir -p "$DEST/$platform"
  install -m 0755 "$src" "$DEST/$platform/$LIB"
done
cat > "$DEST/NOTICE" <<NOTICE
libonnxruntime.so.1: ONNX Runtime $VERSION (MIT License, (c) Microsoft Corporation), as prebuilt
in the npm package $PACKAGE@$VERSION (github.com/microsoft/onnxruntime, js/node), sha256 of the
package $TGZ_SHA256.
NOTICE
echo "fetch-ort: ONNX Runtime from $PACKAGE@$VERSION in $DEST"
