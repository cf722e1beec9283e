#!/usr/bin/env bash
# The VFIO loopback trigger's round trip, the bridge against the raw C probe in one boot:
# boots edu + nvme, binds both to vfio-pci, and in the guest alternates
#   the C probe:  edu-roundtrip --backend vfio --mode msi --trigger loopback (p50_ns)
#   the bridge:   irqbridge selftest --device 0000:00:03.0 --kinds msi --loopback (stimulus to ISR p50,
#                 timed by the dispatch loop from the raise's mark to the ISR call)
# --rounds times each (scripts/rig/guest-loopback.sh), then again with both on CPU 0 only
# (taskset 1), then runs `irqbridge selftest` on nvme (loopback only: every kind).
# Fails when the bridge's figure is above --max-ratio (default 1.2) times the C probe's, or
# any run fails. Each side's figure is the median over its rounds of each round's p50 (a
# round whose whole process met millisecond host waits does not decide it, as it decided
# the mean of the rounds). Prints every round's p50, both figures and the ratios.
#
# --release measures the optimised build (the C probe is -O2; a debug build is not a fair peer).
#
# usage: scripts/rig/loopback-latency.sh [--count N] [--rounds N] [--max-ratio R] [--release] [--no-build] [-- run.sh options]
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=2000
ROUNDS=3
MAX_RATIO=1.2
BUILD=1
CONFIGURATION=debug
while (($#)); do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --max-ratio) MAX_RATIO=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --release) CONFIGURATION=release; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "loopback-latency: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "loopback-latency: --count must be a positive number, not '$COUNT'" >&2; exit 2; }
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "loopback-latency: --rounds must be 1..99, not '$ROUNDS'" >&2; exit 2; }
[[ $MAX_RATIO =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "loopback-latency: --max-ratio must be a number, not '$MAX_RATIO'" >&2; exit 2; }

((BUILD)) && swift build -c "$CONFIGURATION" --product irqbridge >&2
IRQBRIDGE=$(swift build -c "$CONFIGURATION" --show-bin-path)/irqbridge
[[ -x $IRQBRIDGE ]] || { echo "loopback-latency: $IRQBRIDGE is missing (build first)" >&2; exit 1; }
probes=$(scripts/rig/probes/build.sh)

RIG=$PWD/scripts/rig
GUEST="failed=0
$RIG/guest-loopback.sh $probes $IRQBRIDGE $COUNT $ROUNDS $MAX_RATIO || failed=\$((failed + 1))
$RIG/guest-loopback.sh $probes $IRQBRIDGE $COUNT $ROUNDS $MAX_RATIO 1 || failed=\$((failed + 1))
echo '== nvme (no register stimulus: VFIO loopback, every kind)'
$IRQBRIDGE selftest --device 0000:00:08.0 --count $COUNT || failed=\$((failed + 1))
echo \"== \$failed failure(s)\"
exit \$failed"
scripts/rig/run.sh --devices edu,nvme --copy "$probes" --copy "$IRQBRIDGE" --copy "$RIG" \
    --bind 0000:00:03.0=vfio-pci --bind 0000:00:08.0=vfio-pci "$@" -- sh -c "$GUEST"
