#!/usr/bin/env bash
# Discovery on real sysfs, inside the QEMU rig, in one boot: every rig device (edu,
# ivshmem-doorbell, ivshmem-plain, e1000e, nvme and the q35 chipset), edu and ivshmem
# bound to vfio-pci and nvme to uio_pci_generic, so device nodes and rerouted INTx
# lines are covered too.
#   1. `irqbridge list --json` against `lspci -vvv` (scripts/check-list-against-lspci.py);
#   2. the discovery test suites (live libpci/libudev, device nodes, hot-plug stream,
#      fixtures, irqbridge list as a process), when the test bundle is built.
# Exits non-zero on any disagreement or failed test.
#
#   swift build --build-tests && scripts/check-list-in-rig.sh
# Environment: RIG_RUN (default scripts/rig/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
irqbridge=$bin/irqbridge
tests=$bin/InterruptBridgePackageTests.xctest
rig_run=${RIG_RUN:-scripts/rig/run.sh}
[[ -x $irqbridge ]] || { echo "check-list-in-rig: build first (no $irqbridge)" >&2; exit 2; }
[[ -x $rig_run ]] || { echo "check-list-in-rig: no rig at $rig_run" >&2; exit 2; }
suites='LiveDiscoveryTests|ListCommandTests|DiscoveryTests|PolicyFileTests|FixtureTests|PCIConfigSpaceTests|LinuxFormatTests|PCIDumpFileTests|PolicyFileTypeTests'

work=$(realpath "$(mktemp -d .build/rig-list-check.XXXXXX)")
trap 'rm -rf "$work"' EXIT
cat > "$work/guest.sh" <<GUEST
#!/bin/sh
echo "=== lspci"; /usr/bin/lspci -vvv -D 2>/dev/null || exit 3
echo "=== json"; "$irqbridge" list --json || exit 4
echo "=== tests"
[ -x "$tests" ] || { echo "(test bundle not built: skipped)"; exit 0; }
"$tests" --testing-library swift-testing --filter '$suites' 2>&1
GUEST
chmod +x "$work/guest.sh"

copy=(--copy /usr/bin/lspci --copy /usr/share/misc/pci.ids --copy "$irqbridge")
# The test bundle, and the resource bundles (fixtures) beside it.
[[ -x $tests ]] && copy+=(--copy "$tests") && for resources in "$bin"/*.resources; do copy+=(--copy "$resources"); done
status=0
"$rig_run" --devices edu,ivshmem-doorbell:4,ivshmem-plain,e1000e,nvme \
    --bind 0000:00:03.0=vfio-pci --bind 0000:00:05.0=vfio-pci --bind 0000:00:08.0=uio_pci_generic \
    "${copy[@]}" --timeout 600 -- "$work/guest.sh" > "$work/out.txt" || status=$?
awk -v dir="$work" '/^=== (lspci|json|tests)$/ { f = dir "/" $2; next } f { print > f }' "$work/out.txt"
[[ -s $work/json ]] || { cat "$work/out.txt"; echo "check-list-in-rig: no listing from the guest (rig exit status $status)" >&2; exit 1; }
compared=0
python3 scripts/check-list-against-lspci.py --json-output "$work/json" --lspci-output "$work/lspci" || compared=$?
grep -E '✘|Test run|skipped' "$work/tests" || true
((status == 0)) || echo "check-list-in-rig: tests in the guest failed (exit status $status)" >&2
exit $((status != 0 || compared != 0))
