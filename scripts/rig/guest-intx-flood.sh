#!/bin/sh
# Runs in the rig's guest (scripts/rig/intx-flood.sh): edu0 (0000:01:00.0, behind root port
# 00:10.0) shares INTx line 20 with edu 0000:00:04.0 on uio_pci_generic (whose handler claims
# only its own card's interrupts). edu0 is held on vfio-pci with MSI, pulled, added back.
#   probe MODE...   edu-pull (raw C) lets edu0 go in MODE at the removal request (close,
#                   raise-ack, raise, pending: see probes/edu-pull.c)
#   bridge READS... `irqbridge wait` holds edu0 with profile edu-slow-READS (READS status reads
#                   before each raising write), `irqbridge trigger` has it raise back to back,
#                   and edu0 is pulled mid-run
# Prints one "PULL ..." line per pull with line 20's interrupts across it (all unhandled: the
# card on the line has nothing pending) and a SUMMARY line per part.
# usage: guest-intx-flood.sh PROBES IRQBRIDGE PROFILES probe MODE... [-- bridge READS...]
PROBES=$1 IRQ=$2 PROFILES=$3; shift 3
PORT=0000:01:00.0
line20() { awk '$1 == "20:" { print $2 + $3 }' /proc/interrupts; }
plug() {
    if [ ! -e /sys/bus/pci/devices/$PORT ]; then
        rig-hotplug add edu0 > /dev/null || echo "rig-hotplug add edu0 failed"
        i=0; while [ ! -e /sys/bus/pci/devices/$PORT ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    fi
    rig-bind $PORT vfio-pci > /dev/null || echo "cannot bind $PORT to vfio-pci"
}
pulls=0 floods=0 total=0
# pull LABEL: pulls edu0, and counts line 20 across it.
pull() {
    before=$(line20)
    rig-hotplug remove edu0 > /dev/null || echo "rig-hotplug remove edu0 failed"
}
counted() {
    sleep 0.3
    delta=$(( $(line20) - before ))
    pulls=$((pulls + 1)); total=$((total + delta)); [ $delta -gt 100 ] && floods=$((floods + 1))
    echo "PULL $1: line 20 +$delta interrupts across the pull (spurious: $(tr '\n' ' ' < /proc/irq/20/spurious))"
}
summary() { echo "SUMMARY $1: $pulls pull(s), $floods flooded (> 100 interrupts), $total interrupts on line 20 in all"; pulls=0 floods=0 total=0; }

part=$1; shift
while [ -n "$part" ]; do
    case $part in
        probe)
            while [ $# -gt 0 ] && [ "$1" != -- ]; do
                plug
                $PROBES/edu-pull --bdf $PORT --mode "$1" > /tmp/edu-pull.out 2>&1 & probe=$!
                i=0; while ! grep -q READY /tmp/edu-pull.out && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
                pull; wait $probe
                grep -v READY /tmp/edu-pull.out
                counted "probe $1"
                shift
            done
            summary probe ;;
        bridge)
            while [ $# -gt 0 ] && [ "$1" != -- ]; do
                plug
                $IRQ wait $PORT --profile "$PROFILES/edu-slow-$1.yaml" --count 1000000000 --timeout 120 > /tmp/wait.out 2>&1 & holder=$!
                i=0; while [ ! -S /run/irqbridge/$PORT.trigger ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
                $IRQ trigger $PORT --count 1000000 --rate 1000000 > /tmp/trigger.out 2>&1 & trigger=$!
                sleep 1.5
                pull; wait $holder; wait $trigger
                counted "bridge reads=$1 ($(tail -n 1 /tmp/trigger.out | cut -c1-100))"
                shift
            done
            summary bridge ;;
        *) echo "unknown part $part"; exit 2 ;;
    esac
    [ "$1" = -- ] && shift
    part=${1:-}; [ -n "$part" ] && shift
done
dmesg | grep -E "nobody cared|Disabling IRQ" | head -n 2
exit 0
