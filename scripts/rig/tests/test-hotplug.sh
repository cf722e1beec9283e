#!/usr/bin/env bash
# Hot-plug in the rig (one boot, about 30 s here): a hot-pluggable edu behind a PCIe root
# port (`--devices edu,edu@port`) is removed and added back
#   1. at the guest's request (`rig-hotplug remove|add edu0`, bound to vfio-pci first), and
#   2. from the host with scripts/rig/qmp.py on run.sh's --qmp-socket, timed against the guest;
# each time the guest sees it vanish from /sys/bus/pci/devices and come back as 1234:11e8.
# Prints one line per check and "N passed, N failed"; exits non-zero when any failed.
set -uo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/irqbridge-hotplug.XXXXXX)  # short: the QMP socket lives here
rig_pid=
cleanup() {
    [[ -n $rig_pid ]] && kill "$rig_pid" 2>/dev/null
    [[ -n $rig_pid ]] && wait "$rig_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1)); echo "pass $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"
    fi
}

# The guest's side. Lines it prints: "STEP ..." facts the host checks; "HOST-REMOVE" and
# "HOST-ADD" ask the host (which reads the stream live) to act, then it waits for the effect.
cat > "$work/guest.sh" <<'EOF'
#!/bin/sh
bdf=${IRQBRIDGE_RIG_HOTPLUG#edu0=}
dev=/sys/bus/pci/devices/$bdf
ids() { echo "$(cut -c3- "$dev/vendor" 2>/dev/null):$(cut -c3- "$dev/device" 2>/dev/null)"; }
# wait_for present|absent: up to 20 s; prints how long it took (ms, 50 ms steps).
wait_for() {
    i=0
    while [ $i -lt 400 ]; do
        if [ "$1" = present ] && [ -e "$dev" ]; then break; fi
        if [ "$1" = absent ] && [ ! -e "$dev" ]; then break; fi
        sleep 0.05; i=$((i + 1))
    done
    echo $((i * 50))
}
echo "STEP map $IRQBRIDGE_RIG_HOTPLUG"
echo "STEP ids $(ids)"
echo "STEP group $(ls "$dev/iommu_group/devices" | tr '\n' ' ')"
rig-bind "$bdf" vfio-pci && echo "STEP bound $(basename "$(readlink "$dev/driver")")"
rig-hotplug remove edu0 && echo "STEP guest-remove ok"
echo "STEP after-guest-remove $( [ -e "$dev" ] && echo present || echo absent) $(wait_for absent)"
rig-hotplug add edu0 && echo "STEP guest-add ok"
waited=$(wait_for present)
echo "STEP after-guest-add $(ids) driver=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null) $waited"
rig-bind "$bdf" vfio-pci && echo "STEP rebound $(basename "$(readlink "$dev/driver")")"
rig-hotplug remove nosuch; echo "STEP unknown-name status $?"
echo "HOST-REMOVE"
waited=$(wait_for absent)
echo "STEP after-host-remove $( [ -e "$dev" ] && echo present || echo absent) $waited"
echo "HOST-ADD"
waited=$(wait_for present)
echo "STEP after-host-add $(ids) $waited"
EOF
chmod +x "$work/guest.sh"

"$RIG_DIR/run.sh" --devices edu,edu@port --qmp-socket "$work/qmp.sock" --copy "$work/guest.sh" --timeout 300 \
    -- "$work/guest.sh" > "$work/out" 2> "$work/err" &
rig_pid=$!

# Host side: act on the guest's HOST-* lines as they arrive.
qmp() { python3 "$RIG_DIR/qmp.py" --socket "$work/qmp.sock" --timeout 20 "$@"; }
host_remove= host_remove_status= host_add= host_add_status=
while kill -0 "$rig_pid" 2>/dev/null; do
    if [[ -z $host_remove_status ]] && grep -qx HOST-REMOVE "$work/out"; then
        host_remove=$(qmp device_del edu0 2>&1)
        host_remove_status=$?
    fi
    if [[ -z $host_add_status ]] && grep -qx HOST-ADD "$work/out"; then
        host_add=$(qmp device_add edu,id=edu0,bus=rp0,addr=00.0 2>&1)
        host_add_status=$?
    fi
    sleep 0.2
done
wait "$rig_pid"
status=$?
rig_pid=

step() { grep "^STEP $1" "$work/out" | head -n1; }
matches() { [[ $1 =~ $2 ]]; }
check "the guest command ran to the end (run.sh exit 0)" test "$status" = 0
check "the hot-pluggable edu is edu0 at 0000:01:00.0" test "$(step map)" = "STEP map edu0=0000:01:00.0"
check "it is QEMU's edu (1234:11e8)" test "$(step ids)" = "STEP ids 1234:11e8"
check "behind its root port it is alone in its IOMMU group (VFIO can use it)" test "$(step group)" = "STEP group 0000:01:00.0 "
check "it binds to vfio-pci" test "$(step bound)" = "STEP bound vfio-pci"
check "rig-hotplug remove edu0 succeeds while it is bound to vfio-pci" test "$(step guest-remove)" = "STEP guest-remove ok"
check "after the answer it is already gone from /sys/bus/pci/devices" test "$(step after-guest-remove)" = "STEP after-guest-remove absent 0"
check "rig-hotplug add edu0 succeeds" test "$(step guest-add)" = "STEP guest-add ok"
check "it comes back as a new, unbound 1234:11e8" matches "$(step after-guest-add)" '^STEP after-guest-add 1234:11e8 driver= [0-9]+$'
check "it binds to vfio-pci again" test "$(step rebound)" = "STEP rebound vfio-pci"
check "an unknown name is refused (status 1)" test "$(step unknown-name)" = "STEP unknown-name status 1"
check "qmp.py device_del from the host waits for DEVICE_DELETED" matches "$host_remove_status $host_remove" '^0 deleted edu0 \([0-9]+ ms\)$'
check "the guest sees the host's removal" matches "$(step after-host-remove)" '^STEP after-host-remove absent [0-9]+$'
check "qmp.py device_add from the host succeeds" test "$host_add_status" = 0
check "the guest sees it come back" matches "$(step after-host-add)" '^STEP after-host-add 1234:11e8 [0-9]+$'
if ((failed)); then
    sed 's/^/    out| /' "$work/out"; sed 's/^/    err| /' "$work/err" | tail -20
    echo "    host remove: $host_remove_status $host_remove"; echo "    host add: $host_add_status $host_add"
fi
# Timings (ms): the guest's waits after each answer, and qmp.py's device_del to DEVICE_DELETED.
{ grep "^STEP after-" "$work/out"; echo "host $host_remove"; } | sed 's/^/    timing: /'
echo "$passed passed, $failed failed"
((failed == 0))
