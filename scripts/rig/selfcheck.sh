#!/usr/bin/env bash
# Proves the QEMU rig independently of the Swift code: boots the default device set
# (edu + ivshmem-doorbell), and runs the static C probes against real VFIO and UIO:
#   edu under vfio-pci:        MSI round trip, INTx round trip with unmask (ioctl, then eventfd),
#                              MSI raised by VFIO's loopback trigger, unacknowledged INTx storm,
#                              and MSI without Bus Master Enable, which must be seen as lost
#   ivshmem-doorbell vfio-pci: every MSI-X vector, on its own eventfd
#   edu under uio_pci_generic: INTx with Command-register re-enable
# Prints one line per case and "N passed, N failed"; exits 0 only when nothing failed.
#
# usage: scripts/rig/selfcheck.sh [--count N] [--vectors N] [run.sh options...]
set -euo pipefail
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
count=2000
vectors=4
run_options=()
while (($#)); do
    case $1 in
        --count) count=$2; shift 2 ;;
        --vectors) vectors=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) run_options+=("$1"); shift ;;
    esac
done
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "selfcheck: --count must be a positive number" >&2; exit 2; }
[[ $vectors =~ ^[1-9][0-9]*$ ]] || { echo "selfcheck: --vectors must be a positive number" >&2; exit 2; }

probes=$("$RIG_DIR/probes/build.sh")
storm=$(( count < 500 ? count : 500 ))
msix_rounds=$(( count / vectors > 0 ? count / vectors : 1 ))

# Runs in the guest. Each case: name, then the probe command; its RESULT lines are shown.
# shellcheck disable=SC2016
guest_script='
passed=0 failed=0
check() {
    name=$1; shift
    output=$("$@" 2>&1); status=$?
    if [ $status -eq 0 ]; then verdict=pass; passed=$((passed + 1)); else verdict=FAIL; failed=$((failed + 1)); fi
    echo "$output" | grep "^RESULT" | sed "s/^RESULT /    /"
    [ $status -eq 0 ] || echo "$output" | grep -v "^RESULT" | sed "s/^/    | /"
    echo "$verdict $name (exit $status)"
}
# check_loss NAME COMMAND...: COMMAND must report lost interrupts (exit 1): proves the probes can fail.
check_loss() {
    name=$1; shift
    output=$("$@" --warmup 0 2>&1); status=$?
    if [ $status -eq 1 ] && echo "$output" | grep -q "^RESULT.* delivered=0 "; then
        verdict=pass; passed=$((passed + 1))
    else
        verdict=FAIL; failed=$((failed + 1)); echo "$output" | sed "s/^/    | /"
    fi
    echo "$verdict $name (exit $status, loss expected)"
}
P='"$probes"'
check "edu vfio-pci MSI round trip" $P/edu-roundtrip --backend vfio --mode msi --count '"$count"'
check "edu vfio-pci INTx round trip + unmask" $P/edu-roundtrip --backend vfio --mode intx --count '"$count"'
check "edu vfio-pci INTx round trip + unmask eventfd" $P/edu-roundtrip --backend vfio --mode intx --unmask eventfd --count '"$count"'
check "edu vfio-pci MSI via VFIO loopback trigger" $P/edu-roundtrip --backend vfio --mode msi --trigger loopback --count '"$count"'
check_loss "edu vfio-pci MSI without Bus Master Enable is dropped and detected" $P/edu-roundtrip --backend vfio --mode msi --no-bus-master --count 10
check "edu vfio-pci INTx storm (never acknowledged) stays controllable" $P/edu-roundtrip --backend vfio --mode storm --count '"$storm"'
check "ivshmem-doorbell vfio-pci MSI-X, each vector" $P/ivshmem-msix --count '"$msix_rounds"' --vectors '"$vectors"'
if rig-bind 0000:00:03.0 uio_pci_generic; then
    check "edu uio_pci_generic INTx + Command re-enable" $P/edu-roundtrip --backend uio --mode intx --count '"$count"'
else
    failed=$((failed + 1)); echo "FAIL edu uio_pci_generic INTx (bind failed)"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
'
start=$(date +%s%N)
set +e
"$RIG_DIR/run.sh" --devices "edu,ivshmem-doorbell:$vectors" --copy "$probes" \
    --bind 0000:00:03.0=vfio-pci --bind 0000:00:05.0=vfio-pci "${run_options[@]}" -- sh -c "$guest_script"
status=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "selfcheck: wall time $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))s (boot, all cases, power-off)" >&2
exit $status
