#!/bin/sh
# rig-bind BDF DRIVER: in the rig's guest, hand a PCI device to DRIVER (vfio-pci,
# uio_pci_generic, ...) through driver_override + drivers_probe, unbinding it from its
# current driver first. DRIVER "none" just unbinds it. Installed as /usr/bin/rig-bind.
if [ $# -ne 2 ]; then
    echo "usage: rig-bind DOMAIN:BUS:SLOT.FN DRIVER|none" >&2
    exit 2
fi
bdf=$1 driver=$2 dev=/sys/bus/pci/devices/$1
fail() { echo "rig: bind: $*" >&2; echo "rig: bind: $*" > /dev/ttyS1; exit 1; }
[ -d "$dev" ] || fail "no device $bdf (this guest has: $(ls /sys/bus/pci/devices | tr '\n' ' '| sed 's/ $//'))"
# A driver that is not there is refused before the device leaves the one it has.
[ "$driver" = none ] || [ -d "/sys/bus/pci/drivers/$driver" ] ||
    fail "driver $driver is not loaded (this guest has: $(ls /sys/bus/pci/drivers | tr '\n' ' ' | sed 's/ $//'); for a user-space driver, vfio-pci or uio_pci_generic)"
if [ -e "$dev/driver" ]; then
    echo "$bdf" > "$dev/driver/unbind" || fail "cannot unbind $bdf"
fi
if [ "$driver" = none ]; then
    echo > "$dev/driver_override"
    exit 0
fi
echo "$driver" > "$dev/driver_override" || fail "cannot set driver_override of $bdf"
echo "$bdf" > /sys/bus/pci/drivers_probe 2>/dev/null
current=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)
[ "$current" = "$driver" ] || fail "$bdf did not bind to $driver (driver now: ${current:-none})"
echo "rig: bound $bdf to $driver" > /dev/ttyS1
