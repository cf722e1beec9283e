#!/bin/sh
# Runs in the rig's guest (busybox sh): `irqbridge daemon` for the whole test, driven only
# through `irqbridge ctl` (the control socket) and signals. Devices (scripts/rig/daemon.sh):
#   0000:00:03.0 edu, MSI, message-based     0000:00:04.0 edu, INTx, line-based
#   0000:00:05.0 ivshmem-doorbell, 4 MSI-X (configured by ids, 1af4:1110)
#   0000:00:07.0 e1000e, 5 MSI-X, taken from the e1000e driver (`from: e1000e`)
#   0000:00:09.0 edu, added by a reload     0000:01:00.0 edu0, hot-pluggable (removed by QMP)
# Steps: start; counts against /proc/interrupts (ctl stats) after `ctl trigger`; `ctl wait`
# (arrived, timeout, bad request); SIGHUP adds 09.0 and removes 04.0, a bad file is rejected,
# SIGHUP adds 04.0 back; edu0 removed by QMP while `ctl trigger` raises on it (an event, the
# daemon stays up) and added back (bound again); SIGKILL + restart re-adopts every device;
# SIGTERM gives every device back (e1000e to e1000e, the others to no driver).
# Prints "PASS ..."/"FAIL ..." per check, "TIME step seconds" per step, and the two event
# streams as "EVENTS1 {...}" / "EVENTS2 {...}" lines (daemon.sh parses each as JSON on the host).
# usage: guest-daemon.sh IRQBRIDGE E1000E_KO [COUNT]     Exit status: the number of failed checks.
IRQ=$1
E1000E_KO=$2
COUNT=${3:-200}
W=/tmp/daemon-test
mkdir -p $W
failed=0 passed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { label=$1; shift; if "$@"; then pass "$label"; else fail "$label"; fi; }
ctl() { $IRQ ctl "$@"; }
now() { cut -d' ' -f1 /proc/uptime; }
t0=$(now)
step_start=$t0
step() { t=$(now); echo "TIME $1 $(awk -v a="$step_start" -v b="$t" 'BEGIN { printf "%.1f", b - a }')"; step_start=$t; }

EDU=0000:00:03.0 INTX=0000:00:04.0 IVSHMEM=0000:00:05.0 E1000E=0000:00:07.0 ADDED=0000:00:09.0
PORT=${IRQBRIDGE_RIG_HOTPLUG#edu0=}
ALL="$EDU $INTX $IVSHMEM $E1000E $ADDED $PORT"
STATE=/run/irqbridge

driver() { d=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) && basename "$d" || echo none; }
# state_of ID: the state word of `ctl show` (ID  STATE  ...).
state_of() { ctl show "$1" 2>/dev/null | awk '{ print $2; exit }'; }
# field KEY: the first top-level numeric or boolean "KEY":VALUE of the JSON on stdin.
field() { sed -n "s/.*\"$1\":\([0-9a-z.]*\).*/\1/p" | head -n1; }
# vectors ID: one line per vector of `ctl stats --json`: MESSAGE INTERRUPTS KERNEL SIGNALS.
vectors() {
    # The nested timing objects (isrDuration, stimulusToISR) out first: records split at "{".
    ctl stats "$1" --json | sed -E 's/"(isrDuration|stimulusToISR)":\{[^}]*\},?//g' | awk '
        function f(s, k) { if (match(s, "\"" k "\":[0-9]+")) return substr(s, RSTART + length(k) + 3, RLENGTH - length(k) - 3); return "-" }
        BEGIN { RS = "{" }
        /"interrupts":/ && /"message":/ { print f($0, "message"), f($0, "interrupts"), f($0, "kernel"), f($0, "signals") }'
}
# wait_until SECONDS COMMAND...: polls every 0.2 s.
wait_until() {
    limit=$(($1 * 5)); shift; i=0
    while [ $i -lt $limit ]; do "$@" && return 0; sleep 0.2; i=$((i + 1)); done
    return 1
}
is_ready() { ctl health --json 2>/dev/null | grep -q '"ready":true'; }
is_state() { [ "$(state_of "$1")" = "$2" ]; }
# all_in STATE ID...: every device is in STATE (one `ctl devices`).
all_in() {
    wanted=$1; shift
    list=$(ctl devices) || return 1
    for id; do echo "$list" | grep -q "^$id  $wanted  " || return 1; done
}
# all_on DRIVER BDF...: every device is on DRIVER (sysfs).
all_on() { wanted=$1; shift; for bdf; do [ "$(driver "$bdf")" = "$wanted" ] || return 1; done; }
connected_count() { ctl health --json | field connected; }
reloads() { ctl health --json | field reloads; }
watchers() { ctl health --json 2>/dev/null | field eventWatchers; }

# config FILE [ADDRESS...]: the device table with the given edus at 04.0/09.0 besides the rest.
config() {
    file=$1; shift
    cat > "$file" <<EOF
settings:
  socket: $STATE/control.sock
  state-directory: $STATE
  metrics: "off"
  milestone: 100
  log-level: info
devices:
  "$EDU": {driver: vfio-pci, connect: message-based, profile: edu, on-exit: restore, storm: {rate-limit: ${EDU_RATE_LIMIT:-100000}, rate-window-ms: 100}}
  "1af4:1110": {profile: ivshmem-doorbell}
  "$E1000E": {from: e1000e, profile: e1000e}
  "$PORT": {profile: edu}
EOF
    for extra in "$@"; do
        if [ "$extra" = "$INTX" ]; then echo "  \"$INTX\": {connect: line-based, profile: ${INTX_PROFILE:-edu}}" >> "$file"
        else echo "  \"$extra\": {profile: edu}" >> "$file"; fi
    done
}

# start_daemon LOG: starts it on $W/config.yaml, waits until ready.
start_daemon() {
    $IRQ daemon --config $W/config.yaml 2> "$1" &
    daemon=$!
    wait_until 60 is_ready
}

# expect_counts LABEL ID KIND N: N raised through `ctl trigger`, then every vector's ISR
# calls and the kernel's count since the last reset (or the connect) agree.
#   strict  every vector: interrupts == kernel; the sum of interrupts == N (edu, ivshmem)
#   signals every vector: kernel == signals (the eventfd's count); interrupts >= N in all
#           (QEMU 7.2's e1000e signals some raises twice; the kernel counts both)
expect_counts() {
    label=$1 id=$2 kind=$3 n=$4
    out=$(ctl trigger "$id" --count "$n" 2>&1) || { fail "$label: ctl trigger: $out"; return; }
    echo "    $out"
    vectors "$id" > $W/vectors || { fail "$label: ctl stats"; return; }
    sed 's/^/    vector (message interrupts kernel signals): /' $W/vectors
    verdict=$(awk -v kind="$kind" -v n="$n" '
        { total += $2; lines++
          if ($3 == "-") bad = bad " message " $1 " has no kernel count"
          else if (kind == "strict" && $2 != $3) bad = bad " message " $1 ": " $2 " interrupts, kernel " $3
          else if (kind == "signals" && $3 != $4) bad = bad " message " $1 ": kernel " $3 ", signals " $4 }
        END { if (lines == 0) bad = " no vectors"
              if (kind == "strict" && total != n) bad = bad " " total " interrupts for " n " raised"
              if (kind == "signals" && total < n) bad = bad " " total " interrupts for " n " raised"
              print bad }' $W/vectors)
    if [ -z "$verdict" ]; then pass "$label: $n raised, counts agree with /proc/interrupts"; else fail "$label:$verdict"; fi
}

# ---------------------------------------------------------------- start
insmod "$E1000E_KO" 2>/dev/null
wait_until 20 test "$(driver $E1000E)" = e1000e
for bdf in $ALL; do echo "before: $bdf $(driver "$bdf")"; done
check "e1000e is on the e1000e driver before the daemon starts" test "$(driver $E1000E)" = e1000e
config $W/config.yaml "$INTX"
$IRQ daemon --config $W/config.yaml --check > $W/check.out 2>&1; status=$?
check "daemon --check accepts the configuration ($(head -1 $W/check.out))" test $status -eq 0
sed 's/^/    check: /' $W/check.out
check "daemon --check plans edu, ivshmem and e1000e to connect and no device to fail" sh -c \
    "grep -Eq '^$EDU \\(1234:11e8, by address\\): (bind to|on) vfio-pci.*, connect message-based, profile edu' $W/check.out \
     && grep -q '^$E1000E (8086:10d3, by address): bind to vfio-pci from e1000e, connect message-based, profile e1000e' $W/check.out \
     && grep -Eq 'by 1af4:1110\\): (bind to|on) vfio-pci.*, connect message-based, profile ivshmem-doorbell' $W/check.out \
     && ! grep -q ': fails: ' $W/check.out"
# A device `irqbridge bind` bound (a bring-up session) and the file does not name: the daemon
# shares the binding records but leaves it where it is.
$IRQ bind $ADDED > /dev/null
start_daemon $W/daemon1.log
check "the daemon is ready (ctl health)" is_ready
check "a device irqbridge bind bound, not configured, stays on vfio-pci at the daemon's start" test "$(driver $ADDED)" = vfio-pci
$IRQ unbind $ADDED > /dev/null
ctl events > $W/events1 2> $W/events1.err &
events1=$!
wait_until 10 test "$(watchers)" -ge 1
step start

ctl devices > $W/devices
sed 's/^/    /' $W/devices
for line in "$EDU connected MSI 1" "$INTX connected INTx 1" "$IVSHMEM connected MSI-X 4" "$E1000E connected MSI-X 5" "$PORT connected MSI 1"; do
    set -- $line
    check "ctl devices: $1 $2 ($3 x$4)" grep -q "^$1  $2  $3 x$4 .* driver vfio-pci" $W/devices
done
check "ctl show: e1000e's previous driver is e1000e" sh -c "$IRQ ctl show $E1000E --json | grep -q '\"previousDriver\":\"e1000e\"'"

# ---------------------------------------------------------------- counts
ctl reset > $W/reset.out 2>&1; status=$?
check "ctl reset (every device): $(cat $W/reset.out)" test $status -eq 0 -a "$(grep -o '0000:' $W/reset.out | wc -l)" -eq 5
expect_counts "edu MSI (message-based)" $EDU strict "$COUNT"
expect_counts "edu INTx (line-based)" $INTX strict "$COUNT"
expect_counts "ivshmem-doorbell MSI-X (4 vectors in turn)" $IVSHMEM strict "$COUNT"
expect_counts "e1000e MSI-X (5 vectors in turn, through its cause registers)" $E1000E signals "$COUNT"
expect_counts "edu0 MSI (behind a root port)" $PORT strict 50
ctl metrics > $W/metrics
check "ctl metrics: irqbridge_interrupts_total for $EDU" grep -q "^irqbridge_interrupts_total{.*$EDU" $W/metrics
step counts

# ---------------------------------------------------------------- wait and trigger
# ctl wait for 20 while ctl trigger raises bursts of 20 at 100/s until the wait returns
# (however late the wait's request reaches the daemon, 20 arrive after it; the second
# before the first burst lets it usually take one).
wait_during() {
    label=$1 id=$2; shift 2
    ctl wait "$id" --count 20 --timeout 30 "$@" > $W/wait.out 2>&1 &
    waiter=$!
    bursts=0 tstatus=0
    sleep 1
    while kill -0 $waiter 2>/dev/null && [ $bursts -lt 30 ]; do
        ctl trigger "$id" --count 20 --rate 100 "$@" > $W/trigger.out 2>&1 || tstatus=$?
        bursts=$((bursts + 1))
    done
    wait $waiter; wstatus=$?
    echo "    $(cat $W/wait.out) (after $bursts burst(s): $(cat $W/trigger.out))"
    check "$label: ctl wait exits 0 while ctl trigger --rate 100 raises (trigger exit $tstatus)" test $wstatus -eq 0 -a $tstatus -eq 0
}
wait_during "edu MSI" $EDU
wait_during "edu INTx" $INTX
wait_during "ivshmem-doorbell MSI-X vector 2" $IVSHMEM --vector 2
# reset, act, then wait: --since-reset counts what came before the call.
ctl reset $EDU > /dev/null && ctl trigger $EDU --count 10 > $W/trigger.out 2>&1 \
    && ctl wait $EDU --count 10 --timeout 5 --since-reset > $W/wait.out 2>&1; status=$?
check "ctl reset, trigger 10, then ctl wait --since-reset: exit 0 ($(cat $W/wait.out))" test $status -eq 0
ctl wait $EDU --timeout 1 > $W/wait.out 2>&1; status=$?
check "ctl wait with nothing raised: exit 1 after its timeout ($(cat $W/wait.out))" test $status -eq 1
ctl wait $EDU --vector 3 --timeout 1 > $W/wait.out 2>&1; status=$?
check "ctl wait on a vector the device lacks: exit 2 ($(cat $W/wait.out))" test $status -eq 2
ctl trigger $IVSHMEM --vector 9 > $W/trigger.out 2>&1; status=$?
check "ctl trigger on a vector the device lacks: exit 2 ($(cat $W/trigger.out))" test $status -eq 2
ctl trigger 0000:00:1f.3 > $W/trigger.out 2>&1; status=$?
check "ctl trigger on a device the daemon does not know: exit 2 ($(cat $W/trigger.out))" test $status -eq 2
step wait-trigger

# ---------------------------------------------------------------- SIGHUP
before=$(reloads)
edu_before=$(ctl show $EDU --json | field interrupts)
# edu's storm rules change too: applied in place, its connection (and counts) kept.
EDU_RATE_LIMIT=90000 config $W/config.yaml "$ADDED"
kill -HUP $daemon
wait_until 30 test "$(reloads)" -gt "$before"
wait_until 10 is_state $ADDED connected
check "SIGHUP: $ADDED (added to the file) is connected" is_state $ADDED connected
check "SIGHUP: $ADDED is on vfio-pci" test "$(driver $ADDED)" = vfio-pci
ctl show $INTX > $W/show.out 2>&1; status=$?
check "SIGHUP: $INTX (dropped from the file) is no longer known ($(cat $W/show.out))" test $status -eq 2
check "SIGHUP: $INTX was given back to no driver" test "$(driver $INTX)" = none
check "SIGHUP: the other devices stayed connected" all_in connected $EDU $IVSHMEM $E1000E $PORT
edu_after=$(ctl show $EDU --json | field interrupts)
check "SIGHUP: $EDU's changed storm rules kept its connection ($edu_before interrupts before, $edu_after after)" \
    test "${edu_after:-0}" -ge "${edu_before:-1}" -a "${edu_before:-0}" -gt 0
expect_counts "edu MSI on the device the reload added" $ADDED strict 50
before=$(reloads)
echo "devices: {" > $W/config.yaml
kill -HUP $daemon
wait_until 20 grep -q '"kind":"reload-rejected"' $W/events1
check "SIGHUP with a malformed file: a reload-rejected event" grep -q '"kind":"reload-rejected"' $W/events1
check "SIGHUP with a malformed file: nothing changed (5 connected)" test "$(connected_count)" = 5
config $W/config.yaml "$INTX" "$ADDED"
kill -HUP $daemon
wait_until 30 is_state $INTX connected
check "SIGHUP: $INTX is back (line-based)" sh -c "$IRQ ctl show $INTX | grep -q '  connected  INTx x1 '"
step sighup

# ---------------------------------------------------------------- the other verbs, on 09.0
ctl disconnect $ADDED > /dev/null && is_state $ADDED bound
check "ctl disconnect: $ADDED is bound, not connected" test $? -eq 0
ctl unbind $ADDED > /dev/null && [ "$(driver $ADDED)" = none ]
check "ctl unbind: $ADDED is given back to no driver" test $? -eq 0
ctl bind $ADDED --driver vfio-pci > /dev/null && [ "$(driver $ADDED)" = vfio-pci ] && ctl connect $ADDED > /dev/null && is_state $ADDED connected
check "ctl bind + ctl connect: $ADDED is on vfio-pci and connected again" test $? -eq 0
ctl unbind $INTX > /dev/null && ctl bind $INTX > /dev/null && ctl connect $INTX > /dev/null
check "ctl unbind + bind + connect: $INTX takes its configured entry back (line-based, not the defaults)" \
    sh -c "$IRQ ctl show $INTX | grep -q '  connected  INTx x1 '"
ctl save-config --path $STATE/saved.yaml > /dev/null && $IRQ daemon --config $STATE/saved.yaml --check > $W/check.out 2>&1
check "ctl save-config writes a file the daemon accepts ($(head -1 $W/check.out))" grep -q "valid: 6 device entries" $W/check.out

# An acknowledge that claims without clearing edu's status (guest-bringup.sh's): VFIO signals
# the line again at every unmask, with no new interrupt, and every call is claimed. The daemon
# compares the kernel's count once a second and contains the line, naming the rule.
cat > $W/noack.yaml <<'NOACK'
name: edu-claims-without-clearing
match: {vendor: 0x1234, device: 0x11e8}
stimulus:
  interrupts: [intx]
  vectors: 1
  raise:
    - write: {bar: 0, offset: 0x60, width: 32}
      value: 1
acknowledge:
  - return: claimed
NOACK
has_profile() { ctl show "$1" --json 2>/dev/null | grep -q "\"profile\":\"$2\"" && is_state "$1" connected; }
unquieted_event() { grep -q "\"device\":\"$INTX\".*\"kind\":\"storm\".*claimed but not quieted" $W/events1; }
INTX_PROFILE=$W/noack.yaml config $W/config.yaml "$INTX" "$ADDED"
kill -HUP $daemon
wait_until 30 has_profile $INTX edu-claims-without-clearing
ctl trigger $INTX --count 1 > /dev/null 2>&1
wait_until 15 unquieted_event
check "an INTx line the acknowledge does not quiet is contained (a storm event: a line claimed but not quieted)" unquieted_event
config $W/config.yaml "$INTX" "$ADDED"
kill -HUP $daemon
wait_until 30 has_profile $INTX edu
check "$INTX back on edu's own profile: connected" has_profile $INTX edu
# A reload whose new entry cannot connect the card (its line under uio_pci_generic, with a
# profile that has no acknowledge program) fails it as start-up would: the daemon gives back
# the card it bound (no driver, as it was), rather than move it to uio_pci_generic to fail there.
cat > $W/bare.yaml <<'BARE'
name: edu-without-acknowledge
match: {vendor: 0x1234, device: 0x11e8}
BARE
config $W/config.yaml "$INTX"
echo "  \"$ADDED\": {driver: uio_pci_generic, connect: line-based, profile: $W/bare.yaml}" >> $W/config.yaml
kill -HUP $daemon
wait_until 30 is_state $ADDED failed
refused_and_given_back() { [ "$(state_of $ADDED)" = failed ] && [ "$(driver $ADDED)" = none ] && ctl show $ADDED 2>&1 | grep -q 'given back to no driver'; }
check "a reload refusing $ADDED: failed and given back to no driver, not left on uio_pci_generic (on $(driver $ADDED): $(ctl show $ADDED 2>&1 | head -n 1))" \
    refused_and_given_back
config $W/config.yaml "$INTX" "$ADDED"
kill -HUP $daemon
wait_until 30 is_state $ADDED connected
reconnected() { [ "$(state_of $ADDED)" = connected ] && [ "$(driver $ADDED)" = vfio-pci ]; }
check "$ADDED under its former entry again: connected on vfio-pci" reconnected
step verbs

# ---------------------------------------------------------------- hot-plug
ctl trigger $PORT --count 100000 --rate 200 > $W/hot-trigger.out 2>&1 &
trigger=$!
# Remove it only once its interrupts are seen arriving.
ctl wait $PORT --count 20 --timeout 30 > $W/wait.out 2>&1; status=$?
check "edu0 interrupts while ctl trigger --rate 200 runs ($(cat $W/wait.out))" test $status -eq 0
removal=$(now)
rig-hotplug remove edu0 > $W/hotplug.out 2>&1; status=$?
check "rig-hotplug remove edu0 while ctl trigger raises on it (done in $(awk -v a="$removal" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }') s) $(cat $W/hotplug.out)" test $status -eq 0
wait_until 15 sh -c "! kill -0 $trigger 2>/dev/null"
check "ctl trigger on the removed device ended" sh -c "! kill -0 $trigger 2>/dev/null"
kill $trigger 2>/dev/null; wait $trigger; status=$?
check "ctl trigger cut short by the removal: exit 2, says how many were raised ($(cat $W/hot-trigger.out))" \
    sh -c "[ $status -eq 2 ] && grep -q 'was disconnected after [0-9]* of 100000' $W/hot-trigger.out"
wait_until 10 grep -q "\"device\":\"$PORT\".*\"kind\":\"removed\"" $W/events1
check "the removal is an event (removed)" grep -q "\"device\":\"$PORT\".*\"kind\":\"removed\"" $W/events1
check "ctl show: $PORT is removed" is_state $PORT removed
check "the daemon stays up and answers (ctl health)" sh -c "kill -0 $daemon && $IRQ ctl health > /dev/null"
ctl reset $EDU > /dev/null
expect_counts "edu MSI after the removal (ctl reset $EDU first)" $EDU strict 50
rig-hotplug add edu0 > $W/hotplug.out 2>&1
wait_until 20 is_state $PORT connected
check "edu0 added back by QMP: the daemon binds and connects it again" is_state $PORT connected
step hotplug

# ---------------------------------------------------------------- SIGKILL and restart
kill -KILL $daemon; wait $daemon 2>/dev/null
wait_until 10 sh -c "! kill -0 $events1 2>/dev/null"
check "ctl events ended when the daemon was killed" sh -c "! kill -0 $events1 2>/dev/null"
kill $events1 2>/dev/null; wait $events1; status=$?
check "ctl events exits 1 when the daemon dies mid-stream ($(cat $W/events1.err))" test $status -eq 1
for bdf in $ALL; do echo "after SIGKILL: $bdf $(driver "$bdf")"; done
check "after SIGKILL every device is still on vfio-pci" all_on vfio-pci $ALL
check "after SIGKILL a binding record per device" test "$(ls $STATE/bindings | wc -l)" -eq 6
start_daemon $W/daemon2.log
check "the restarted daemon is ready" is_ready
ctl events > $W/events2 2> $W/events2.err &
events2=$!
for bdf in $ALL; do
    check "restart re-adopted $bdf (a bound event 're-adopted on vfio-pci')" grep -q "re-adopted on vfio-pci .*device=$bdf event=bound" $W/daemon2.log
done
ctl devices > $W/devices
sed 's/^/    /' $W/devices
check "after the restart every device is connected" test "$(grep -c '  connected  ' $W/devices)" -eq 6
check "after the restart e1000e's previous driver is still e1000e" sh -c "$IRQ ctl show $E1000E --json | grep -q '\"previousDriver\":\"e1000e\"'"
wait_until 10 test "$(watchers)" -ge 1
expect_counts "edu MSI after the restart" $EDU strict 50
expect_counts "edu INTx after the restart" $INTX strict 50
step sigkill-restart

# ---------------------------------------------------------------- SIGTERM
kill -TERM $daemon; wait $daemon; status=$?
check "SIGTERM: the daemon exits 0 (exit $status)" test $status -eq 0
wait $events2; status=$?
check "ctl events exits 0 when the stream ends with the daemon's SIGTERM" test $status -eq 0
for bdf in $ALL; do echo "after SIGTERM: $bdf $(driver "$bdf")"; done
check "SIGTERM: e1000e is back on e1000e" test "$(driver $E1000E)" = e1000e
for bdf in $EDU $INTX $IVSHMEM $ADDED $PORT; do
    check "SIGTERM: $bdf is back on no driver" test "$(driver $bdf)" = none
done
for bdf in $ALL; do
    check "SIGTERM: an unbound event for $bdf (ctl events)" grep -q "\"device\":\"$bdf\",\"kind\":\"unbound\"" $W/events2
done
check "SIGTERM: no binding record is left" test "$(ls $STATE/bindings | wc -l)" -eq 0
step sigterm

# ---------------------------------------------------------------- the event streams
for n in 1 2; do
    # Sequence numbers strictly increase (the host parses each line as JSON as well).
    bad=$(sed -n 's/.*"sequence":\([0-9]*\).*/\1/p' $W/events$n | awk 'NR > 1 && $1 <= last { print "seq " $1 " after " last } { last = $1 }')
    check "events$n: $(wc -l < $W/events$n) lines, sequence numbers strictly increase" test -z "$bad" -a -s $W/events$n
    sed "s/^/EVENTS$n /" $W/events$n
done
check "events2: the stream's last event is 'stopping' (SIGTERM)" sh -c "tail -n 1 $W/events2 | grep -q '\"kind\":\"stopping\"'"
# In order in the first stream: the reload's unbind of 04.0, then 09.0 bound and connected,
# the reload event, then the rejected reload, edu0 removed, edu0 connected again.
order=$(awk -v intx="$INTX" -v added="$ADDED" -v port="$PORT" '
    function kind() { return match($0, /"kind":"[a-z-]*"/) ? substr($0, RSTART + 8, RLENGTH - 9) : "" }
    function is(k, d) { return kind() == k && (d == "" || index($0, "\"device\":\"" d "\"")) }
    step == 0 && is("unbound", intx) { step++ ; next }
    step == 1 && is("bound", added) { step++; next }
    step == 2 && is("connected", added) { step++; next }
    step == 3 && is("reload", "") { step++; next }
    step == 4 && is("reload-rejected", "") { step++; next }
    step == 5 && is("removed", port) { step++; next }
    step == 6 && is("connected", port) { step++; next }
    is("milestone", "") { milestones++ }
    END { print step, milestones + 0 }' $W/events1)
check "events1: in order: unbound, bound, connected, reload, reload-rejected, removed, connected (reached $order)" test "${order% *}" = 7
check "events1: milestone events (every 100 interrupts)" test "${order#* }" -gt 0

if [ $failed -gt 0 ]; then
    for log in daemon1.log daemon2.log events1.err events2.err; do echo "---- $log"; tail -n 40 $W/$log; done
fi
echo "TIME total $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
echo "daemon in the rig: $passed passed, $failed failed"
exit $failed
