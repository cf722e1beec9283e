#!/usr/bin/env bash
# Builds the rig's C probes as static binaries (they run in the guest without libraries).
# usage: scripts/rig/probes/build.sh [OUTPUT_DIR]   (default: <repo>/.rig/probes)
# Prints the output directory. Rebuilds a probe only when its sources changed.
set -euo pipefail
PROBES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
output=${1:-$PROBES_DIR/../../../.rig/probes}
mkdir -p "$output"
output=$(cd "$output" && pwd)
if ! command -v gcc >/dev/null || [[ ! -f /usr/lib/x86_64-linux-gnu/libc.a ]]; then
    echo "probes: installing gcc and libc6-dev (scripts/bootstrap.sh)" >&2
    "$PROBES_DIR/../../bootstrap.sh" >&2 || { echo "probes: gcc/libc6-dev missing and bootstrap failed" >&2; exit 2; }
fi
# edu-roundtrip's round trips are CBaselines' raw-C edu loop (the one the
# benchmark holds the bridge against), compiled in rather than copied.
CBASELINES=$(cd "$PROBES_DIR/../../../Sources/CBaselines" && pwd)
cbaselines_sources=("$CBASELINES"/probe.c "$CBASELINES"/driver.c "$CBASELINES"/epoll_receiver.c "$CBASELINES"/vfio_edu.c)
for source in "$PROBES_DIR"/*.c; do
    name=$(basename "$source" .c)
    binary=$output/$name
    extra=()
    [[ $name == edu-roundtrip ]] && extra=(-I"$CBASELINES/include" "${cbaselines_sources[@]}" -pthread)
    stale=0
    for input in "$source" "$PROBES_DIR/probe-common.h" "${extra[@]:1}" "$CBASELINES"/include/*.h; do
        [[ $input == -* || ! -e $input ]] && continue
        [[ $input -nt $binary ]] && stale=1
    done
    if [[ ! -x $binary ]] || ((stale)); then
        gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -static -o "$binary.tmp.$$" "$source" "${extra[@]}"
        mv "$binary.tmp.$$" "$binary"
    fi
done
echo "$output"
