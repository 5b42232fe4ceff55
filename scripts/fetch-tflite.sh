#!/usr/bin/env bash
# Fetches TensorFlow Lite's C library (2.9, classic C API) for x86_64 and aarch64 Linux, and its
# headers, into third_party/tflite/ (git-ignored). The source is the npm package
# tfjs-tflite-node@0.0.2 (Apache-2.0), which carries prebuilt libtensorflowlite_c.so files;
# the package and each library are pinned by sha256. Idempotent: a second run checks and exits.
#
#   third_party/tflite/linux-x86_64/libtensorflowlite_c.so
#   third_party/tflite/linux-aarch64/libtensorflowlite_c.so
#   third_party/tflite/include/tensorflow/lite/c/*.h
#
# edgenas loads the library at run time (dlopen), only when --runtime tflite asks for it, so a
# build needs none of this; tests and the -tflite tarballs do.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=tfjs-tflite-node
VERSION=0.0.2
TGZ_SHA256=3be1632328a76a2475e5b6833253763c802c859433becb4d879ee1860e3b5284
declare -A LIB_SHA256=(
  [linux-x86_64]=dc89b4cd86d956516570bd483668e6dd98907f49901d0567dedc69a29a56b7f7
  [linux-aarch64]=ec0dee4fb3418e680d010248ac1e304d9656cc5c8de54caaf91d666712e2f633
)
declare -A NPM_DIR=([linux-x86_64]=linux_amd64 [linux-aarch64]=linux_arm64)
DEST=third_party/tflite

have_all() {
  for platform in "${!LIB_SHA256[@]}"; do
    local lib="$DEST/$platform/libtensorflowlite_c.so"
    [[ -f $lib ]] || return 1
    [[ $(sha256sum "$lib" | cut -d' ' -f1) == "${LIB_SHA256[$platform]}" ]] || return 1
  done
  [[ -f $DEST/include/tensorflow/lite/c/c_api.h ]]
}

if have_all; then
  echo "fetch-tflite: $DEST is up to date (TensorFlow Lite from $PACKAGE@$VERSION)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source scripts/npm-package.sh
npm_package "$PACKAGE" "$VERSION" "$TGZ_SHA256" "$tmp/package.tgz" fetch-tflite
tar -xzf "$tmp/package.tgz" -C "$tmp"
for platform in "${!LIB_SHA256[@]}"; do
  src="$tmp/package/cc_deps/${NPM_DIR[$platform]}/libtensorflowlite_c.so"
  got=$(sha256sum "$src" | cut -d' ' -f1)
  if [[ $got != "${LIB_SHA256[$platform]}" ]]; then
    echo "fetch-tflite: $platform library has sha256 $got, expected ${LIB_SHA256[$platform]}" >&2
    exit 1
  fi
  mkdir -p "$DEST/$platform"
  install -m 0755 "$src" "$DEST/$platform/libtensorflowlite_c.so"
done
rm -rf "$DEST/include"
mkdir -p "$DEST/include"
cp -r "$tmp/package/cc_deps/include/tensorflow" "$DEST/include/"
cat > "$DEST/NOTICE" <<NOTICE
libtensorflowlite_c.so: TensorFlow Lite 2.9 C library (Apache License 2.0, (c) The TensorFlow
Authors), as prebuilt in the npm package $PACKAGE@$VERSION (github.com/tensorflow/tfjs,
directory tfjs-tflite-node), sha256 of the package $TGZ_SHA256.
NOTICE
echo "fetch-tflite: TensorFlow Lite from $PACKAGE@$VERSION in $DEST"
