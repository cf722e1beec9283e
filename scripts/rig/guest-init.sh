#!/bin/sh
# /init of the rig's guest (busybox sh, PID 1). run.sh packs it into the base initramfs.
#
# Serial ports (run.sh wires their host ends):
#   ttyS0  the command's stdout  -> host stdout
#   ttyS1  kernel console + rig messages -> console log (shown on failure or with --verbose)
#   ttyS2  the command's stderr  -> host stderr
#   ttyS3  hot-plug requests (rig-hotplug) <-> scripts/rig/hotplug-agent.py, when the run
#          has hot-pluggable devices
# "RIG-BOOTED" on ttyS1 says the modules are loaded and the job starts (run.sh's boot
# watchdog waits for it). The command's exit status is reported on ttyS1 as "RIG-EXIT-STATUS <n>", which run.sh
# turns into its own exit status. Everything else that goes wrong ends in a power-off
# without that line, which run.sh reports as a boot failure.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root TERM=dumb

rig_log() { echo "rig: $*" > /dev/ttyS1; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the root file system (already RAM): a tmpfs there would hide payload files
# copied from the host's /tmp.
chmod 1777 /tmp
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

# Raw output: no CR insertion on the ports that carry the command's streams.
stty -F /dev/ttyS0 raw -echo -onlcr 2>/dev/null
stty -F /dev/ttyS2 raw -echo -onlcr 2>/dev/null
stty -F /dev/ttyS3 raw -echo -onlcr 2>/dev/null

# Modules, in dependency order (computed on the host from modules.dep).
while read -r module; do
    [ -n "$module" ] || continue
    insmod "/lib/modules/rig/$module" 2>/dev/ttyS1 || rig_log "insmod $module failed"
done < /rig/modules.order
# run.sh's boot watchdog waits for this line: a guest that never gets here (a boot that hung
# under TCG) is booted again.
echo "RIG-BOOTED" > /dev/ttyS1

# job.sh (written by run.sh for each run) defines RIG_CWD, rig_binds (calls of
# /usr/bin/rig-bind, which a command may also use) and rig_command.
status=125
# shellcheck source=/dev/null
if . /rig/job.sh; then
    if rig_binds 2>/dev/null; then
        cd "$RIG_CWD" 2>/dev/null || cd /
        rig_command < /dev/null > /dev/ttyS0 2> /dev/ttyS2
        status=$?
    else
        rig_log "binding failed; command not run"
    fi
else
    rig_log "cannot read /rig/job.sh"
fi
sync
echo "RIG-EXIT-STATUS $status" > /dev/ttyS1
poweroff -f
