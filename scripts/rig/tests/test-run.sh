#!/usr/bin/env bash
# Behaviour tests of scripts/rig/run.sh (boots the guest several times; about 2 minutes here).
# Prints one line per case and "N passed, N failed"; exits non-zero when any failed.
# shellcheck disable=SC2016 # the checks and guest commands expand later, on purpose
set -uo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=$RIG_DIR/run.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# expect NAME EXPECTED_STATUS CHECK -- run.sh arguments...; CHECK is evaluated with
# $work/out and $work/err holding the run's stdout and stderr.
expect() {
    local name=$1 expected=$2 check=$3
    shift 4
    "$RUN" "$@" > "$work/out" 2> "$work/err"
    local status=$?
    if [[ $status == "$expected" ]] && eval "$check"; then
        passed=$((passed + 1)); echo "pass $name"
    else
        failed=$((failed + 1)); echo "FAIL $name (exit $status, wanted $expected)"
        sed 's/^/    out| /' "$work/out" | head -20; sed 's/^/    err| /' "$work/err" | head -20
    fi
}

expect "exit status and both streams come back unchanged" 7 \
    '[[ $(cat "$work/out") == "out line"$'"'"'\n'"'"'"tab	end" ]] && grep -qx "err line" "$work/err"' -- \
    -- sh -c 'echo "out line"; printf "tab\tend\n"; echo "err line" >&2; exit 7'

expect "a host program from PATH runs with its shared libraries" 0 'grep -q "lspci version" "$work/out"' -- \
    -- lspci --version
# (lspci is not a busybox applet, so run.sh copies the host's, with libpci, libkmod, ...)

# Which entry the kernel came in by: the boot protocol version in the guest's boot_params is
# the PVH entry's own 2.12 (0c 02), or the bzImage header's (2.15 for Debian 12's kernel).
boot_protocol='od -An -tx1 -j 518 -N2 /sys/kernel/boot_params/data'
RIG_CACHE_DIR=$work/cache expect "a kernel with a PVH entry is booted there, unpacked once into the cache" 0 \
    '[[ $(tr -d " " < "$work/out") == 0c02 ]] && ls "$work/cache"/*/vmlinux-* > /dev/null' -- \
    --devices none -- sh -c "$boot_protocol"
RIG_PVH=0 expect "RIG_PVH=0 boots the compressed kernel" 0 '[[ $(tr -d " " < "$work/out") != 0c02 && -s $work/out ]]' -- \
    --devices none -- sh -c "$boot_protocol"

printf '#!/usr/bin/env bash\nwords=(a "$1"); echo "bash ${words[1]}"\n' > "$work/script.sh"
chmod +x "$work/script.sh"
expect "a script runs with the interpreter its #! line names (bash is not in the guest)" 0 \
    '[[ $(cat "$work/out") == "bash arg" ]]' -- --devices none -- "$work/script.sh" arg

expect "the command runs in the guest directory of the same path" 0 '[[ $(cat "$work/out") == "$PWD" ]]' -- \
    --devices none -- pwd

expect "--bind hands the device to vfio-pci and the guest knows the map" 0 \
    'grep -qx "vfio-pci" "$work/out" && grep -q "edu=0000:00:03.0" "$work/out" && grep -q "^1 " "$work/out"' -- \
    --devices edu --bind 0000:00:03.0=vfio-pci -- \
    sh -c 'basename $(readlink /sys/bus/pci/devices/0000:00:03.0/driver); echo "$IRQBRIDGE_RIG $IRQBRIDGE_RIG_DEVICES"'

expect "every device of the full set sits at its pinned address" 0 \
    '[[ $(tr "\n" " " < "$work/out") == "1234:11e8 1af4:1110 1af4:1110 8086:10d3 1b36:0010 " ]]' -- \
    --devices edu,ivshmem-doorbell:2,ivshmem-plain,e1000e,nvme -- \
    sh -c 'for s in 03 05 06 07 08; do d=/sys/bus/pci/devices/0000:00:$s.0; echo $(cut -c3- $d/vendor):$(cut -c3- $d/device); done'

expect "--qemu-device adds any model at a pinned free slot, named qemuN (and by its id=), bindable to vfio-pci" 0 \
    'grep -qx "10ec:8139 1b36:0005 vfio-pci" "$work/out" && grep -q "qemu0=0000:00:0c.0 nic=0000:00:0c.0 qemu1=0000:00:0d.0" "$work/out"' -- \
    --devices edu --qemu-device rtl8139,id=nic --qemu-device pci-testdev --bind 0000:00:0c.0=vfio-pci -- \
    sh -c 'd=/sys/bus/pci/devices; echo "$(cut -c3- $d/0000:00:0c.0/vendor):$(cut -c3- $d/0000:00:0c.0/device)" \
        "$(cut -c3- $d/0000:00:0d.0/vendor):$(cut -c3- $d/0000:00:0d.0/device)" \
        "$(basename $(readlink $d/0000:00:0c.0/driver))"; echo "$IRQBRIDGE_RIG_DEVICES"'

expect "--qemu-device refuses a spec that pins its own address" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "leave out addr=" "$work/err"' -- --qemu-device 'rtl8139,addr=04.0' -- true

truncate -s 1M "$work/disk.img"
expect "--qemu-arg gives QEMU what a --qemu-device needs beside it (a drive for nvme)" 0 \
    'grep -qx "1b36:0010 NVMe" "$work/out"' -- \
    --devices none --qemu-arg -drive --qemu-arg "if=none,id=d0,file=$work/disk.img,format=raw" \
    --qemu-device nvme,drive=d0,serial=d0 -- \
    sh -c 'd=/sys/bus/pci/devices/0000:00:0c.0; echo "$(cut -c3- $d/vendor):$(cut -c3- $d/device) NVMe"'

expect "--qemu-arg refuses what the rig sets itself, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "qemu-arg -kernel: the rig sets that itself" "$work/err"' -- \
    --qemu-arg -kernel --qemu-arg /boot/vmlinuz -- true

printf '#!/bin/sh\necho "$*" > "%s/qemu.args"\nexec qemu-system-x86_64 "$@"\n' "$work" > "$work/my-qemu"
chmod +x "$work/my-qemu"
expect "--qemu runs the given QEMU build" 0 \
    '[[ $(cat "$work/out") == ran ]] && grep -q "intel-iommu" "$work/qemu.args"' -- \
    --devices none --qemu "$work/my-qemu" -- echo ran

expect "--qemu refuses a path that is not an executable, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "not an executable file" "$work/err"' -- \
    --qemu "$work/disk.img" -- true

probes=$("$RIG_DIR/probes/build.sh")
expect "edu@0b shares 00:03.0's INTx line and both devices deliver at the same time" 0 \
    '[[ $(grep -c "^RESULT.* lost=0 " "$work/out") == 2 ]] && grep -q "^shared 23 23$" "$work/out" &&
     grep -Eq "^ *23: .*uio_pci_generic, uio_pci_generic" "$work/out"' -- \
    --devices edu,edu@0b --copy "$probes" --bind 0000:00:03.0=uio_pci_generic --bind 0000:00:0b.0=uio_pci_generic -- \
    sh -c "echo shared \$(cat /sys/bus/pci/devices/0000:00:03.0/irq) \$(cat /sys/bus/pci/devices/0000:00:0b.0/irq)
           grep -E '^ *23:' /proc/interrupts
           $probes/edu-roundtrip --backend uio --mode intx --count 500 --bdf 0000:00:0b.0 --name second & second=\$!
           $probes/edu-roundtrip --backend uio --mode intx --count 500 --bdf 0000:00:03.0 && wait \$second"

expect "a failed bind is a rig failure and the command does not run" 125 \
    '! grep -q ran "$work/out" && grep -q "no device 0000:00:0b.0 (this guest has: .*0000:00:03.0" "$work/err" &&
     [[ $(grep -c "bind" "$work/err") == 2 ]]' -- \
    --devices edu --bind 0000:00:0b.0=vfio-pci -- sh -c 'echo ran'
# (two lines: the bind's reason, then "binding failed; command not run", once)

expect "a bind to a driver that is not there names those there are and leaves the device where it was" 0 \
    '[[ $(cat "$work/out") == "status 1 uio_pci_generic" ]] &&
     grep -q "driver vfio is not loaded (this guest has: .*vfio-pci" "$work/err"' -- \
    --devices edu --bind 0000:00:03.0=uio_pci_generic -- \
    sh -c 'rig-bind 0000:00:03.0 vfio; echo "status $? $(basename $(readlink /sys/bus/pci/devices/0000:00:03.0/driver))"'

# stdout and stderr into one file, as `> log 2>&1` makes them: lines stay whole.
"$RUN" --devices none -- sh -c 'i=0; while [ $i -lt 3000 ]; do echo "out-$i-abcdefghijklmnopqrstuvwxyz-✔"
    echo "err-$i-abcdefghijklmnopqrstuvwxyz-✔" >&2; i=$((i + 1)); done' > "$work/both" 2>&1
status=$?
whole=$(grep -cE '^(out|err)-[0-9]+-abcdefghijklmnopqrstuvwxyz-✔$' "$work/both")
if [[ $status == 0 && $whole == 6000 ]] && ! grep -vqE '^(out|err)-[0-9]+-abcdefghijklmnopqrstuvwxyz-✔$|^rig: ' "$work/both"; then
    passed=$((passed + 1)); echo "pass the guest's stdout and stderr into one file interleave by whole lines"
else
    failed=$((failed + 1)); echo "FAIL the guest's stdout and stderr into one file interleave by whole lines (exit $status, $whole of 6000 whole)"
    grep -vE '^(out|err)-[0-9]+-abcdefghijklmnopqrstuvwxyz-✔$' "$work/both" | head -5 | sed 's/^/    both| /'
fi

printf '#!/bin/sh\necho "args: $*"\n' > "$work/MyPackageTests.xctest"
chmod +x "$work/MyPackageTests.xctest"
expect "a test bundle runs its Swift Testing tests: --testing-library swift-testing is added, and said so" 0 \
    '[[ $(cat "$work/out") == "args: --filter X --testing-library swift-testing" ]] && grep -q "added --testing-library swift-testing" "$work/err"' -- \
    --devices none -- "$work/MyPackageTests.xctest" --filter X
expect "a test bundle with its own --testing-library is run as given" 0 \
    '[[ $(cat "$work/out") == "args: --testing-library xctest" ]] && ! grep -q "added" "$work/err"' -- \
    --devices none -- "$work/MyPackageTests.xctest" --testing-library xctest

expect "a command a signal ended is said to be so" 132 'grep -q "killed by signal 4 (SIGILL): a Swift runtime trap?" "$work/err"' -- \
    --devices none -- sh -c 'kill -ILL $$'

expect "the watchdog kills a hung guest" 124 'grep -q watchdog "$work/err"' -- \
    --devices none --timeout 8 -- sleep 600

# The rig plugin's run.sh gets no signal when SwiftPM ends the plugin (Ctrl-C): it watches the
# plugin's pid. Here a sleep stands in for the plugin and is killed once QEMU is up.
sleep 300 &
watched=$!
( for _ in $(seq 600); do [[ -S $work/watch.sock ]] && break; sleep 0.1; done; kill "$watched" ) &
watcher=$!
RIG_WATCH_PID=$watched expect "a run whose RIG_WATCH_PID process is gone stops, QEMU with it" 143 \
    '! pgrep -f "$work/watch.sock" > /dev/null' -- \
    --devices none --timeout 120 --qmp-socket "$work/watch.sock" -- sleep 100
wait "$watcher" 2>/dev/null

RIG_WATCH_PID=12x expect "a RIG_WATCH_PID that is not a process id is refused, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "RIG_WATCH_PID must be a process id, not .12x." "$work/err"' -- \
    --devices none -- true
sleep 0 & gone=$!; wait "$gone"
RIG_WATCH_PID=$gone expect "a RIG_WATCH_PID process already gone is refused, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "RIG_WATCH_PID names no running process" "$work/err"' -- \
    --devices none -- true

# QEMU's -S holds the CPUs before the first instruction: a boot that hangs. The second boot
# is let go over QMP (a stale socket of the first QEMU refuses, so `cont` is retried).
( for _ in $(seq 600); do grep -q "booting it again" "$work/err" 2>/dev/null && break; sleep 0.1; done
  for _ in $(seq 300); do python3 "$RIG_DIR/qmp.py" --socket "$work/qmp.sock" execute cont > /dev/null 2>&1 && break; sleep 0.1; done ) &
resumer=$!
expect "a boot that hangs is killed and booted once more, and the command runs in the second" 0 \
    '[[ $(cat "$work/out") == ran ]] && grep -q "did not boot within 20s (boot 1 of 2)" "$work/err" \
        && grep -q "booting it again" "$work/err" && ! grep -q "boot 2 of 2" "$work/err"' -- \
    --devices none --boot-timeout 20 --qmp-socket "$work/qmp.sock" --qemu-arg -S -- echo ran
kill "$resumer" 2>/dev/null; wait "$resumer" 2>/dev/null

expect "a second boot that hangs is a rig failure" 125 \
    'grep -q "(boot 1 of 2)" "$work/err" && grep -q "did not boot within 3s (boot 2 of 2)" "$work/err" && [[ ! -s $work/out ]]' -- \
    --devices none --boot-timeout 3 --qemu-arg -S -- echo ran

expect "a guest that dies is reported, not mistaken for success" 125 \
    'grep -q "ended without reporting" "$work/err"' -- \
    --devices none -- sh -c 'echo c > /proc/sysrq-trigger; sleep 30'

expect "bad options fail at once with one message" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "unknown device" "$work/err"' -- --devices edu,gpu -- true
expect "a boot timeout that is not whole seconds fails at once with one message" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "boot-timeout must be" "$work/err"' -- --boot-timeout 1.5 -- true

expect "edu@port puts a hot-pluggable edu behind its own root port, default devices unmoved" 0 \
    '[[ $(tr "\n" "|" < "$work/out") == "0000:00:00.0 q35 host bridge|0000:00:03.0 edu|0000:00:10.0 pcie-root-port rp0|0000:01:00.0 edu (hot-pluggable, QMP id edu0)|"* ]]' -- \
    --devices edu,edu@port --print-map

expect "only edu can be hot-pluggable" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "only edu can be hot-pluggable" "$work/err"' -- --devices nvme@port -- true

expect "--qemu-hotplug puts any model behind a root port of its own (after edu@port's); rig-hotplug pulls it and puts it back" 0 \
    '[[ $(tr "\n" "|" < "$work/out") == "edu0=0000:01:00.0 nic=0000:02:00.0|10ec:8139|removed gone|added 10ec:8139|" ]]' -- \
    --devices edu@port --qemu-hotplug rtl8139,id=nic -- \
    sh -c 'echo "$IRQBRIDGE_RIG_HOTPLUG"; d=/sys/bus/pci/devices/0000:02:00.0; ids() { echo "$(cut -c3- $d/vendor):$(cut -c3- $d/device)"; }
           ids; rig-hotplug remove nic > /dev/null && i=0 && while [ -e $d ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
           [ -e $d ] && echo "removed present" || echo "removed gone"
           rig-hotplug add nic > /dev/null && i=0 && while [ ! -e $d/device ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
           echo "added $(ids)"'

# Started with SIGTERM blocked (the thread that runs a SwiftPM plugin's command has it blocked,
# and exec keeps the mask), run.sh waited for ever for the hot-plug agent it had sent SIGTERM.
# The helpers (the hot-plug agent, the ivshmem server) must end on SIGTERM by themselves: run.sh
# notes any it had to kill. A run not over within 100 s is killed and fails; --timeout bounds QEMU.
cat > "$work/blocked.sh" <<'SCRIPT'
#!/usr/bin/env bash
# run.sh ($1) with SIGTERM, SIGINT and SIGHUP blocked; killed outright (a failed case) after 100 s.
exec timeout -s KILL 100 python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
os.execv(sys.argv[1], sys.argv[1:])' "$@"
SCRIPT
chmod +x "$work/blocked.sh"
RUN=$work/blocked.sh expect "a run started with SIGTERM blocked ends, its helpers ending on SIGTERM" 0 \
    '! grep -q "did not end on SIGTERM" "$work/err"' -- \
    "$RUN" --timeout 60 --devices edu@port,ivshmem-doorbell:2 --qemu-hotplug rtl8139,id=nic -- true

expect "--qemu-hotplug after edu@port: the next root ports and buses, named by id= or plugN" 0 \
    '[[ $(grep -c . "$work/out") == 11 ]] && grep -qx "0000:00:11.0 pcie-root-port rp1" "$work/out" &&
     grep -qx "0000:02:00.0 rtl8139 (hot-pluggable, QMP id nic)" "$work/out" && grep -qx "0000:03:00.0 e1000 (hot-pluggable, QMP id plug1)" "$work/out"' -- \
    --devices edu,edu@port --qemu-hotplug rtl8139,id=nic --qemu-hotplug e1000 --print-map

expect "a --qemu-device id= that is another device's name is refused, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "the name qemu1 is already taken" "$work/err"' -- \
    --qemu-device rtl8139,id=qemu1 --qemu-device pci-testdev -- true

expect "--qemu-hotplug refuses a name edu@port already has, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "the name edu0 is already taken" "$work/err"' -- \
    --devices edu@port --qemu-hotplug rtl8139,id=edu0 -- true

expect "QEMU refusing a model says so in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "QEMU did not start the guest (exit 1): .*nosuchmodel" "$work/err"' -- \
    --devices none --qemu-device nosuchmodel -- true

expect "a guest kernel that panics says so first" 125 \
    'grep -q "^rig: the guest.s kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root" "$work/err"' -- \
    --devices none --append rdinit=/nonexistent -- true

expect "a --kernel that is not installed names the ones that are, in one line" 125 \
    '[[ $(wc -l < "$work/err") == 1 ]] && grep -q "no kernel /boot/vmlinuz-9.9.9 (--kernel takes one of: [0-9]" "$work/err"' -- \
    --kernel 9.9.9 -- true

expect "a missing host program is reported" 125 'grep -q "no such program" "$work/err"' -- ./no/such/binary

echo "$passed passed, $failed failed"
((failed == 0))
