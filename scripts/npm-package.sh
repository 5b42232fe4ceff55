# Sourced by scripts/fetch-*.sh: fetches an npm package's tarball, pinned by sha256.
#
#   npm_package NAME VERSION SHA256 OUT.tgz TAG
#
# The registry's tarball URL needs only curl; `npm pack` is the fallback where curl is missing.
# A tarball with another sha256 is refused (TAG names the calling script in the message).
npm_package() {
  local name=$1 version=$2 sha256=$3 out=$4 tag=$5 got
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 -o "$out" "https://registry.npmjs.org/$name/-/$name-$version.tgz"
  else
    local dir
    dir=$(dirname "$out")
    (cd "$dir" && npm pack --silent "$name@$version" >/dev/null && mv "$name-$version.tgz" "$out")
  fi
  got=$(sha256sum "$out" | cut -d' ' -f1)
  if [[ $got != "$sha256" ]]; then
    echo "$tag: $name-$version.tgz has sha256 $got, expected $sha256; refusing it" >&2
    exit 1
  fi
}
