#!/usr/bin/env bash
# cross/check-floor.sh <target> <binary>...: fails when a binary is not fit for the boards:
#  - it needs a GLIBC_ symbol version above 2.17 (JetPack 4 has 2.27; a binary linked on a new
#    distribution silently needs 2.34 and dies at start on the board);
#  - it is not an ELF for the target's machine;
#  - (aarch64) a LOAD segment is aligned below 16 KiB: the Pi 5 kernel uses 16 KiB pages and
#    refuses to map such a binary.
set -euo pipefail
floor=2.17
target=${1:?usage: cross/check-floor.sh <target> <binary>...}
shift
case "$target" in
  aarch64-*) machine=AArch64; min_align=$((16 * 1024)) ;;
  armv7-*) machine=ARM; min_align=$((4 * 1024)) ;;
  *) echo "check-floor: unsupported target '$target'" >&2; exit 2 ;;
esac
status=0
for bin in "$@"; do
  header=$(readelf -h "$bin")
  if ! grep -q "Machine: *$machine\$" <<<"$header"; then
    echo "check-floor: $bin is not an $machine ELF" >&2; status=1; continue
  fi
  newest=$(readelf -V --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
  if [ -z "$newest" ]; then
    echo "check-floor: $bin has no GLIBC_ version needs (static or not a glibc binary?)" >&2; status=1; continue
  fi
  if [ "$(printf '%s\n%s\n' "$floor" "$newest" | sort -V | tail -n1)" != "$floor" ]; then
    echo "check-floor: FAIL $bin needs GLIBC_$newest, above the $floor floor:" >&2
    readelf -V --wide "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | sed 's/^/  /' >&2
    status=1; continue
  fi
  smallest=
  for align in $(readelf -lW "$bin" | awk '$1 == "LOAD" { print $NF }'); do
    align=$((align)) # 0x10000 -> 65536
    if [ -z "$smallest" ] || [ "$align" -lt "$smallest" ]; then smallest=$align; fi
  done
  if [ -z "$smallest" ] || [ "$smallest" -lt "$min_align" ]; then
    echo "check-floor: FAIL $bin has a LOAD segment aligned to ${smallest:-?} bytes (< $min_align)" >&2
    status=1; continue
  fi
  echo "check-floor: ok $bin ($machine, newest GLIBC_$newest <= $floor, LOAD align >= $smallest)"
done
exit $status
