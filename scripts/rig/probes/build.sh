#!/usr/bin/env bash
# Builds the rig's C probes as static binaries (they run in the guest without libraries).
# usage: scripts/rig/probes/build.sh [OUTPUT_DIR]   (default: <repo>/.rig/probes)
# Prints the output directory. Rebuilds a probe only when its sources changed.
set -euo pipefail
PROBES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
output=${1:-$PROBES_DIR/../../../.rig/probes}
mkdir -p "$output"
output=$(cd "$output" && pwd)
command -v gcc >/dev/null || { echo "probes: gcc not installed (apt-get install gcc libc6-dev)" >&2; exit 2; }
for source in "$PROBES_DIR"/*.c; do
    name=$(basename "$source" .c)
    binary=$output/$name
    if [[ ! -x $binary || $source -nt $binary || $PROBES_DIR/probe-common.h -nt $binary ]]; then
        gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -static -o "$binary.tmp" "$source"
        mv "$binary.tmp" "$binary"
    fi
done
echo "$output"
