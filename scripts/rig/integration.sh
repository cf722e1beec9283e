#!/usr/bin/env bash
# Real-interrupt integration: builds the package, boots the QEMU rig once with two edu
# devices, an ivshmem-doorbell (MSI-X), an e1000e (the built-in device profiles'
# test binds it to vfio-pci itself) and a third edu at 00:0b.0 on the first edu's line
# (the shared-line suite binds it), and inside the guest
#   1. binds them with `irqbridge bind` (edu 00:03.0 and ivshmem 00:05.0 to vfio-pci,
#      edu 00:04.0 to uio_pci_generic),
#   2. runs the IntegrationTests suites, then the device profiles' rig suite (Swift Testing,
#      IRQBRIDGE_RIG=1; one after the other: both open the edu's VFIO group),
#   3. runs `irqbridge selftest` for VFIO INTx + MSI (edu), VFIO MSI-X (ivshmem), UIO INTx (edu),
#      and `watch`/`wait` on edu's line while another irqbridge raises on 00:0b.0, which shares it
#      (scripts/rig/guest-shared-line.sh),
#   4. gives the devices back with `irqbridge unbind`.
# Exits non-zero on any failure; prints the wall time.
#
# usage: scripts/rig/integration.sh [--count N] [--filter REGEX] [--no-build] [-- extra run.sh options]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD

COUNT=2000
FILTER=IntegrationTests
BUILD=1
while (($#)); do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --filter) FILTER=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "integration: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "integration: --count must be a positive number, not '$COUNT'" >&2; exit 2; }

start=$(date +%s)
if ((BUILD)); then
    echo "== build" >&2
    swift build --build-tests
fi
BIN=$(swift build --show-bin-path)
TESTS=$BIN/InterruptBridgePackageTests.xctest
IRQBRIDGE=$BIN/irqbridge
for file in "$TESTS" "$IRQBRIDGE"; do
    [[ -x $file ]] || { echo "integration: $file is missing (build first)" >&2; exit 1; }
done

# The guest's job. Every step runs; the exit status is the number of failed steps.
GUEST=$(cat <<GUEST_EOF
failed=0
step() { echo "== \$*"; "\$@" || { echo "!! FAILED: \$*"; failed=\$((failed + 1)); }; }
step $IRQBRIDGE bind 0000:00:03.0 --driver vfio-pci
step $IRQBRIDGE bind 0000:00:04.0 --driver uio_pci_generic
step $IRQBRIDGE bind 0000:00:05.0 --driver vfio-pci
step env IRQBRIDGE_RIG=1 IRQBRIDGE_RIG_COUNT=$COUNT $TESTS --testing-library swift-testing --filter '$FILTER'
step env IRQBRIDGE_RIG=1 IRQBRIDGE_RIG_COUNT=$COUNT $TESTS --testing-library swift-testing --filter ProfileRigTests
step $IRQBRIDGE selftest --device 0000:00:03.0 --count $COUNT
step $IRQBRIDGE selftest --device 0000:00:05.0 --kinds msix --count $COUNT
step $IRQBRIDGE selftest --device 0000:00:04.0 --backend uio --count $COUNT
step $REPO/scripts/rig/guest-shared-line.sh $IRQBRIDGE
step $IRQBRIDGE unbind 0000:00:03.0
step $IRQBRIDGE unbind 0000:00:04.0
step $IRQBRIDGE unbind 0000:00:05.0
echo "== \$failed step(s) failed"
exit \$failed
GUEST_EOF
)

echo "== rig" >&2
status=0
scripts/rig/run.sh --devices edu,edu,ivshmem-doorbell:4,edu@port,e1000e,edu@0b --timeout 900 --copy "$TESTS" --copy "$IRQBRIDGE" \
    --copy "$REPO/scripts/rig/guest-shared-line.sh" "$@" \
    -- /bin/sh -c "$GUEST" || status=$?
echo "integration: exit status $status, wall time $(( $(date +%s) - start )) s" >&2
exit $status
