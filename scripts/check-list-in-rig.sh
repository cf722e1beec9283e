#!/usr/bin/env bash
# Runs the `irqbridge list` / `lspci -vvv` cross-check inside the QEMU rig, on real
# sysfs with every rig device (edu, ivshmem-doorbell, ivshmem-plain, e1000e, nvme and
# the q35 chipset), some bound to vfio-pci and uio_pci_generic so device nodes and
# rerouted INTx lines are covered too. Exits non-zero on any disagreement.
#
#   scripts/check-list-in-rig.sh            # after `swift build`
# Environment: IRQBRIDGE (default .build/debug/irqbridge), RIG_RUN (default scripts/rig/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
irqbridge=$(realpath "${IRQBRIDGE:-.build/debug/irqbridge}")
rig_run=${RIG_RUN:-scripts/rig/run.sh}
[[ -x $irqbridge ]] || { echo "check-list-in-rig: build first (no $irqbridge)" >&2; exit 2; }
[[ -x $rig_run ]] || { echo "check-list-in-rig: no rig at $rig_run" >&2; exit 2; }

# Not under /tmp: the guest mounts a tmpfs there, hiding copied files.
work=$(realpath "$(mktemp -d .build/rig-list-check.XXXXXX)")
trap 'rm -rf "$work"' EXIT
cat > "$work/guest.sh" <<GUEST
#!/bin/sh
/usr/bin/lspci -vvv -D > "$work/lspci.txt" 2>/dev/null || exit 3
"$irqbridge" list --json > "$work/list.json" || exit 4
echo "=== lspci"; cat "$work/lspci.txt"; echo "=== json"; cat "$work/list.json"
GUEST
chmod +x "$work/guest.sh"

"$rig_run" --devices edu,ivshmem-doorbell:4,ivshmem-plain,e1000e,nvme \
    --bind 0000:00:03.0=vfio-pci --bind 0000:00:05.0=vfio-pci --bind 0000:00:08.0=uio_pci_generic \
    --copy /usr/bin/lspci --copy /usr/share/misc/pci.ids --copy "$irqbridge" --timeout 300 \
    -- "$work/guest.sh" > "$work/out.txt"
awk -v dir="$work" '/^=== lspci$/ { f = dir "/lspci.host"; next } /^=== json$/ { f = dir "/list.host"; next } f { print > f }' "$work/out.txt"
python3 scripts/check-list-against-lspci.py --json-output "$work/list.host" --lspci-output "$work/lspci.host"
