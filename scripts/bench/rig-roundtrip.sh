#!/usr/bin/env bash
# The QEMU round trip "write edu 0x60 -> ISR runs -> acknowledge", MSI and INTx:
# the bridge (VFIO backend + IoConnectInterruptEx) against a raw C VFIO loop,
# in the same boot of the rig (scripts/rig/run.sh, edu at 0000:00:03.0 bound
# to vfio-pci), interleaved, medians over repetitions.
#
# With --boots N (N > 1) the rig is booted N times and summarize-boots.py prints
# each boot's ratio per row and the verdict on the median over boots: a single
# TCG boot moves ratios by up to ~9% by itself (see --self-check), more than a
# 1.10x target leaves.
#
# usage: scripts/bench/rig-roundtrip.sh [--boots N] [irqbridge bench options]
#   e.g. scripts/bench/rig-roundtrip.sh --quick
#        scripts/bench/rig-roundtrip.sh --json - > rig.json   (JSON on stdout; the table is not printed)
#        scripts/bench/rig-roundtrip.sh --boots 5             (per-boot ratios and the median verdicts)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
EDU=0000:00:03.0
BOOTS=1
if [[ ${1:-} == --boots ]]; then
    [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "rig-roundtrip: --boots needs a positive number" >&2; exit 2; }
    BOOTS=$2
    shift 2
fi
swift build -c release --product irqbridge >&2
run_boot() {
    scripts/rig/run.sh --devices edu --bind "$EDU=vfio-pci" --timeout 900 -- \
        .build/release/irqbridge bench --rig-edu "$EDU" "$@"
}
if ((BOOTS == 1)); then
    run_boot "$@"
    exit
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((boot = 1; boot <= BOOTS; boot++)); do
    echo "rig-roundtrip: boot $boot of $BOOTS" >&2
    run_boot "$@" --json - > "$work/boot-$boot.json"
done
python3 scripts/bench/summarize-boots.py "$work"/boot-*.json
