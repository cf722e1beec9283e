#!/bin/sh
# Runs in the rig's guest (busybox sh): the hot-pluggable edu0 on uio_pci_generic pulled by
# QMP (`rig-hotplug remove edu0`) while its holder serves its INTx line, ITERATIONS times in
# one boot, then added back. Holders, by MODE:
#   watch   `irqbridge watch BDF --line-based` while `irqbridge trigger BDF` raises through it
#   daemon  `irqbridge daemon` (edu0's entry: uio_pci_generic, line-based) while `ctl trigger`
#           raises; after each cycle edu0 must be `removed`, then `connected` again, and the
#           daemon's open descriptors must not grow
# Each pull comes 0 to 0.5 s (awk's rand) after the kernel counts the raiser's interrupts. A step that does
# not end in time (the removal 20 s, the holder's exit 15 s, the re-connect 30 s) is a HANG:
# the stacks and wait channels of every task of the holder, the raiser and any task in D
# state, and the kernel's last lines, are printed before the run goes on or stops. A pull that
# leaves more than 1,000 unhandled interrupts on the card's line fails, and the run stops at once
# when the kernel disabled the line ("nobody cared": the card added back would never interrupt).
# Prints "PULL i ..." per cycle, "HANG ..." with the evidence, and "SUMMARY ...".
# usage: guest-uio-pull.sh IRQBRIDGE watch|daemon ITERATIONS    Exit status: the failed cycles.
IRQ=$1 MODE=$2 N=${3:-30}
PORT=${IRQBRIDGE_RIG_HOTPLUG#edu0=}
PORT=${PORT%% *}
W=/tmp/uio-pull
mkdir -p $W
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
driver() { d=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$d" || echo none; }
# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
    limit=$(($1 * 10)); shift; tries=0
    while [ $tries -lt $limit ]; do "$@" && return 0; sleep 0.1; tries=$((tries + 1)); done
    return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }
present() { [ -d "/sys/bus/pci/devices/$PORT" ]; }
absent() { ! present; }

# evidence WHAT PID...: every task's stack and wait channel, D-state tasks, the kernel's tail.
evidence() {
    echo "HANG $1"; shift
    for pid; do
        [ -d /proc/$pid ] || { echo "  pid $pid: gone"; continue; }
        echo "  pid $pid: $(tr '\0' ' ' < /proc/$pid/cmdline)"
        for task in /proc/$pid/task/*; do
            echo "  task ${task##*/} ($(cat $task/comm)) state $(awk '{ print $3 }' $task/stat) wchan $(cat $task/wchan 2>/dev/null) syscall $(cat $task/syscall 2>/dev/null | cut -d' ' -f1-3)"
            sed 's/^/      /' $task/stack 2>/dev/null
        done
        ls -l /proc/$pid/fd 2>/dev/null | sed 's/^/    fd /'
    done
    for stat in /proc/[0-9]*/task/[0-9]*/stat; do
        [ "$(awk '{ print $3 }' $stat 2>/dev/null)" = D ] || continue
        task=${stat%/stat}
        echo "  D-state $task ($(cat $task/comm 2>/dev/null)) wchan $(cat $task/wchan 2>/dev/null)"
        sed 's/^/      /' $task/stack 2>/dev/null
    done
    echo "  driver of $PORT: $(driver $PORT); present: $(present && echo yes || echo no)"
    dmesg | tail -n 30 | sed 's/^/  dmesg: /'
}

# The kernel's count of uio_pci_generic's line(s), all processors.
kernel_count() { awk '/uio_pci_generic/ { for (c = 2; c < NF; c++) if ($c ~ /^[0-9]+$/) n += $c } END { print n + 0 }' /proc/interrupts; }
# The kernel's unhandled count of the card's line (genirq's "nobody cared" accounting: at 99,900
# unhandled of 100,000 it disables the IRQ for good, and the card added back there is dead).
unhandled() { awk '/^unhandled/ { print $2 }' /proc/irq/$(cat /sys/bus/pci/devices/$PORT/irq 2>/dev/null || echo 20)/spurious 2>/dev/null || echo 0; }
fds() { ls /proc/$1/fd 2>/dev/null | wc -l; }
state_of() { $IRQ ctl show "$1" 2>/dev/null | awk '{ print $2; exit }'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
is_ready() { $IRQ ctl health --json 2>/dev/null | grep -q '"ready":true'; }

# SLOW_READS=N (daemon mode): edu's profile with N more status reads before the acknowledge,
# so that the pull often comes while the ISR runs (a slow or stuck ISR on a card going away).
PROFILE=edu
if [ -n "${SLOW_READS:-}" ]; then
    PROFILE=$W/edu-slow.yaml
    { echo "name: edu-slow-isr"; echo "match: {vendor: 0x1234, device: 0x11e8}"
      $IRQ profile show edu | sed -n '/^stimulus:/,/^acknowledge:/p'
      r=0; while [ $r -lt "$SLOW_READS" ]; do printf '  - read: {bar: 0, offset: 0x24, width: 32}\n    into: waste\n'; r=$((r + 1)); done
      $IRQ profile show edu | sed -n '/^acknowledge:/,$p' | sed 1d; } > $PROFILE
fi
failed=0 hangs=0 fds_first= fds_last=
if [ "$MODE" = daemon ]; then
    cat > $W/config.yaml <<EOF
settings:
  socket: /run/irqbridge/control.sock
  state-directory: /run/irqbridge
  metrics: "off"
  log-level: info
devices:
  "$PORT": {driver: uio_pci_generic, connect: line-based, profile: $PROFILE}
EOF
    $IRQ daemon --config $W/config.yaml 2> $W/daemon.log &
    daemon=$!
    wait_until 60 is_ready || { echo "FAIL the daemon never became ready"; tail -n 20 $W/daemon.log; exit 1; }
    wait_until 30 is_state $PORT connected || { echo "FAIL $PORT never connected: $($IRQ ctl show $PORT 2>&1)"; exit 1; }
fi

i=0
while [ $i -lt $N ]; do
    i=$((i + 1))
    t=$(now)
    delay=$(awk -v seed="$i$(cut -d' ' -f1 /proc/uptime | tr -d .)" 'BEGIN { srand(seed); printf "%.3f", rand() * 0.5 }')
    if [ "$MODE" = watch ]; then
        [ "$(driver $PORT)" = uio_pci_generic ] || rig-bind $PORT uio_pci_generic > /dev/null 2>&1 \
            || { sleep 0.5; rig-bind $PORT uio_pci_generic > /dev/null; } \
            || { echo "FAIL $i: cannot bind $PORT to uio_pci_generic"; failed=$((failed + 1)); break; }
        # Emptied here: `> FILE &` truncates in the child, after this shell may have read the last cycle's.
        rm -f $W/watch.out $W/watch.err
        $IRQ watch $PORT --line-based --json --interval 1 > $W/watch.out 2> $W/watch.err &
        holder=$!
        # Connected once its first interval's line is out (a trigger before that would
        # open the device itself, and the watch would find it held).
        wait_until 15 test -s $W/watch.out \
            || { echo "FAIL $i: watch never reported: $(cat $W/watch.err)"; failed=$((failed + 1)); kill $holder; wait $holder; break; }
        $IRQ trigger $PORT --count 100000 --rate 500 > $W/trigger.out 2>&1 &
        raiser=$!
    else
        before=$($IRQ ctl show $PORT --json | sed -n 's/.*"interrupts":\([0-9]*\).*/\1/p' | head -n1)
        $IRQ ctl trigger $PORT --count 100000 --rate 500 > $W/trigger.out 2>&1 &
        raiser=$!
        holder=$daemon
    fi
    # The pull comes once the kernel counts the raiser's interrupts, then 0 to 0.5 s later.
    base=$(kernel_count)
    wait_until 10 sh -c "[ \$(awk '/uio_pci_generic/ { for (c = 2; c < NF; c++) if (\$c ~ /^[0-9]+\$/) n += \$c } END { print n + 0 }' /proc/interrupts) -gt $((base + 5)) ]" \
        || { echo "NOTE $i: no interrupts counted before the pull ($(tail -n 1 $W/trigger.out))"
             ls -l /run/irqbridge 2>&1 | sed 's/^/    /'; cat $W/watch.err | sed 's/^/    watch.err: /'; tail -n 2 $W/watch.out | cut -c1-300 | sed 's/^/    watch.out: /'
             grep trigger /proc/net/unix | sed 's/^/    bound socket: /'; ls -l /proc/$holder/fd 2>/dev/null | grep -E 'socket|uio' | sed 's/^/    watch fd: /'
             echo "    sysfs irq $(cat /sys/bus/pci/devices/$PORT/irq)"; grep -E 'uio|^ *2[0-3]:' /proc/interrupts | sed 's/^/    interrupts: /'
             dmesg | tail -n 12 | sed 's/^/    dmesg: /'; }
    sleep "$delay"
    $IRQ ctl health > /dev/null 2>&1   # (nothing: keeps the timing of both modes alike)
    unhandled_before=$(unhandled)
    pull=$(now)
    RIG_HOTPLUG_TIMEOUT=20 rig-hotplug remove edu0 > $W/hotplug.out 2>&1 &
    remover=$!
    if ! wait_until 20 gone $remover; then
        evidence "$i: the removal of $PORT did not end within 20 s (delay $delay s)" $holder $raiser $remover
        hangs=$((hangs + 1)); failed=$((failed + 1))
        wait_until 60 gone $remover || { echo "STOP $i: still hung after 80 s"; evidence "$i: 80 s" $holder $raiser; break; }
    fi
    wait $remover; rstatus=$?
    removed_in=$(since $pull)
    [ $rstatus -eq 0 ] || { echo "FAIL $i: rig-hotplug remove: $(cat $W/hotplug.out)"; failed=$((failed + 1)); }
    if ! wait_until 15 gone $raiser; then
        evidence "$i: the raiser did not end within 15 s of the removal" $holder $raiser
        hangs=$((hangs + 1)); failed=$((failed + 1)); kill -9 $raiser
    fi
    wait $raiser; tstatus=$?
    if [ "$MODE" = watch ]; then
        if ! wait_until 15 gone $holder; then
            evidence "$i: irqbridge watch did not end within 15 s of the removal" $holder
            hangs=$((hangs + 1)); failed=$((failed + 1)); kill -9 $holder
        fi
        wait $holder; hstatus=$?
        extra="watch exit $hstatus ($(tr '\n' '|' < $W/watch.err)) first line $(head -c 60 $W/watch.out)"
    else
        if ! wait_until 15 is_state $PORT removed; then
            echo "FAIL $i: $PORT is not removed: $($IRQ ctl show $PORT 2>&1 | head -n 1)"
            evidence "$i: the daemon did not see the removal within 15 s" $daemon
            failed=$((failed + 1)); hangs=$((hangs + 1))
        fi
        extra="state $(state_of $PORT)"
    fi
    if [ "$MODE" = daemon ] && ! alive $daemon; then
        wait $daemon; echo "FAIL $i: the daemon died over the pull (exit $?; 135 is SIGBUS, 139 SIGSEGV)"
        tail -n 5 $W/daemon.log | sed 's/^/  daemon.log: /'; dmesg | grep -iE 'irqbridge|segfault|bus error' | tail -n 3 | sed 's/^/  dmesg: /'
        failed=$((failed + 1)); break
    fi
    RIG_HOTPLUG_TIMEOUT=20 rig-hotplug add edu0 > $W/hotplug.out 2>&1 || { echo "FAIL $i: rig-hotplug add: $(cat $W/hotplug.out)"; failed=$((failed + 1)); }
    wait_until 20 present || { echo "FAIL $i: $PORT never came back"; failed=$((failed + 1)); break; }
    if [ "$MODE" = daemon ]; then
        if ! wait_until 30 is_state $PORT connected; then
            echo "FAIL $i: $PORT not connected again: $($IRQ ctl show $PORT 2>&1 | head -n 1)"
            evidence "$i: no re-connect within 30 s" $daemon
            failed=$((failed + 1))
        fi
        n=$(fds $daemon)
        [ -n "$fds_first" ] || fds_first=$n
        fds_last=$n
        extra="$extra, then $(state_of $PORT) on $(driver $PORT), daemon fds $n"
    fi
    # Counted once the card added back has its handler again (the daemon's bind, or the bind
    # here): a level the pulled card left asserted shows only then, as the kernel had masked the
    # pin when the last handler went.
    [ "$MODE" = watch ] && { rig-bind $PORT uio_pci_generic > /dev/null 2>&1 || { sleep 0.5; rig-bind $PORT uio_pci_generic > /dev/null 2>&1; }; }
    sleep 0.5
    # (A handler installed on a line with none resets the count: then all of it is this pull's.)
    lost=$(unhandled); [ "$lost" -lt "$unhandled_before" ] || lost=$((lost - unhandled_before))
    extra="$extra, unhandled on the line from the pull to the handler's return $lost"
    if dmesg | grep -q "Disabling IRQ"; then
        echo "FAIL $i: the kernel disabled the card's IRQ (nobody cared): $(dmesg | grep -m1 'Disabling IRQ')"
        failed=$((failed + 1)); i=$N
    elif [ $lost -gt 1000 ]; then
        echo "FAIL $i: $lost unhandled interrupts on the card's line over the pull"
        failed=$((failed + 1))
    fi
    echo "PULL $i delay $delay removal ${removed_in}s trigger exit $tstatus ($(tail -n 1 $W/trigger.out)) $extra cycle $(since $t)s"
done
if [ "$MODE" = daemon ]; then
    [ "$fds_first" = "$fds_last" ] || { echo "FAIL the daemon's descriptors grew: $fds_first after the first cycle, $fds_last after the last"; failed=$((failed + 1)); }
    kill -TERM $daemon; wait $daemon; echo "daemon exit $?"
    tail -n 15 $W/daemon.log | sed 's/^/  daemon.log: /'
fi
echo "SUMMARY $MODE: $i cycles, $hangs hang(s), $failed failed"
exit $failed
