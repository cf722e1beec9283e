#!/bin/sh
# rig-hotplug remove|add NAME: in the rig's guest, asks the host to remove (QMP device_del)
# or add back (device_add) the hot-pluggable device NAME (edu0, edu1, ..., a --qemu-hotplug device's name: see
# IRQBRIDGE_RIG_HOTPLUG), and waits for the answer. Installed as /usr/bin/rig-hotplug.
# The request goes out on /dev/ttyS3, which run.sh wires to scripts/rig/hotplug-agent.py
# for a run with `--devices edu@port` or `--qemu-hotplug SPEC`. "remove" returns once QEMU reports the device deleted
# (the guest has let it go); "add" returns once QEMU has added it: the guest's own rescan
# may take a moment more, so wait for /sys/bus/pci/devices/BDF to appear.
# Exit status: 0 done; 1 the host refused or failed (its answer is printed); 2 bad usage.
if [ $# -ne 2 ] || { [ "$1" != remove ] && [ "$1" != add ]; }; then
    echo "usage: rig-hotplug remove|add NAME" >&2
    exit 2
fi
if [ ! -c /dev/ttyS3 ] || [ -z "${IRQBRIDGE_RIG_HOTPLUG:-}" ]; then
    echo "rig-hotplug: this run has no hot-pluggable device (run.sh --devices edu@port, or --qemu-hotplug SPEC)" >&2
    exit 1
fi
# Open the port for reading before asking, so the answer cannot arrive while it is closed.
exec 3<>/dev/ttyS3
echo "$1 $2" >&3
# (busybox's read has no -t: head under timeout reads the one answer line.)
reply=$(timeout "${RIG_HOTPLUG_TIMEOUT:-60}" head -n 1 <&3)
if [ -z "$reply" ]; then
    echo "rig-hotplug: no answer from the host within ${RIG_HOTPLUG_TIMEOUT:-60} s" >&2
    exit 1
fi
case $reply in
    ok\ *) echo "rig: hotplug: $reply" > /dev/ttyS1; exit 0 ;;
    *) echo "rig-hotplug: $reply" >&2; exit 1 ;;
esac
