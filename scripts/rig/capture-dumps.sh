#!/usr/bin/env bash
# Captures the rig's PCI devices as `lspci -xxxx` dumps (the format libpci's dump access
# method reads), one file per device, plus the guest's `lspci -vvv` and `lspci -nn`.
# These are the discovery tests' fixtures for emulated hardware.
#
# usage: scripts/rig/capture-dumps.sh OUTPUT_DIR
set -euo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ne 1 || $1 == -* ]]; then
    echo "usage: $0 OUTPUT_DIR" >&2
    exit 2
fi
output=$1
mkdir -p "$output"
lspci_path=$(command -v lspci) || { echo "capture-dumps: lspci (pciutils) not installed" >&2; exit 2; }
pci_ids=/usr/share/misc/pci.ids
[[ -f $pci_ids ]] || pci_ids=/usr/share/hwdata/pci.ids

# Name of each pinned address (run.sh --help has the map). Runs in the guest, hence single quotes.
# shellcheck disable=SC2016
guest_script='
name_of() {
    case $1 in
        0000:00:00.0) echo q35-host-bridge ;;
        0000:00:1f.0) echo ich9-lpc ;;
        0000:00:1f.2) echo ich9-sata ;;
        0000:00:1f.3) echo ich9-smbus ;;
        0000:00:03.0) echo edu ;;
        0000:00:05.0) echo ivshmem-doorbell ;;
        0000:00:06.0) echo ivshmem-plain ;;
        0000:00:07.0) echo e1000e ;;
        0000:00:08.0) echo nvme ;;
        *) echo device ;;
    esac
}
for dev in /sys/bus/pci/devices/*; do
    bdf=${dev##*/}
    file=$(name_of "$bdf")-$(echo "$bdf" | tr : _).txt
    echo "=== $file"
    lspci -xxxx -s "$bdf"
done
echo "=== lspci-vvv.txt"
lspci -vvv
echo "=== lspci-nn.txt"
lspci -nn
echo "=== lspci-xxxx-all.txt"
lspci -xxxx
echo "=== interrupts-unbound.txt"
cat /proc/interrupts
# The same devices handed to the user-space drivers, as a test rig sees them.
for bind in 0000:00:03.0=vfio-pci 0000:00:05.0=vfio-pci 0000:00:07.0=vfio-pci 0000:00:08.0=uio_pci_generic; do
    rig-bind "${bind%=*}" "${bind#*=}"
done
echo "=== lspci-vvv-bound.txt"
lspci -vvv
echo "=== iommu-groups.txt"
for dev in /sys/bus/pci/devices/*; do
    echo "${dev##*/} group $(basename "$(readlink "$dev/iommu_group")") driver $(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)"
done
'
# libkmod's indexes let `lspci -k/-vvv` name each device's kernel modules.
kmod_files=()
kernel_version=$(for image in /boot/vmlinuz-*; do echo "${image#/boot/vmlinuz-}"; done | sort -V | tail -n1)
for index in modules.alias.bin modules.dep.bin modules.builtin.bin modules.symbols.bin modules.softdep modules.builtin.alias.bin; do
    [[ -f /lib/modules/$kernel_version/$index ]] && kmod_files+=(--copy "/lib/modules/$kernel_version/$index")
done

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
"$RIG_DIR/run.sh" --devices edu,ivshmem-doorbell:4,ivshmem-plain,e1000e,nvme \
    --copy "$lspci_path" --copy "$pci_ids" "${kmod_files[@]}" -- sh -c "$guest_script" > "$raw"
awk -v dir="$output" '
    /^=== / { if (out) close(out); out = dir "/" $2; printf "" > out; next }
    out { print > out }
' "$raw"
grep '^=== ' "$raw" | sed 's/^=== /wrote '"${output//\//\\/}"'\//'
