#!/usr/bin/env bash
# The bring-up verbs in the rig: boots edu, edu, ivshmem-doorbell:4, e1000e and nvme, binds
# 00:03.0 (edu), 00:05.0 (ivshmem), 00:07.0 (e1000e), 00:08.0 (nvme) to vfio-pci, and runs
#   `irqbridge selftest --device` on e1000e (MSI-X raised by its cause registers) and nvme (loopback),
#   scripts/rig/guest-bringup.sh: trigger and wait on each device, a malformed profile per kind,
#   with --latency also scripts/rig/guest-loopback.sh (bridge vs raw C loopback, unpinned and on CPU 0).
# Exits with the number of failed steps; prints the wall time.
#
# usage: scripts/rig/bringup.sh [--count N] [--latency] [--no-build] [-- run.sh options]
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=100
LATENCY=0
BUILD=1
while (($#)); do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --latency) LATENCY=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bringup: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "bringup: --count must be a positive number, not '$COUNT'" >&2; exit 2; }
start=$(date +%s)
((BUILD)) && swift build --product irqbridge >&2
IRQBRIDGE=$(swift build --show-bin-path)/irqbridge
[[ -x $IRQBRIDGE ]] || { echo "bringup: $IRQBRIDGE is missing (build first)" >&2; exit 1; }
probes=$(scripts/rig/probes/build.sh)
RIG=$PWD/scripts/rig
# QEMU 7.2's e1000e model signals some raises twice (the kernel counts both): selftest
# passes such a device when every interrupt the kernel took reached the dispatch loop, and
# says how many more than raised there were.
GUEST="failed=0
step() { echo \"== \$*\"; \"\$@\" || { echo \"!! FAILED: \$*\"; failed=\$((failed + 1)); }; }
if [ $LATENCY = 1 ]; then
    step $RIG/guest-loopback.sh $probes $IRQBRIDGE 1000 1 1.2
    step $RIG/guest-loopback.sh $probes $IRQBRIDGE 1000 1 1.2 1
fi
step $IRQBRIDGE list
step $IRQBRIDGE selftest --device 0000:00:07.0 --count $COUNT
step $IRQBRIDGE selftest --device 0000:00:08.0 --count $COUNT
step $RIG/guest-bringup.sh $IRQBRIDGE $COUNT
echo \"== \$failed step(s) failed\"
exit \$failed"
status=0
# lpc_ich, the ICH9 LPC bridge's driver, for every kernel installed (the guest loads the one
# it runs): with 0000:00:1f.0 on it, its IOMMU group is not viable for 1f.3.
lpc_ich=$(for module in /lib/modules/*/kernel/drivers/mfd/lpc_ich.ko; do [ -f "$module" ] && printf -- '--copy %s ' "$module"; done)
# pci-testdev (0000:00:0c.0): a device with no interrupt at all, which every verb must refuse.
# pci-serial (0000:00:0d.0): a card with only I/O ports, on the guest's serial driver.
# virtio-rng-pci,vectors=200 (0000:00:0e.0): a card with many MSI-X vectors, on virtio-pci.
scripts/rig/run.sh --devices edu,edu,ivshmem-doorbell:4,e1000e,nvme --qemu-device pci-testdev --qemu-device pci-serial \
    --qemu-device virtio-rng-pci,vectors=200 --timeout 1200 \
    --copy "$probes" --copy "$IRQBRIDGE" --copy "$RIG" $lpc_ich \
    --bind 0000:00:03.0=vfio-pci --bind 0000:00:05.0=vfio-pci --bind 0000:00:07.0=vfio-pci --bind 0000:00:08.0=vfio-pci \
    --bind 0000:00:0c.0=vfio-pci \
    "$@" -- sh -c "$GUEST" || status=$?
echo "bringup: exit status $status, wall time $(( $(date +%s) - start )) s" >&2
exit $status
