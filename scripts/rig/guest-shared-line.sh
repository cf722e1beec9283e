#!/bin/sh
# In the integration rig: `irqbridge watch` and `irqbridge wait` on edu 00:03.0's INTx line
# while another irqbridge raises interrupts on edu 00:0b.0, which shares that line (GSI 23)
# and comes and goes in the meantime. /proc/interrupts counts the line, so neither may show
# its count over the span as 00:03.0's own (it read "kernel 20" for a card that took none).
# usage: guest-shared-line.sh IRQBRIDGE   (00:03.0 already on vfio-pci; binds 00:0b.0 and gives it back)
IRQBRIDGE=$1
failed=0
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; failed=$((failed + 1)); fi; }
ready() {  # the holder's trigger socket: it has connected
    tries=0
    while [ ! -S /run/irqbridge/0000:00:03.0.trigger ] && [ $tries -lt 300 ]; do sleep 0.1; tries=$((tries + 1)); done
}
$IRQBRIDGE bind 0000:00:0b.0 --driver vfio-pci > /dev/null || { echo "FAIL binding 00:0b.0"; exit 1; }
out=/tmp/shared-line.$$

# The holder (a watch or a wait on 00:03.0, "$@") in the background and, once it has
# connected, another irqbridge raising 20 on 00:0b.0; then both outputs. $out.holder keeps its.
while_the_other_raises() {
    "$@" > $out.holder 2>&1 &
    holder=$!
    ready
    $IRQBRIDGE trigger 0000:00:0b.0 --line-based --count 20 > $out.trigger 2>&1
    wait $holder
    cat $out.holder $out.trigger
}

while_the_other_raises $IRQBRIDGE watch 0000:00:03.0 --line-based --duration 5
check "watch: no kernel count for 00:03.0, its line shared with 00:0b.0 meanwhile" \
    'grep -q "kernel not counted (IRQ [0-9]* was shared (.*vfio-intx(0000:00:0b.0)" $out.holder'
while_the_other_raises $IRQBRIDGE wait 0000:00:03.0 --line-based --timeout 5
check "wait: no kernel count for 00:03.0, its line shared with 00:0b.0 meanwhile" \
    'grep -q "no kernel count (IRQ [0-9]* was shared (.*vfio-intx(0000:00:0b.0)" $out.holder && ! grep -q "kernel 20" $out.holder'

$IRQBRIDGE unbind 0000:00:0b.0 > /dev/null || { echo "FAIL giving 00:0b.0 back"; failed=$((failed + 1)); }
rm -f $out.*
exit $failed
