#!/bin/sh
# Runs in the rig's guest (busybox sh): the bring-up verbs on real (emulated) devices.
#   trigger (holding the device itself): every raise claimed once, the kernel counted the signals
#     edu MSI, edu INTx (--line-based), ivshmem-doorbell MSI-X, e1000e MSI-X (every vector
#     through its cause registers), nvme (loopback: no kernel count, said so)
#   wait: exits 0 once `trigger` (relayed to it) raised K, 1 on timeout, 2 for an INTx line
#     without an acknowledge program (nvme)
#   a malformed profile: one line on stderr and exit 2, per kind of mistake
#   profile check/list/new against live functions (BAR sizes from sysfs)
#   --policy on the verbs (MSISupported: false: edu's line)
#   a line a previous user left asserted is served at the next connect (VFIO, as UIO)
#   a wait counts a line's claimed calls only (an acknowledge that declines all: exit 1)
# usage: guest-bringup.sh IRQBRIDGE COUNT   (devices bound to vfio-pci: 03.0 05.0 07.0 08.0)
# Exit status: the number of failed checks.
IRQ=$1
COUNT=${2:-200}
failed=0 passed=0
pass() { passed=$((passed + 1)); echo "pass $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# Waits up to 30 s for the trigger socket of the wait or watch just started on BDF.
await_trigger_socket() {
    tries=0
    while [ ! -S "/run/irqbridge/$1.trigger" ] && [ $tries -lt 300 ]; do sleep 0.1; tries=$((tries + 1)); done
}

# expect_trigger LABEL BDF KERNEL(yes|no) [options]: a standalone trigger raises COUNT.
expect_trigger() {
    label=$1 bdf=$2 kernel=$3; shift 3
    out=$($IRQ trigger "$bdf" --count "$COUNT" "$@" 2>&1); status=$?
    echo "    $out"
    if [ $status -ne 0 ]; then fail "$label: trigger exit $status"; return; fi
    claimed=$(echo "$out" | sed -n "s/.* claimed \([0-9]*\), .*/\1/p")
    signals=$(echo "$out" | sed -n "s/.*, \([0-9]*\) signal(s);.*/\1/p")
    [ "$claimed" = "$COUNT" ] || { fail "$label: $COUNT raises, $claimed claimed"; return; }
    if [ "$kernel" = yes ]; then
        # A device may signal one raise twice (the rig's e1000e): the kernel's count must
        # equal the signals the eventfds delivered, which is at least one per raise.
        echo "$out" | grep -q "the kernel counted $signals\$" || { fail "$label: the kernel's count is not the $signals signals"; return; }
    else
        echo "$out" | grep -q "no kernel count" || { fail "$label: a loopback interrupt must not claim a kernel count"; return; }
    fi
    pass "$label"
}

# expect_wait LABEL BDF [options]: wait for COUNT while trigger (relayed) raises them.
expect_wait() {
    label=$1 bdf=$2; shift 2
    $IRQ wait "$bdf" --count "$COUNT" --timeout 60 "$@" > /tmp/wait.out 2>&1 &
    pid=$!
    await_trigger_socket "$bdf"
    relay=$($IRQ trigger "$bdf" --count "$COUNT" 2>&1) || fail "$label: trigger (relayed) failed: $relay"
    wait $pid; status=$?
    sed 's/^/    /' /tmp/wait.out
    echo "$relay" | grep -q "^the process holding $bdf raised $COUNT interrupt(s) through .\+$" || { fail "$label: trigger did not reach the waiting process: $relay"; return; }
    [ $status -eq 0 ] && grep -q "^[0-9]* interrupt(s) arrived$" /tmp/wait.out && pass "$label (exit 0)" || fail "$label: wait exit $status"
}

# The second edu (00:04.0) has no driver and was never enabled: its IRQ is firmware's until
# the kernel routes the pin, and list says so; once VFIO has opened it, the note is gone.
if [ "$(cat /sys/bus/pci/devices/0000:00:04.0/enable)" = 0 ]; then
    $IRQ list 0000:00:04.0 | grep -q "IRQ [0-9]* (firmware's value" && $IRQ list 0000:00:04.0 --json | grep -q '"irqRouted" : false' \
        && pass "list: an IRQ firmware left, before the kernel routed the pin, is named as such" || fail "list 00:04.0: no firmware note"
    # The table marks it too, with a legend line under the table.
    table=$($IRQ list)
    echo "$table" | awk '$1 == "0000:00:04.0" { print $4 }' | grep -qx "[0-9]*\\*" && echo "$table" | grep -q "^\\* IRQ not routed yet: firmware's value" \
        && pass "list table: the firmware IRQ is marked *, with its legend" || fail "list table: no firmware mark: $(echo "$table" | grep -e 00:04.0 -e '^\*')"
fi

# profile check on live functions: sysfs gives BAR sizes, so the built-in edu profile fits,
# and one whose acknowledge writes past the edu's 1 MiB BAR 0 does not (exit 1, one line
# naming the field); list marks the profile a function gets.
$IRQ profile show edu > /tmp/edu.yaml
out=$($IRQ profile check /tmp/edu.yaml --device 0000:00:03.0 2>&1); status=$?
[ $status -eq 0 ] && echo "$out" | grep -qx "fits 0000:00:03.0 (1234:11e8): it matches, and its stimulus, registers and acknowledge suit it" \
    && pass "profile check: the built-in edu profile fits the live edu" || fail "profile check edu: exit $status: $out"
sed 's/offset: 0x64/offset: 0x100000/' /tmp/edu.yaml > /tmp/edu-past.yaml
$IRQ profile check /tmp/edu-past.yaml --device 0000:00:03.0 > /tmp/check.out 2> /tmp/check.err; status=$?
# The acknowledge and the quiesce both write 0x64: both misfits are named, on the one line.
past="offset 0x100000 (32-bit) is past the end of BAR 0, which is 0x100000 bytes"
[ $status -eq 1 ] && grep -q "^irqbridge: /tmp/edu-past.yaml:[0-9]*:[0-9]*: acknowledge\[[0-9]\].write.offset: $past; /tmp/edu-past.yaml:[0-9]*:[0-9]*: quiesce\[[0-9]\].write.offset: $past$" /tmp/check.err \
    && [ "$(wc -l < /tmp/check.err)" -eq 1 ] && pass "profile check: offsets past the live BAR 0 do not fit, each named (exit 1, one line)" \
    || { fail "profile check past BAR 0: exit $status"; cat /tmp/check.err; }
# profile new on a live function: its BAR sizes from sysfs in the comments, and the file fits it.
$IRQ profile new 0000:00:07.0 --name card > /tmp/card.yaml; status=$?
out=$($IRQ profile check /tmp/card.yaml --device 0000:00:07.0 2>&1); checked=$?
[ $status -eq 0 ] && [ $checked -eq 0 ] && grep -q '^# BAR 0: memory, 32-bit, 128 KiB: offsets 0x0 to 0x1ffff$' /tmp/card.yaml \
    && pass "profile new: a profile for the live e1000e that fits it" || { fail "profile new e1000e: exit $status/$checked: $out"; cat /tmp/card.yaml; }
$IRQ profile list --device 0000:00:07.0 | tail -1 | grep -qx "\* 0000:00:07.0 (8086:10d3) gets 'e1000e'" \
    && pass "profile list --device: the e1000e gets its built-in profile" || fail "profile list --device 0000:00:07.0"

expect_trigger "trigger edu MSI" 0000:00:03.0 yes
expect_trigger "trigger edu INTx" 0000:00:03.0 yes --line-based
# --policy chooses what the verbs connect, as the daemon's and discovery's policy does.
printf 'devices:\n  "1234:11e8": {MSISupported: false}\n' > /tmp/no-msi.yaml
out=$($IRQ trigger 0000:00:03.0 --count 5 --policy /tmp/no-msi.yaml 2>&1); status=$?
echo "    $out"
[ $status -eq 0 ] && echo "$out" | grep -q "(INTx, 1 vector" \
    && pass "trigger edu --policy MSISupported: false serves its INTx line" || fail "trigger edu --policy no-msi: exit $status"
# Paced faster than the ISR is served, raises may fold into fewer calls, as on hardware:
# every MSI the kernel took still signals the loop, and trigger exits 0.
out=$($IRQ trigger 0000:00:03.0 --count 20 --rate 1000000 2>&1); status=$?
echo "    $out"
signals=$(echo "$out" | sed -n "s/.*, \([0-9]*\) signal(s);.*/\1/p")
[ $status -eq 0 ] && [ -n "$signals" ] && echo "$out" | grep -q "the kernel counted $signals\($\|;\)" \
    && pass "trigger edu MSI at 1,000,000/s: $signals signals, as the kernel counted (exit 0)" || fail "trigger edu MSI paced: exit $status"
expect_trigger "trigger ivshmem-doorbell MSI-X" 0000:00:05.0 yes
expect_trigger "trigger e1000e MSI-X, every vector" 0000:00:07.0 yes
for v in 0 1 2 3 4; do expect_trigger "trigger e1000e MSI-X vector $v" 0000:00:07.0 yes --vector $v; done
expect_trigger "trigger nvme (loopback)" 0000:00:08.0 no
expect_trigger "trigger edu MSI through VFIO's loopback (--loopback, despite its profile's stimulus)" 0000:00:03.0 no --loopback
# The loopback's ISR claims without touching the device, so a line needs no acknowledge program.
expect_trigger "trigger nvme INTx through VFIO's loopback (its profile has no acknowledge program)" 0000:00:08.0 no --line-based --loopback

# A cause left pending on a line (an acknowledge that claims without clearing, and no
# quiesce) is served at the next connect under vfio-pci, as under UIO: the next wait gets
# it, and the line delivers again afterwards (QEMU's IO-APIC alone never delivered it).
# Both from the built-in edu profile written above: without its quiesce, and (noclear) with an
# acknowledge that only claims as well.
sed '/^quiesce:/,$d; s/^name: edu$/name: edu-noquiesce/' /tmp/edu.yaml > /tmp/edu-noquiesce.yaml
{ sed '/^acknowledge:/,$d; s/^name: edu$/name: edu-noclear/' /tmp/edu.yaml; printf 'acknowledge:\n  - return: claimed\n'; } > /tmp/edu-noclear.yaml
$IRQ trigger 0000:00:03.0 --line-based --profile /tmp/edu-noclear.yaml --count 1 > /dev/null 2>&1
# A holder that does not clear it either sees it again at each unmask, as on any line.
out0=$($IRQ wait 0000:00:03.0 --line-based --profile /tmp/edu-noclear.yaml --count 5 --timeout 10 2>&1); status0=$?
echo "    $out0"
out=$($IRQ wait 0000:00:03.0 --line-based --profile /tmp/edu-noquiesce.yaml --count 1 --timeout 10 2>&1); status=$?
echo "    $out"
out2=$($IRQ trigger 0000:00:03.0 --line-based --profile /tmp/edu-noquiesce.yaml --count 3 2>&1); status2=$?
echo "    $out2"
[ $status0 -eq 0 ] && [ $status -eq 0 ] && [ $status2 -eq 0 ] && echo "$out2" | grep -q " claimed 3, " \
    && pass "a line left asserted by the previous user is served at the next connect (again at each unmask while not cleared), and delivers again" \
    || fail "pending line at connect: waits exit $status0 and $status, trigger exit $status2"

expect_wait "wait edu MSI" 0000:00:03.0
expect_wait "wait edu INTx" 0000:00:03.0 --line-based
# While MSI is enabled (a wait holds edu's), sysfs irq is the MSI's IRQ: list says so and
# assigns no line from it; once MSI is off again, the IRQ is the line.
$IRQ wait 0000:00:03.0 --timeout 60 > /dev/null 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
during=$($IRQ list 0000:00:03.0 --json); detail=$($IRQ list 0000:00:03.0); table=$($IRQ list)
$IRQ trigger 0000:00:03.0 > /dev/null 2>&1
wait $pid
after=$($IRQ list 0000:00:03.0 --json)
echo "$during" | grep -q '"irqIsMSI" : true' && echo "$detail" | grep -q "IRQ [0-9]* (the MSI's" && echo "$after" | grep -q '"irqIsMSI" : false' \
    && echo "$table" | awk '$1 == "0000:00:03.0" { print $4 }' | grep -qx "[0-9]*^" && echo "$table" | grep -q "^^ IRQ of the first MSI" \
    && pass "list of edu while its MSI is on: the IRQ is said to be the MSI's, and the line's again after" \
    || fail "list while MSI is on: $(echo "$during" | grep irq) / $(echo "$after" | grep irq)"
expect_wait "wait ivshmem-doorbell MSI-X" 0000:00:05.0
expect_wait "wait e1000e MSI-X" 0000:00:07.0

# A relayed request the holder cannot carry out is refused by it, and trigger says so (exit 2).
$IRQ wait 0000:00:03.0 --count 1 --timeout 30 > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
relay=$($IRQ trigger 0000:00:03.0 --vector 5 2>&1); status=$?
$IRQ trigger 0000:00:03.0 > /dev/null 2>&1
wait $pid
[ $status -eq 2 ] && [ "$(echo "$relay" | wc -l)" -eq 1 ] && echo "$relay" | grep -q "^irqbridge: --vector 5: 0000:00:03.0 has only vector 0 connected" \
    && pass "trigger relayed with a vector the holder lacks: refused by it (exit 2)" || fail "relayed refusal: exit $status: $relay"
expect_wait "wait nvme (loopback)" 0000:00:08.0

# A relayed raise outlasting its holder stops when the holder ends, and trigger says how far
# it got (exit 1), not done; the wait itself still timed out (exit 1). (Bounded either way:
# a trigger that found no holder would raise the 1000 itself, in 10 s.)
$IRQ wait 0000:00:03.0 --count 1000000000 --timeout 5 > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
relay=$($IRQ trigger 0000:00:03.0 --count 1000 --rate 100 2>&1); status=$?
wait $pid; waited=$?
[ $status -eq 1 ] && [ $waited -eq 1 ] && echo "$relay" | grep -qE "^irqbridge: 0000:00:03.0: the process holding it is ending after [0-9]+ of 1000 interrupt\(s\) were raised$" \
    && pass "a relayed raise stops with its holder (trigger exit 1, wait exit 1)" || fail "relayed raise past the holder: trigger exit $status, wait exit $waited: $relay"

$IRQ wait 0000:00:03.0 --timeout 1 > /tmp/wait.out 2>&1; status=$?
[ $status -eq 1 ] && grep -q "timed out after" /tmp/wait.out && pass "wait edu times out (exit 1)" || fail "wait edu timeout: exit $status"
$IRQ wait 0000:00:08.0 --line-based --timeout 1 > /tmp/wait.out 2>&1; status=$?
[ $status -eq 2 ] && grep -q "no acknowledge program" /tmp/wait.out && [ "$(wc -l < /tmp/wait.out)" -eq 1 ] \
    && pass "wait nvme INTx refused without an acknowledge (exit 2)" || { fail "nvme INTx refusal: exit $status"; cat /tmp/wait.out; }

# watch: NDJSON per vector per interval when piped; SIGINT disconnects and prints a summary
# whose counts agree with the kernel's.
$IRQ watch 0000:00:03.0 0000:00:05.0 --interval 0.5 > /tmp/watch.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:05.0
$IRQ trigger 0000:00:03.0 --count "$COUNT" > /dev/null && $IRQ trigger 0000:00:05.0 --count "$COUNT" > /dev/null
sleep 2
kill -INT $pid; wait $pid; status=$?
# isrDuration / stimulusToISR: what the dispatch loop recorded since the watch began (the
# percentiles null until something was recorded; trigger requests mark each raise, so edu's
# stimulus count must reach COUNT).
lat='\{"count":[0-9]+,"maxNanoseconds":([0-9]+|null),"p50Nanoseconds":([0-9]+|null),"p99Nanoseconds":([0-9]+|null)\}'
json='^\{"count":[0-9]+,"device":"0000:00:0[35].0","dirql":[0-9]+,"isrDuration":'"$lat"',"kernel":([0-9]+|null),"kernelSeesRaises":true,"kind":"(MSI|MSI-X)","message":[0-9]+,"rate":[0-9.e+-]+,"seconds":[0-9.e+-]+,"stimulusToISR":'"$lat"',"storms":0,"unclaimed":0\}$'
lines=$(grep -c '^{' /tmp/watch.out); good=$(grep -cE "$json" /tmp/watch.out)
timed=$(grep '^{.*"device":"0000:00:03.0"' /tmp/watch.out | tail -1 \
    | grep -cE '"isrDuration":\{"count":[1-9][0-9]*,"maxNanoseconds":[0-9]+,"p50Nanoseconds":[1-9][0-9]*,"p99Nanoseconds":[0-9]+\}.*"stimulusToISR":\{"count":'"$COUNT"',"maxNanoseconds":[0-9]+,"p50Nanoseconds":[1-9][0-9]*,"p99Nanoseconds":[0-9]+\}')
edu=$(grep "^0000:00:03.0 message 0 (MSI, DIRQL [0-9]*): $COUNT interrupt(s), 0 unclaimed, kernel $COUNT, ISR p50/p99 [0-9.]*/[0-9.]* us, stimulus to ISR p50/p99/max [0-9.]*/[0-9.]*/[0-9.]* us\$" /tmp/watch.out)
ivshmem=$(grep "^0000:00:05.0 message" /tmp/watch.out | sed -n 's/.*: \([0-9]*\) interrupt(s), 0 unclaimed, kernel \([0-9]*\).*/\1 \2/p' | awk '$1 == $2 { n += $1 } END { print n + 0 }')
tail -6 /tmp/watch.out | sed 's/^/    /'
if [ $status -eq 0 ] && [ "$lines" -gt 0 ] && [ "$lines" -eq "$good" ] && [ "$timed" -eq 1 ] && [ -n "$edu" ] && [ "$ivshmem" -eq "$COUNT" ]; then
    pass "watch edu MSI + ivshmem MSI-X: $lines NDJSON lines parse, edu's carry ISR and stimulus-to-ISR percentiles ($COUNT timed), summary agrees with the kernel (exit 0 after SIGINT)"
else
    fail "watch: exit $status, $good of $lines NDJSON lines well-formed, edu timings in the last line: $timed, edu summary '${edu}', ivshmem $ivshmem of $COUNT agreeing"
    head -5 /tmp/watch.out
    grep '^{.*"device":"0000:00:03.0"' /tmp/watch.out | tail -1
fi
# selftest --json: one object per case with the stimulus-to-ISR and ISR figures the dispatch
# loop measured, per vector (edu MSI from its registers; nvme MSI-X by loopback: 65 vectors).
$IRQ selftest --device 0000:00:03.0 --kinds msi --count "$COUNT" --json > /tmp/selftest.json 2>&1; status=$?
figures='\{"maxNanoseconds":[0-9]+,"p50Nanoseconds":[1-9][0-9]*,"p99Nanoseconds":[0-9]+\}'
if [ $status -eq 0 ] && grep -qE '^\{"delivered":'"$COUNT"',.*"passed":true,.*"stimulusToISR":'"$figures"',"vectors":\[\{"count":'"$COUNT"',"isrDuration":'"$figures"',"message":0,"stimulusToISR":'"$figures"',"vector":[0-9]+\}\],' /tmp/selftest.json \
    && grep -qx '{"failed":0,"passed":1}' /tmp/selftest.json; then
    pass "selftest --json edu MSI: stimulus-to-ISR and ISR p50/p99/max, per vector ($COUNT timed)"
else
    fail "selftest --json edu MSI: exit $status"; cat /tmp/selftest.json
fi
$IRQ selftest --device 0000:00:08.0 --kinds msix --count "$COUNT" --json > /tmp/selftest.json 2>&1; status=$?
vectors=$(grep -o '"message":[0-9]*,"stimulusToISR":{"maxNanoseconds"' /tmp/selftest.json | wc -l)
expected=$(( COUNT < 65 ? COUNT : 65 ))
[ $status -eq 0 ] && [ "$vectors" -eq "$expected" ] && pass "selftest --json nvme MSI-X (loopback): stimulus-to-ISR for each of $vectors vectors raised" \
    || { fail "selftest --json nvme MSI-X: exit $status, $vectors vectors with figures, $expected expected"; head -c 600 /tmp/selftest.json; }
$IRQ watch 0000:00:08.0 --line-based > /tmp/watch.out 2>&1; status=$?
[ $status -eq 2 ] && grep -q "no acknowledge program" /tmp/watch.out && pass "watch nvme INTx refused (exit 2)" || fail "watch nvme INTx: exit $status"

# An acknowledge that claims without clearing edu's status: edu keeps its line asserted,
# VFIO signals it again at every unmask with no new interrupt, and wait says the ISR does
# not quiet the device. (The next session's quiesce, edu's own profile's, clears it.)
cat > /tmp/noack.yaml <<'NOACK'
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
$IRQ wait 0000:00:03.0 --line-based --count 1000 --timeout 30 --profile /tmp/noack.yaml > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ trigger 0000:00:03.0 > /dev/null 2>&1
wait $pid; status=$?
sed 's/^/    /' /tmp/wait.out
[ $status -eq 0 ] && grep -qE "^vector 0: [0-9]+ interrupt\(s\), 0 unclaimed(, kernel [0-9]+)?; warning: the ISR ran [0-9]+ time\(s\) more than the kernel took interrupts on the line" /tmp/wait.out \
    && pass "wait edu INTx with an acknowledge that never clears: the re-signalled line is named" || fail "unquieted line: wait exit $status"

# An acknowledge that tests the wrong bit declines every call: those are re-signals of one raise
# (the cause never cleared), not interrupts it served, so they do not satisfy a wait.
# One raise, re-signalled at every unmask, used to end `wait --count 3` with exit 0.
cat > /tmp/wrongbit.yaml <<'WRONGBIT'
name: edu-tests-the-wrong-bit
match: {vendor: 0x1234, device: 0x11e8}
stimulus:
  interrupts: [intx]
  raise:
    - write: {bar: 0, offset: 0x60, width: 32}
      value: 1
acknowledge:
  - read: {bar: 0, offset: 0x24, width: 32}
    into: status
  - if_zero: status & 0x100
    return: unclaimed
  - return: claimed
quiesce:
  - read: {bar: 0, offset: 0x24, width: 32}
    into: status
  - write: {bar: 0, offset: 0x64, width: 32}
    value: status
WRONGBIT
$IRQ wait 0000:00:03.0 --line-based --count 3 --timeout 4 --profile /tmp/wrongbit.yaml > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ trigger 0000:00:03.0 > /dev/null 2>&1
wait $pid; status=$?
sed 's/^/    /' /tmp/wait.out
[ $status -eq 1 ] && grep -qE "^timed out after 4.0 s: 0 of 3 interrupt\(s\) arrived \([0-9]+ unclaimed call\(s\) on the INTx line left out: the acknowledge declined them\)$" /tmp/wait.out \
    && pass "wait edu INTx whose acknowledge declines every call: the unclaimed calls do not count (exit 1)" || fail "unclaimed calls counted: wait exit $status"

# A profile that raises through VFIO's loopback but acknowledges as edu's does: the ISR runs
# the profile's program, which finds nothing pending after a loopback raise (unclaimed), where
# it used to claim without reading the device. Its quiesce clears what the block above left.
cat > /tmp/loopack.yaml <<'LOOPACK'
name: edu-loopback-with-acknowledge
match: {vendor: 0x1234, device: 0x11e8}
stimulus: {loopback: true}
acknowledge:
  - read: {bar: 0, offset: 0x24, width: 32}
    into: status
  - if_zero: status
    return: unclaimed
  - write: {bar: 0, offset: 0x64, width: 32}
    value: status
  - return: claimed
quiesce:
  - read: {bar: 0, offset: 0x24, width: 32}
    into: status
  - write: {bar: 0, offset: 0x64, width: 32}
    value: status
LOOPACK
$IRQ wait 0000:00:03.0 --line-based --count 20 --timeout 30 --profile /tmp/loopack.yaml > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ trigger 0000:00:03.0 --count 20 > /dev/null 2>&1
wait $pid; status=$?
sed 's/^/    /' /tmp/wait.out
[ $status -eq 0 ] && grep -q "^vector 0: 20 interrupt(s), 20 unclaimed" /tmp/wait.out \
    && pass "wait edu INTx raised by loopback with the profile's acknowledge: the ISR runs it (20 unclaimed)" \
    || fail "loopback with an acknowledge: wait exit $status"
# The same raised by trigger itself: each raise is served once the ISR ran (no claim to wait
# for), and no claims are expected of loopback raises, so it exits 0, quickly.
start=$(cut -d' ' -f1 /proc/uptime)
$IRQ trigger 0000:00:03.0 --line-based --count 20 --profile /tmp/loopack.yaml > /tmp/trigger.out 2>&1; status=$?
took=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
sed 's/^/    /' /tmp/trigger.out
[ $status -eq 0 ] && grep -q "the ISR ran 20 times, claimed 0" /tmp/trigger.out && awk -v t="$took" 'BEGIN { exit !(t < 15) }' \
    && pass "trigger edu INTx by loopback with the profile's acknowledge: exit 0, 20 calls, 0 claimed ($took s)" \
    || fail "trigger with a loopback profile's acknowledge: exit $status in $took s"

# A malformed profile: each kind of mistake, one line, exit 2, naming file:line.
bad() {
    label=$1 expected=$2
    cat > /tmp/bad.yaml
    $IRQ selftest --device 0000:00:03.0 --count 1 --profile /tmp/bad.yaml > /tmp/bad.out 2> /tmp/bad.err; status=$?
    if [ $status -eq 2 ] && [ "$(wc -l < /tmp/bad.err)" -eq 1 ] && grep -q "/tmp/bad.yaml:[0-9]*:[0-9]*: .*$expected" /tmp/bad.err; then
        pass "malformed profile, $label: $(cat /tmp/bad.err)"
    else
        fail "malformed profile, $label: exit $status"; cat /tmp/bad.err
    fi
}
bad "unknown BAR" "no BAR 3" <<'YAML'
name: bad
match: {vendor: 0x1234, device: 0x11e8}
acknowledge:
  - read: {bar: 3, offset: 0x24, width: 32}
    into: status
YAML
bad "offset past the BAR" "past the end of BAR 0" <<'YAML'
name: bad
match: {vendor: 0x1234, device: 0x11e8}
acknowledge:
  - read: {bar: 0, offset: 0x100000, width: 32}
    into: status
YAML
bad "bad width" "width" <<'YAML'
name: bad
match: {vendor: 0x1234, device: 0x11e8}
acknowledge:
  - read: {bar: 0, offset: 0x24, width: 24}
    into: status
YAML
bad "unknown key" "unknown" <<'YAML'
name: bad
match: {vendor: 0x1234, device: 0x11e8}
acknowlege:
  - return: claimed
YAML
bad "bad YAML" "" <<'YAML'
name: bad
match: {vendor: 0x1234, device: 0x11e8
acknowledge: [
YAML

# A device with no interrupt at all (pci-testdev): every verb says so, one line, exit 2.
for verb in "selftest --device" trigger "wait --timeout 1" watch; do
    $IRQ $verb 0000:00:0c.0 > /tmp/none.out 2>&1; status=$?
    [ $status -eq 2 ] && [ "$(wc -l < /tmp/none.out)" -eq 1 ] && grep -q "^irqbridge: 0000:00:0c.0 has no interrupts" /tmp/none.out \
        && pass "$verb on a device without interrupts: refused (exit 2)" || { fail "$verb on pci-testdev: exit $status"; cat /tmp/none.out; }
done
# A kind the device lacks is refused before anything is opened.
$IRQ selftest --device 0000:00:08.0 --kinds msi > /tmp/kinds.out 2>&1; status=$?
[ $status -eq 2 ] && grep -q "^irqbridge: --kinds: 0000:00:08.0 has no MSI" /tmp/kinds.out \
    && pass "selftest --kinds msi on nvme (MSI-X only): refused (exit 2)" || { fail "selftest --kinds msi on nvme: exit $status"; cat /tmp/kinds.out; }

# A device held by a wait: another verb is told who holds it (exit 2), not EBUSY.
$IRQ wait 0000:00:03.0 --timeout 30 > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ selftest --device 0000:00:03.0 --count 1 > /tmp/busy.out 2>&1; status=$?
$IRQ trigger 0000:00:03.0 > /dev/null 2>&1
wait $pid
[ $status -eq 2 ] && [ "$(wc -l < /tmp/busy.out)" -eq 1 ] && grep -q "in use by another process: an irqbridge wait or watch holds it" /tmp/busy.out \
    && pass "selftest on a device a wait holds: names the holder (exit 2)" || { fail "selftest on a held device: exit $status"; cat /tmp/busy.out; }

# Signals: a wait ended by SIGTERM gives the device and its trigger socket up, then dies of the
# signal (143); trigger --loopback on the held device is told the holder cannot relay it.
$IRQ wait 0000:00:03.0 --timeout 30 > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ trigger 0000:00:03.0 --loopback > /tmp/loop.out 2>&1; lstatus=$?
kill -TERM $pid; wait $pid; status=$?
[ $lstatus -eq 2 ] && [ "$(wc -l < /tmp/loop.out)" -eq 1 ] && grep -q "drop --loopback" /tmp/loop.out \
    && pass "trigger --loopback on a held device: the holder cannot relay it (exit 2)" || { fail "trigger --loopback on a held device: exit $lstatus"; cat /tmp/loop.out; }
[ $status -eq 143 ] && [ ! -e /run/irqbridge/0000:00:03.0.trigger ] && pass "wait ended by SIGTERM: exit 143, trigger socket gone" \
    || { fail "wait ended by SIGTERM: exit $status"; ls -l /run/irqbridge; }
# SIGHUP (a closed terminal, a dropped ssh session) ends a wait as SIGTERM does, cleaned up
# (129); one started under nohup (SIGHUP ignored) is not ended by it.
$IRQ wait 0000:00:03.0 --timeout 30 > /tmp/wait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:03.0
kill -HUP $pid; wait $pid; status=$?
[ $status -eq 129 ] && [ ! -e /run/irqbridge/0000:00:03.0.trigger ] && pass "wait ended by SIGHUP: exit 129, trigger socket gone" \
    || { fail "wait ended by SIGHUP: exit $status"; cat /tmp/wait.out; ls -l /run/irqbridge; }
( trap '' HUP; exec $IRQ wait 0000:00:03.0 --count 1 --timeout 30 > /tmp/wait.out 2>&1 ) &
pid=$!
await_trigger_socket 0000:00:03.0
kill -HUP $pid; sleep 0.5
kill -0 $pid 2>/dev/null; alive=$?
$IRQ trigger 0000:00:03.0 > /tmp/hup-trigger.out 2>&1
wait $pid; status=$?
[ $alive -eq 0 ] && [ $status -eq 0 ] && pass "wait under nohup: SIGHUP ignored, the wait ends when its interrupt arrives (exit 0)" \
    || { fail "wait under nohup: alive after SIGHUP $alive, exit $status"; cat /tmp/wait.out /tmp/hup-trigger.out; }
# watch --json: standard output is JSON only (the summary goes to stderr); a reader that goes
# away ends it with SIGPIPE (141) after its socket is gone.
$IRQ watch 0000:00:03.0 --json --interval 0.2 > /tmp/wjson.out 2> /tmp/wjson.err &
pid=$!
await_trigger_socket 0000:00:03.0
sleep 0.5; kill -INT $pid; wait $pid; status=$?
[ $status -eq 0 ] && [ -s /tmp/wjson.out ] && ! grep -qv '^{.*}$' /tmp/wjson.out && grep -q "^watched " /tmp/wjson.err \
    && pass "watch --json: $(wc -l < /tmp/wjson.out) JSON line(s) on stdout and nothing else, the summary on stderr" \
    || { fail "watch --json: exit $status"; grep -v '^{' /tmp/wjson.out | head -3; }
# watch --duration: a script's watch ends by itself with the summary (exit 0), socket gone.
start=$(cut -d' ' -f1 /proc/uptime)
timeout -s KILL 30 $IRQ watch 0000:00:03.0 --duration 2 --interval 0.5 > /tmp/wdur.out 2>&1; status=$?
took=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%d", (b - a) * 1000 }')
[ $status -eq 0 ] && grep -q "^watched " /tmp/wdur.out && [ $took -ge 2000 ] && [ $took -lt 20000 ] \
    && [ ! -e /run/irqbridge/0000:00:03.0.trigger ] \
    && pass "watch --duration 2: ends by itself after $took ms with the summary (exit 0), trigger socket gone" \
    || { fail "watch --duration 2: exit $status after $took ms"; tail -3 /tmp/wdur.out; }
# A long trigger started in a script's background (SIGINT ignored, the shell's rule for such
# jobs) stops on kill -INT: it reports what it raised, gives the device up quiesced, and ends
# as on Ctrl-C (130); the next trigger on the line finds nothing left pending (5 of 5 claimed).
$IRQ trigger 0000:00:03.0 --line-based --count 100000 --rate 50 > /tmp/tint.out 2>&1 &
pid=$!
sleep 3; kill -INT $pid
tries=0
while kill -0 $pid 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
alive=no; kill -0 $pid 2>/dev/null && { alive=yes; kill -9 $pid; }
wait $pid; status=$?
$IRQ trigger 0000:00:03.0 --line-based --count 5 > /tmp/tnext.out 2>&1; next=$?
[ $alive = no ] && [ $status -eq 130 ] && grep -q "^raised [0-9]* of 100000 (interrupted) on 0000:00:03.0 " /tmp/tint.out && [ $next -eq 0 ] \
    && pass "trigger in a script's background: kill -INT stops it with what it raised (130), the next trigger opens the device" \
    || { fail "trigger after kill -INT: still running $alive, exit $status, next trigger $next"; cat /tmp/tint.out /tmp/tnext.out; }
# watch --json ending (--duration) before its next interval: what arrived since the last
# sample is in a closing JSON line, not only in the summary on stderr (a script reads stdout).
$IRQ watch 0000:00:03.0 --json --duration 6 --interval 60 > /tmp/wlast.out 2> /tmp/wlast.err &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ trigger 0000:00:03.0 --count 5 > /dev/null 2>&1; tstatus=$?
wait $pid; status=$?
[ $status -eq 0 ] && [ $tstatus -eq 0 ] && tail -n 1 /tmp/wlast.out | grep -q '^{"count":5,"device":"0000:00:03.0",' \
    && grep -q "^0000:00:03.0 message 0 .*: 5 interrupt(s)" /tmp/wlast.err \
    && pass "watch --json --duration shorter than --interval: the final counts are a JSON line (5, as the summary says)" \
    || { fail "watch --json's last interval: exit $status, trigger $tstatus, stdout '$(tail -n 1 /tmp/wlast.out | cut -c1-80)'"; cat /tmp/wlast.err; }
# watch --storm: the daemon's storm keys on the command line. A rate rule of 10 a minute,
# held for good (never), contains edu's MSI in two bursts of 20 raised at --rate (not
# waiting for each delivery). The first pass only starts the rule's clock (its signals,
# however many coalesced into it, are not counted), so the second burst is what trips it,
# even if each burst is drained in one pass: one storm, fewer than 40 ISR calls, and the
# summary says so.
$IRQ watch 0000:00:03.0 --json --duration 8 --interval 60 --storm rate-limit=10 --storm rate-window-ms=60000 \
    --storm rearm-after-ms=never > /tmp/wstorm.out 2> /tmp/wstorm.err &
pid=$!
await_trigger_socket 0000:00:03.0
$IRQ trigger 0000:00:03.0 --count 20 --rate 2000 > /tmp/tstorm.out 2>&1; tstatus=$?
sleep 0.5
$IRQ trigger 0000:00:03.0 --count 20 --rate 2000 >> /tmp/tstorm.out 2>&1 || tstatus=$?
wait $pid; status=$?
calls=$(tail -n 1 /tmp/wstorm.out | sed -n 's/^{"count":\([0-9]*\),.*"storms":1,.*/\1/p')
[ $status -eq 0 ] && [ $tstatus -eq 0 ] && [ -n "$calls" ] && [ "$calls" -ge 1 ] && [ "$calls" -lt 40 ] \
    && grep -q "^0000:00:03.0 message 0 .*, 1 storm(s) contained" /tmp/wstorm.err \
    && pass "watch --storm rate-limit=10 ... rearm-after-ms=never: edu's MSI contained once in two bursts of 20 ($calls ISR calls)" \
    || { fail "watch --storm: exit $status, trigger $tstatus, calls '$calls'"; tail -n 1 /tmp/wstorm.out; cat /tmp/wstorm.err /tmp/tstorm.out; }
( $IRQ watch 0000:00:03.0 --json --interval 0.1 2> /dev/null; echo "status $?" > /tmp/wpipe.status ) | head -n 1 > /dev/null
sleep 1
[ "$(cat /tmp/wpipe.status)" = "status 141" ] && [ ! -e /run/irqbridge/0000:00:03.0.trigger ] \
    && pass "watch --json | head -n 1: SIGPIPE ends it (141), trigger socket gone" \
    || { fail "watch into a closed pipe: $(cat /tmp/wpipe.status)"; ls -l /run/irqbridge; }

# A device unbound while a wait holds it: the wait ends at once (exit 2), its trigger socket
# goes with it, and a trigger after the device is bound again reaches the device itself.
$IRQ bind 0000:00:04.0 > /dev/null
$IRQ wait 0000:00:04.0 --timeout 60 > /tmp/wait.out 2> /tmp/wait.err &
pid=$!
await_trigger_socket 0000:00:04.0
start=$(date +%s)
$IRQ unbind 0000:00:04.0 > /dev/null 2>&1
wait $pid; status=$?
took=$(( $(date +%s) - start ))
[ $status -eq 2 ] && [ $took -lt 20 ] && [ "$(wc -l < /tmp/wait.err)" -eq 1 ] \
    && grep -q "^irqbridge: 0000:00:04.0 was removed or unbound while waiting" /tmp/wait.err && [ ! -e /run/irqbridge/0000:00:04.0.trigger ] \
    && pass "wait on a device unbound meanwhile: ends in ${took} s (exit 2, one line on stderr), socket gone" \
    || { fail "wait on an unbound device: exit $status after ${took} s"; cat /tmp/wait.out /tmp/wait.err; }
# watch of one device unbound meanwhile: the summary, then one line naming it (exit 1).
$IRQ bind 0000:00:04.0 > /dev/null
$IRQ watch 0000:00:04.0 --interval 0.5 > /tmp/watch.out 2> /tmp/watch.err &
pid=$!
await_trigger_socket 0000:00:04.0
$IRQ unbind 0000:00:04.0 > /dev/null 2>&1
wait $pid; status=$?
[ $status -eq 1 ] && [ "$(cat /tmp/watch.err)" = "irqbridge: 0000:00:04.0 was removed or unbound; nothing left to watch" ] \
    && pass "watch of a device unbound meanwhile: one line naming it (exit 1)" || { fail "watch of an unbound device: exit $status"; cat /tmp/watch.err; }
$IRQ bind 0000:00:04.0 > /dev/null
out=$($IRQ trigger 0000:00:04.0 --count 5 2>&1); status=$?
$IRQ list 0000:00:04.0 | grep -q "(firmware's value" && fail "list 00:04.0: still the firmware note after VFIO opened it"
$IRQ unbind 0000:00:04.0 > /dev/null
[ $status -eq 0 ] && echo "$out" | grep -q "^raised 5 on 0000:00:04.0" && pass "trigger after the rebind reaches the device itself" \
    || fail "trigger after the rebind: exit $status: $out"

# An MSI-X-only card (ivshmem-doorbell) under uio_pci_generic: bind says its interrupts do not
# reach user space that way, wait refuses naming vfio-pci, and unbind gives it back to vfio-pci.
out=$($IRQ bind 0000:00:05.0 --driver uio_pci_generic --from vfio-pci 2>&1); bound=$?
waited=$($IRQ wait 0000:00:05.0 --timeout 1 2>&1); status=$?
$IRQ unbind 0000:00:05.0 > /dev/null 2>&1
driver=$(basename "$(readlink /sys/bus/pci/devices/0000:00:05.0/driver)")
[ $bound -eq 0 ] && echo "$out" | grep -q "^warning: 0000:00:05.0 has no INTx pin, and uio_pci_generic serves INTx only: its MSI-X (" \
    && [ $status -eq 2 ] && [ "$(echo "$waited" | wc -l)" -eq 1 ] && echo "$waited" | grep -q "^irqbridge: 0000:00:05.0 has no INTx pin" \
    && [ "$driver" = vfio-pci ] && pass "ivshmem (MSI-X only) under uio_pci_generic: bind warns, wait refuses naming vfio-pci (exit 2), unbind restores vfio-pci" \
    || fail "ivshmem under uio_pci_generic: bind exit $bound, wait exit $status, driver $driver: $out / $waited"

# --json on bind, wait, trigger and unbind: one object each, every key present (null when not
# known), for scripts; wait's exit statuses stay 0 (arrived) and 1 (timed out).
bound=$($IRQ bind 0000:00:04.0 --json 2>&1)
$IRQ wait 0000:00:04.0 --count 3 --timeout 30 --json > /tmp/wait.json 2>&1 &
pid=$!
await_trigger_socket 0000:00:04.0
relayed=$($IRQ trigger 0000:00:04.0 --count 3 --json 2>&1)
wait $pid; waited=$?
timedout=$($IRQ wait 0000:00:04.0 --timeout 0.5 --json 2>&1); late=$?
raised=$($IRQ trigger 0000:00:04.0 --count 4 --json 2>&1)
unbound=$($IRQ unbind 0000:00:04.0 --json 2>&1)
echo "    $bound"; echo "    $(cat /tmp/wait.json)"; echo "    $relayed"; echo "    $timedout"; echo "    $raised"; echo "    $unbound"
[ "$bound" = '{"changed":true,"device":"0000:00:04.0","driver":"vfio-pci","previousDriver":null,"warnings":[]}' ] \
    && [ $waited -eq 0 ] && grep -q '^{"arrived":3,"device":"0000:00:04.0","expected":3,"timedOut":false,"timeoutSeconds":30,"vector":null,"vectors":\[{' /tmp/wait.json \
    && echo "$relayed" | grep -q '^{"claimed":null,"device":"0000:00:04.0","folded":null,"kernel":null,"raised":3,"relayed":true,"requested":3,"served":null,"signals":null,"stimulus":"[^"]\{1,\}"}$' \
    && [ $late -eq 1 ] && echo "$timedout" | grep -q '"arrived":0,.*"timedOut":true' \
    && echo "$raised" | grep -q '^{"claimed":4,"device":"0000:00:04.0","folded":false,"kernel":4,"raised":4,"relayed":false,"requested":4,"served":4,"signals":4,' \
    && [ "$unbound" = '{"changed":true,"device":"0000:00:04.0","driver":null,"previousDriver":"vfio-pci"}' ] \
    && pass "--json: bind, wait (0 and 1), trigger (relayed and held), unbind each print one object with every key" \
    || fail "--json of bind/wait/trigger/unbind (see the lines above)"

# A watch of two devices, one of them unbound while watched: the unbind completes (the watch
# lets go of that device's register mappings at once, which vfio-pci's unbind waits for) and
# the watch goes on with the other; every JSON line keeps every key.
$IRQ bind 0000:00:04.0 > /dev/null
$IRQ watch 0000:00:04.0 0000:00:05.0 --json --interval 0.3 > /tmp/w2.out 2> /tmp/w2.err &
pid=$!
await_trigger_socket 0000:00:05.0
sleep 1
start=$(date +%s)
$IRQ unbind 0000:00:04.0 > /tmp/unbind.out 2>&1 &
unbinder=$!
tries=0
while kill -0 $unbinder 2>/dev/null && [ $tries -lt 200 ]; do sleep 0.1; tries=$((tries + 1)); done
took=$(( $(date +%s) - start ))
hung=no; kill -0 $unbinder 2>/dev/null && hung=yes
sleep 1
alive=no; kill -0 $pid 2>/dev/null && alive=yes
$IRQ trigger 0000:00:05.0 --count 3 > /tmp/t2.out 2>&1; triggered=$?
kill -INT $pid; wait $pid; status=$?
if [ $hung = yes ]; then kill -9 $unbinder 2>/dev/null; fi
wait $unbinder; unbound=$?
nokernel=$(grep '^{' /tmp/w2.out | grep -vc '"kernel":')
[ $hung = no ] && [ $unbound -eq 0 ] && [ $alive = yes ] && [ $triggered -eq 0 ] && [ $status -eq 0 ] && [ "$nokernel" -eq 0 ] \
    && grep -q "0000:00:04.0 was removed or unbound; no longer watched" /tmp/w2.err \
    && pass "watch of two devices: unbinding one completes (${took} s), the watch goes on with the other, every JSON line has every key" \
    || { fail "watch of two, one unbound: unbind hung $hung (exit $unbound, ${took} s), watch alive $alive, trigger exit $triggered, watch exit $status, $nokernel line(s) without kernel"; head -5 /tmp/unbind.out /tmp/w2.err; }

# Under uio_pci_generic, a wait whose device is unbound ends at once with exit 2 (the UIO
# read fails EIO, a removal, as VFIO's device request is), its trigger socket gone.
$IRQ bind 0000:00:04.0 --driver uio_pci_generic > /dev/null 2>&1
$IRQ wait 0000:00:04.0 --timeout 60 > /tmp/uwait.out 2>&1 &
pid=$!
await_trigger_socket 0000:00:04.0
$IRQ unbind 0000:00:04.0 > /dev/null 2>&1
tries=0
while kill -0 $pid 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
alive=no; kill -0 $pid 2>/dev/null && { alive=yes; kill -INT $pid; }
wait $pid; status=$?
[ $alive = no ] && [ $status -eq 2 ] && [ ! -e /run/irqbridge/0000:00:04.0.trigger ] \
    && grep -q "^irqbridge: 0000:00:04.0 was removed or unbound while waiting" /tmp/uwait.out \
    && pass "uio_pci_generic: a wait whose device is unbound ends with exit 2, its trigger socket gone" \
    || { fail "uio wait, device unbound: still running $alive, exit $status"; head -3 /tmp/uwait.out; }

# A card with only I/O ports (QEMU's pci-serial, a 16550A UART, taken from the serial driver):
# its built-in profile raises THR-empty on INTx and acknowledges through in/out, under
# vfio-pci (VFIO's region) and uio_pci_generic (sysfs resourceN); unbind gives it back.
S=0000:00:0d.0
bound=$($IRQ bind $S --driver vfio-pci --from serial 2>&1)
out=$($IRQ trigger $S --count $COUNT 2>&1); status=$?
echo "    $out"
[ $status -eq 0 ] && echo "$out" | grep -q "through pci-serial device register writes (BAR 0): the ISR ran $COUNT times, claimed $COUNT, $COUNT signal(s); the kernel counted $COUNT\$" \
    && pass "pci-serial (I/O ports only) under vfio-pci: trigger raised and acknowledged $COUNT on INTx through VFIO's region" \
    || fail "pci-serial under vfio-pci: bind '$bound', trigger exit $status"
$IRQ wait $S --count 20 --timeout 60 > /tmp/swait.out 2>&1 &
pid=$!
await_trigger_socket "$S"
relay=$($IRQ trigger $S --count 20 2>&1)
wait $pid; status=$?
[ $status -eq 0 ] && grep -q "^vector 0: 20 interrupt(s), 0 unclaimed, kernel 20$" /tmp/swait.out \
    && pass "pci-serial: wait counts 20 relayed raises, as the kernel did ($relay)" || { fail "pci-serial wait: exit $status"; cat /tmp/swait.out; }
# Watched beside edu and unbound: its profile reaches ports through VFIO's region, which holds
# the device file; the watch lets go of it at once, so the unbind completes (under 10 s).
$IRQ watch $S 0000:00:03.0 --interval 0.3 > /tmp/sw.out 2> /tmp/sw.err &
pid=$!
await_trigger_socket "$S"
sleep 1
$IRQ unbind $S > /tmp/sunbind.out 2>&1 &
unbinder=$!
tries=0
while kill -0 $unbinder 2>/dev/null && [ $tries -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
hung=no; kill -0 $unbinder 2>/dev/null && hung=yes
alive=no; kill -0 $pid 2>/dev/null && alive=yes
kill -INT $pid; wait $pid
if [ $hung = yes ]; then kill -9 $unbinder 2>/dev/null; fi
wait $unbinder; unbound=$?
[ $hung = no ] && [ $unbound -eq 0 ] && [ $alive = yes ] && grep -q "$S was removed or unbound; no longer watched" /tmp/sw.err \
    && pass "pci-serial watched beside edu and unbound: the unbind completes ($(cat /tmp/sunbind.out)), the watch goes on" \
    || { fail "pci-serial unbound under a watch: hung $hung (exit $unbound), watch alive $alive"; head -3 /tmp/sunbind.out /tmp/sw.err; }
$IRQ bind $S --driver vfio-pci --from serial > /dev/null 2>&1
$IRQ bind $S --driver uio_pci_generic --from vfio-pci > /dev/null 2>&1
out=$($IRQ selftest --device $S --count $COUNT 2>&1); status=$?
echo "$out" | sed 's/^/    /'
[ $status -eq 0 ] && echo "$out" | grep -q "^UIO INTx $S: $COUNT/$COUNT interrupts reached the ISR,.*kernel counted $COUNT: ok$" \
    && pass "pci-serial under uio_pci_generic: selftest $COUNT of $COUNT through sysfs resource0, as the kernel counted" \
    || fail "pci-serial under uio_pci_generic: selftest exit $status"
out=$($IRQ unbind $S 2>&1); status=$?
[ $status -eq 0 ] && [ "$(basename "$(readlink /sys/bus/pci/devices/$S/driver)")" = serial ] \
    && pass "pci-serial: unbind gives it back to serial ($out)" || fail "pci-serial unbind: exit $status, $out"
# Unbound again (a script's EXIT trap after its own unbind): nothing of irqbridge's is left to
# give back, a no-op with status 0, as for a card on no driver (it was status 2 on serial).
out=$($IRQ unbind $S --json 2>&1); status=$?
[ $status -eq 0 ] && [ "$out" = "{\"changed\":false,\"device\":\"$S\",\"driver\":\"serial\",\"previousDriver\":\"serial\"}" ] \
    && [ "$(basename "$(readlink /sys/bus/pci/devices/$S/driver)")" = serial ] \
    && pass "pci-serial: unbind again is a no-op (exit 0, $out)" || fail "pci-serial unbind again: exit $status, $out"
# `list --watch` names the driver each uevent names, and an unbind names none. Read after
# the card has moved on (the watcher stopped meanwhile), libudev's driver lookup fell back
# to the sysfs link and printed the unbind from serial as "(vfio-pci)", the driver that
# took it next (seen with i6300esb, whose driver is "i6300ESB timer").
$IRQ list --watch --json > /tmp/lw.out 2>&1 &
pid=$!
sleep 3
kill -STOP $pid
$IRQ bind $S --driver vfio-pci --from serial > /dev/null 2>&1
$IRQ unbind $S > /dev/null 2>&1
kill -CONT $pid
sleep 2
kill -INT $pid; wait $pid
events=$(grep "\"address\":\"$S\"" /tmp/lw.out | sed 's/.*"action":"\([a-z]*\)".*"driver":\([^,}]*\).*/\1 \2/' | tr '\n' ' ')
[ "$events" = 'unbind null bind "vfio-pci" unbind null bind "serial" ' ] \
    && pass "list --watch: the unbind events of pci-serial name no driver, the binds vfio-pci then serial" \
    || { fail "list --watch events of $S: '$events'"; tail -5 /tmp/lw.out; }

# A card with many vectors (virtio-rng-pci with 200 MSI-X vectors, added with --qemu-device):
# a watch samples every --interval from its baseline on (a per-vector scan of /proc/interrupts
# once made each sample take seconds and a short --duration print nothing), and wait names the
# loopback raises the kernel never counts.
V=
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor")" = 0x1af4 ] && { [ "$(cat "$d/device")" = 0x1005 ] || [ "$(cat "$d/device")" = 0x1044 ]; } && V=${d##*/}
done
if [ -z "$V" ]; then
    fail "no virtio-rng-pci in the rig (bringup.sh adds one)"
else
    $IRQ bind "$V" --driver vfio-pci --force > /dev/null 2>&1
    timeout 60 $IRQ watch "$V" --duration 7 --interval 2 --json > /tmp/vw.json 2> /tmp/vw.err; status=$?
    rows=$(grep -c '"message"' /tmp/vw.json)
    samples=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' /tmp/vw.json | sort -u | wc -l)
    [ $status -eq 0 ] && [ "$rows" -ge 600 ] && [ "$samples" -ge 3 ] \
        && pass "virtio-rng with 200 vectors: watch --duration 7 --interval 2 gave $samples samples of $((rows / samples)) rows (at $(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' /tmp/vw.json | sort -u | cut -c1-4 | tr '\n' ' ')s)" \
        || { fail "virtio-rng watch: exit $status, $rows rows in $samples samples"; head -3 /tmp/vw.err; }
    $IRQ wait "$V" --count 3 --timeout 60 > /tmp/vwait.out 2>&1 &
    pid=$!
    await_trigger_socket "$V"
    $IRQ trigger "$V" --vector 199 --count 3 > /dev/null 2>&1
    wait $pid; status=$?
    [ $status -eq 0 ] && grep -q "^vector 199: 3 interrupt(s), 0 unclaimed, kernel 0 (trigger raised through VFIO's loopback" /tmp/vwait.out \
        && pass "virtio-rng: wait on vector 199 names the loopback raises beside the kernel's 0" \
        || { fail "virtio-rng wait: exit $status"; sed 's/^/    /' /tmp/vwait.out; }
    $IRQ unbind "$V" > /dev/null 2>&1
fi

# A trigger relayed to a watch: the watch goes on printing every --interval while it raises (a
# request at a low --rate can last hours), and a trigger interrupted by Ctrl-C stops the raising
# at once (nobody is left to raise for); then a wait serving a trigger ends at once on SIGTERM.
D=0000:00:05.0
total() { grep '^{' "$1" | tail -n 4 | sed 's/.*"count":\([0-9]*\),"device".*/\1/' | awk '{s += $1} END {print s + 0}'; }
$IRQ watch $D --json --interval 0.5 --duration 14 > /tmp/rw.out 2> /tmp/rw.err &
pid=$!
await_trigger_socket "$D"
sleep 1
$IRQ trigger $D --count 100000 --rate 50 > /tmp/rt.out 2>&1 &
trig=$!
sleep 1
lines1=$(grep -c '^{' /tmp/rw.out)
sleep 3
lines2=$(grep -c '^{' /tmp/rw.out)
kill -INT $trig; wait $trig; tstatus=$?
sleep 1
raised1=$(total /tmp/rw.out)
sleep 3
raised2=$(total /tmp/rw.out)
kill -INT $pid; wait $pid; wstatus=$?
# 3 s of serving at an interval of 0.5 s: about 6 samples of 4 vectors (at least 3 counted).
[ $((lines2 - lines1)) -ge 12 ] && [ $tstatus -eq 130 ] && [ "$raised1" -gt 0 ] && [ "$raised1" -eq "$raised2" ] && [ $wstatus -eq 0 ] \
    && grep -q "a trigger request stopped: $D: the trigger that asked was interrupted after" /tmp/rw.err \
    && pass "watch serving a trigger: $((lines2 - lines1)) JSON lines in 3 s of it; Ctrl-C on the trigger stopped the raising at $raised1" \
    || { fail "watch serving a trigger: $((lines2 - lines1)) lines in 3 s, trigger exit $tstatus, raised $raised1 then $raised2, watch exit $wstatus"; tail -n 3 /tmp/rw.err; }

$IRQ wait $D --count 100000 --timeout 60 > /tmp/rwait.out 2>&1 &
pid=$!
await_trigger_socket "$D"
$IRQ trigger $D --count 1000 --rate 40 > /tmp/rt.out 2>&1 &
trig=$!
sleep 2
start=$(date +%s)
kill -TERM $pid; wait $pid; wstatus=$?
took=$(( $(date +%s) - start ))
wait $trig; tstatus=$?
[ $wstatus -eq 143 ] && [ $took -le 3 ] && [ $tstatus -eq 1 ] && grep -q "the process holding it is ending after" /tmp/rt.out \
    && pass "wait serving a trigger: SIGTERM ends it in ${took} s (exit 143), the trigger says the holder ended (exit 1)" \
    || { fail "wait serving a trigger, SIGTERM: exit $wstatus after ${took} s, trigger exit $tstatus"; cat /tmp/rt.out; }

# A group another member keeps from being viable (the ICH9 SMBus 1f.3 beside the LPC bridge 1f.0
# on lpc_ich): bind warns; every verb refuses it as bad input (exit 2, one line naming the member).
lpc=/lib/modules/$(uname -r)/kernel/drivers/mfd/lpc_ich.ko
if [ -f "$lpc" ] && insmod "$lpc" 2> /dev/null && [ -e /sys/bus/pci/drivers/lpc_ich/0000:00:1f.0 ]; then
    $IRQ bind 0000:00:1f.3 > /dev/null 2>&1
    statuses=
    for verb in "selftest --device 0000:00:1f.3 --count 5" "wait 0000:00:1f.3 --timeout 1" "trigger 0000:00:1f.3 --count 1" "watch 0000:00:1f.3 --duration 1"; do
        out=$($IRQ $verb 2>&1); status=$?
        echo "$out" | grep -q "^irqbridge: IOMMU group [0-9]* of 0000:00:1f.3 is not viable: 0000:00:1f.0 (bound to lpc_ich)" || status="$status(message: $out)"
        statuses="$statuses $status"
    done
    $IRQ unbind 0000:00:1f.3 > /dev/null 2>&1
    [ "$statuses" = " 2 2 2 2" ] && pass "a group kept from being viable by lpc_ich: selftest, wait, trigger and watch refuse it with exit 2" \
        || fail "a group kept from being viable: exit statuses$statuses (selftest, wait, trigger, watch; 2 expected)"
else
    echo "skip: lpc_ich.ko for $(uname -r) not copied into the guest or not loaded (the group check needs it)"
fi

echo "bring-up verbs: $passed passed, $failed failed"
exit $failed
