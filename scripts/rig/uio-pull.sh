#!/usr/bin/env bash
# The hot-pluggable edu0 on uio_pci_generic pulled by QMP while it is served, ITERATIONS times
# in one boot (scripts/rig/guest-uio-pull.sh): MODE watch (`irqbridge watch` with `irqbridge
# trigger` raising through it) or daemon (`irqbridge daemon` with `ctl trigger` raising; the
# device must come back connected and the daemon's descriptors stay flat). A step that does not
# end in time is a HANG, printed with every task's kernel stack and wait channel.
# `-- --env SLOW_READS=N` (daemon mode) gives edu's profile N more status reads in its
# acknowledge, so pulls land while the ISR runs. Exits with the guest's count of failed cycles.
#
# usage: scripts/rig/uio-pull.sh [--mode watch|daemon] [--iterations N] [--no-build] [-- run.sh options]
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=watch
N=30
BUILD=1
while (($#)); do
    case $1 in
        --mode) MODE=$2; shift 2 ;;
        --iterations) N=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uio-pull: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $MODE == watch || $MODE == daemon ]] || { echo "uio-pull: --mode is watch or daemon, not '$MODE'" >&2; exit 2; }
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "uio-pull: --iterations must be a positive number, not '$N'" >&2; exit 2; }
((BUILD)) && swift build --product irqbridge >&2
IRQBRIDGE=$(swift build --show-bin-path)/irqbridge
[[ -x $IRQBRIDGE ]] || { echo "uio-pull: $IRQBRIDGE is missing (build first)" >&2; exit 1; }
scripts/rig/run.sh --devices edu@port --timeout $((120 + N * 40)) \
    --copy "$IRQBRIDGE" --copy scripts/rig/guest-uio-pull.sh "$@" \
    -- "$PWD/scripts/rig/guest-uio-pull.sh" "$IRQBRIDGE" "$MODE" "$N"
