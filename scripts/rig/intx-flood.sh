#!/usr/bin/env bash
# A pulled card's INTx line, shared with a card under test: one boot with edu0 (hot-pluggable,
# 0000:01:00.0, INTx on GSI 20 through its root port) held on vfio-pci with MSI, and edu
# 0000:00:04.0 on uio_pci_generic on the same line 20. edu0 is pulled and added back
# repeatedly (scripts/rig/guest-intx-flood.sh), and every pull's interrupts on line 20 are
# counted: all of them unhandled, since the card under test has nothing pending.
#   probe: the raw-C edu-pull lets edu0 go at the removal request by each of --modes: a raise
#          that reached it after its MSI was disabled keeps its line asserted, with no handler,
#          until it is gone (vfio-pci cannot reset a card it closes during a removal); one
#          acknowledged before the close does not
#   bridge: `irqbridge wait` holds edu0 while `irqbridge trigger` has it raise back to back,
#          through a profile whose raise reads the status --reads times before its write (a
#          slow raise, so that one is in flight when the removal comes)
# Prints the guest's PULL and SUMMARY lines; exits 1 when a bridge pull flooded (> 100).
#
# usage: scripts/rig/intx-flood.sh [--irqbridge PATH] [--modes "close raise-ack raise"]
#                                  [--reads "0 30 100 300 1000 ..."] [-- run.sh options]
set -euo pipefail
cd "$(dirname "$0")/../.."
IRQBRIDGE=$(swift build --show-bin-path 2>/dev/null)/irqbridge
MODES="close pending raise-ack raise"
READS="0 10 30 100 300 1000 0 10 30 100 300 1000"
while (($#)); do
    case $1 in
        --irqbridge) IRQBRIDGE=$2; shift 2 ;;
        --modes) MODES=$2; shift 2 ;;
        --reads) READS=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "intx-flood: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ -x $IRQBRIDGE ]] || { echo "intx-flood: $IRQBRIDGE is missing (swift build --product irqbridge)" >&2; exit 2; }
for r in $READS; do [[ $r =~ ^[0-9]+$ ]] || { echo "intx-flood: --reads takes numbers, not '$r'" >&2; exit 2; }; done
PROBES=$(scripts/rig/probes/build.sh)
PROFILES=$(mktemp -d /tmp/irqbridge-intx-flood.XXXXXX)
trap 'rm -rf "$PROFILES"' EXIT
for r in $READS; do
    [[ -f $PROFILES/edu-slow-$r.yaml ]] && continue
    {
        echo "name: edu-slow-$r"
        echo "description: QEMU's edu, each raise after $r reads of its status (a slow raise)"
        echo "match: {vendor: 0x1234, device: 0x11e8}"
        echo "stimulus:"
        echo "  interrupts: [intx, msi]"
        echo "  vectors: 1"
        echo "  raise:"
        for ((i = 0; i < r; i++)); do printf '    - read: {bar: 0, offset: 0x24, width: 32}\n      into: s\n'; done
        printf '    - write: {bar: 0, offset: 0x60, width: 32}\n      value: 1\n'
        # The built-in edu profile's acknowledge and quiesce.
        "$IRQBRIDGE" profile show edu | sed -n '/^acknowledge:/,$p'
    } > "$PROFILES/edu-slow-$r.yaml"
done
args=(probe $MODES)
[[ -n ${READS// /} ]] && args+=(-- bridge $READS)
out=$(mktemp /tmp/irqbridge-intx-flood-out.XXXXXX)
trap 'rm -rf "$PROFILES" "$out"' EXIT
scripts/rig/run.sh --devices edu@04,edu@port --bind 0000:00:04.0=uio_pci_generic --timeout 600 \
    --copy "$PROBES" --copy "$IRQBRIDGE" --copy "$PROFILES" --copy scripts/rig/guest-intx-flood.sh "$@" \
    -- "$PWD/scripts/rig/guest-intx-flood.sh" "$PROBES" "$IRQBRIDGE" "$PROFILES" "${args[@]}" | tee "$out"
if grep -q '^PULL bridge' "$out" && ! grep '^SUMMARY bridge' "$out" | grep -q ' 0 flooded'; then
    echo "intx-flood: a pull left edu0's line asserted under irqbridge" >&2
    exit 1
fi
