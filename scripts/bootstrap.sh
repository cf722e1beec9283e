#!/usr/bin/env bash
# Installs everything InterruptBridge needs on a fresh Debian machine (run as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail
packages=(
    libpci-dev libudev-dev pciutils pkg-config   # discovery (libpci, libudev) and lspci for cross-checks
    qemu-system-x86 linux-image-amd64            # the QEMU rig: Debian's kernel with real VFIO/UIO
    busybox-static cpio kmod                     # the rig's initramfs
    gcc libc6-dev python3                        # the rig's static C probes and its ivshmem server
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bootstrap: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
