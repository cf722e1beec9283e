#!/usr/bin/env bash
# The QEMU round trip "write edu 0x60 -> ISR runs -> acknowledge", MSI and INTx:
# the bridge (VFIO backend + IoConnectInterruptEx) against a raw C VFIO loop,
# in the same boot of the rig (scripts/rig/run.sh, edu at 0000:00:03.0 bound
# to vfio-pci), interleaved, medians over repetitions.
#
# usage: scripts/bench/rig-roundtrip.sh [irqbridge bench options]
#   e.g. scripts/bench/rig-roundtrip.sh --quick
#        scripts/bench/rig-roundtrip.sh --json - > rig.json   (JSON on stdout; the table is not printed)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
EDU=0000:00:03.0
swift build -c release --product irqbridge >&2
exec scripts/rig/run.sh --devices edu --bind "$EDU=vfio-pci" --timeout 900 -- \
    .build/release/irqbridge bench --rig-edu "$EDU" "$@"
