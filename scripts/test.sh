#!/usr/bin/env bash
# The whole test suite, from a fresh machine (run as root; CI runs exactly this):
#   1. installs what it needs (scripts/bootstrap.sh),
#   2. unit tests (simulated backend, fixtures; the rig's integration suites skip themselves here),
#   3. a benchmark smoke run (`irqbridge bench --quick`), then the dispatch-loop tests again under Thread Sanitizer,
#   4. `irqbridge list --json` cross-checked against `lspci -vvv` on this machine and inside the rig,
#   5. real interrupts: the QEMU rig's C probes, then the integration tests and `irqbridge selftest`
#      for VFIO MSI, VFIO INTx, VFIO MSI-X and UIO INTx inside the guest, then the bring-up verbs
#      (trigger, wait, watch, malformed profiles on edu, ivshmem, e1000e, nvme: scripts/rig/bringup.sh),
#      then `irqbridge daemon` in the guest driven through `irqbridge ctl` (counts, wait/trigger, events,
#      SIGHUP, removal by QMP, SIGKILL + re-adoption, SIGTERM giving devices back: scripts/rig/daemon.sh);
#      shell completions are checked on the host. The loopback round trip against the raw C probe
#      (scripts/rig/loopback-latency.sh --release, a timing figure) is measured separately, not in CI.
# Any failing stage fails the run. The last line is a `N passed, N failed` count of the stages.
#
# Each stage's whole output goes to .build/test-logs/NN-STAGE.log; the console gets one line
# as a stage starts and one as it ends, and for a failed stage its failure lines and the end
# of its output (`--verbose` streams every stage's output as well). A stage still running
# after its time limit (10 minutes; 20 for the build, 15 for a sanitizer's build and run)
# fails with the tests it had started and not ended and every thread's backtrace
# (scripts/time-limit.sh, gdb). Past the run's budget (75 minutes, IRQBRIDGE_TEST_BUDGET
# seconds), the stages left are not run, and fail.
set -uo pipefail
cd "$(dirname "$0")/.."

verbose=0
for argument in "$@"; do
    case $argument in
        -v | --verbose) verbose=1 ;;
        *) echo "usage: scripts/test.sh [--verbose]" >&2; exit 2 ;;
    esac
done
budget=${IRQBRIDGE_TEST_BUDGET:-4500}
[[ $budget =~ ^[1-9][0-9]*$ ]] || { echo "test.sh: IRQBRIDGE_TEST_BUDGET must be seconds above 0, not '$budget'" >&2; exit 2; }
logs=.build/test-logs
rm -rf "$logs" && mkdir -p "$logs" || { echo "test.sh: cannot make $logs" >&2; exit 1; }

passed=0
failed=0
failures=()
stages=0
stage_limit=600

# What a failed stage's log says went wrong: its failure lines (Swift Testing's ✘, compiler
# errors, the rig's FAIL), the end of its output, and a time limit's report.
show_failure() {
    local log=$1 output=$1
    if grep -q "^time-limit: still running" "$log"; then
        output=$(mktemp)
        sed '/^time-limit: still running/,$d' "$log" > "$output"
    fi
    echo "--------------- its failures (the whole output: $log)"
    grep -aE "^✘ |error: |^FAIL|^not ok|Traceback|AssertionError" "$output" | cut -c1-400 | head -n 60
    echo "--------------- the end of its output"
    tail -n 40 "$output" | cut -c1-400
    if [[ $output != "$log" ]]; then
        rm -f "$output"
        echo "--------------- over its time limit"
        grep -a "^time-limit: " "$log" | cut -c1-400
        awk '/^time-limit: process/ { shown = 1 } shown' "$log" | grep -av "^time-limit: " | head -n 300
    fi
}

stage() {
    local name=$1
    shift
    stages=$((stages + 1))
    local log
    log=$(printf '%s/%02d-%s.log' "$logs" "$stages" "$(tr -cs 'A-Za-z0-9' '-' <<< "${name%% (*}" | sed 's/^-*//; s/-*$//' | cut -c1-60)")
    echo
    if ((SECONDS >= budget)); then
        failed=$((failed + 1))
        failures+=("$name")
        echo "=============== $name: NOT RUN (the run is past its budget of $budget s)"
        return
    fi
    echo "=============== $name"
    local start=$SECONDS status
    if ((verbose)); then
        scripts/time-limit.sh "$stage_limit" "$@" 2>&1 | tee "$log"
        status=${PIPESTATUS[0]}
    else
        scripts/time-limit.sh "$stage_limit" "$@" > "$log" 2>&1
        status=$?
    fi
    if ((status == 0)); then
        passed=$((passed + 1))
        echo "=============== $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        ((verbose)) || show_failure "$log"
        echo "=============== $name: FAILED ($((SECONDS - start)) s, exit $status)"
    fi
}

echo "=============== set-up (scripts/bootstrap.sh, and gdb for the backtraces of a stage over its time limit)"
{
    scripts/bootstrap.sh &&
        if ! command -v gdb > /dev/null; then
            { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gdb; } ||
                echo "test.sh: gdb did not install: a stage over its time limit ends without backtraces"
        fi
} > "$logs/00-set-up.log" 2>&1 || { tail -n 40 "$logs/00-set-up.log"; echo "test.sh: the set-up failed (its output: $logs/00-set-up.log)" >&2; exit 1; }
echo "=============== set-up: ok ($SECONDS s)"

stage_limit=1200 stage "build" swift build --build-tests
# The runtime's suites check descriptor leaks per owner in any run, and here, where their
# target runs alone and one test at a time (on two cores that is also the faster way), also
# by the whole process's count (INTERRUPTBRIDGE_EXACT_DESCRIPTOR_COUNT); the daemon's suites
# hold sockets and eventfds while they run and get a process of their own as well.
# The test binaries write line by line (stdbuf): a stage over its time limit shows its last lines.
line_by_line=(stdbuf -oL -eL)
stage "runtime unit tests (one at a time: leak checks count the process's descriptors)" \
    "${line_by_line[@]}" env INTERRUPTBRIDGE_EXACT_DESCRIPTOR_COUNT=1 swift test --skip-build --filter InterruptBridgeTests --no-parallel
stage "unit tests (core, WDK facade, bench, tooling)" \
    "${line_by_line[@]}" swift test --skip-build --skip InterruptBridgeTests --skip InterruptBridgeDaemonTests
stage "daemon unit tests (simulated devices, control API over its socket, notify protocol)" \
    "${line_by_line[@]}" swift test --skip-build --filter InterruptBridgeDaemonTests
stage "benchmark smoke (irqbridge bench --quick: figures printed, not asserted; fails only if an interrupt is lost)" \
    "$(swift build --show-bin-path)/irqbridge" bench --quick --busy-poll
# The sanitizer builds leave the daemon and its server stack out (INTERRUPTBRIDGE_WITHOUT_DAEMON,
# see Package.swift): their suites do not touch it, and each build takes half the time.
stage_limit=900 stage "dispatch tests under Thread Sanitizer" \
    env INTERRUPTBRIDGE_WITHOUT_DAEMON=1 swift test --sanitize=thread --scratch-path .build-tsan --filter 'Dispatch|InterruptBridgeWDKTests'
stage_limit=900 stage "leaks: the runtime and WDK suites under LeakSanitizer" scripts/check-leaks.sh --filter 'InterruptBridgeTests|InterruptBridgeWDKTests'
stage "shell completions (bash, zsh, fish)" scripts/check-completions.sh
stage "daemon: control API vs its OpenAPI document (schemathesis), peer credentials, SIGTERM, the embedded example" \
    scripts/check-control-api.sh --irqbridge "$(swift build --show-bin-path)/irqbridge"
stage "list vs lspci: the checker's own parsing" python3 scripts/tests/test_check_list_against_lspci.py
stage "list vs lspci (this machine)" python3 scripts/check-list-against-lspci.py --irqbridge "$(swift build --show-bin-path)/irqbridge"
stage "rig: ivshmem server protocol" python3 scripts/rig/tests/test_ivshmem_server.py
stage "rig: unpacking the kernel for a PVH boot" python3 scripts/rig/tests/test_pvh_kernel.py
stage "rig: run.sh behaviour" scripts/rig/tests/test-run.sh
stage "rig: QMP client and hot-plug agent" python3 scripts/rig/tests/test_qmp.py
stage "rig: raw C probes" scripts/rig/selfcheck.sh
stage "rig: hot-plug (device_del / device_add from inside the guest)" scripts/rig/tests/test-hotplug.sh
stage "list vs lspci (rig)" scripts/check-list-in-rig.sh
stage "rig: integration tests and selftests" scripts/rig/integration.sh --no-build
stage "rig: bring-up verbs (trigger, wait, watch, malformed profiles)" scripts/rig/bringup.sh --no-build
stage "rig: daemon driven through irqbridge ctl" scripts/rig/daemon.sh --no-build
stage "example package in the rig from a fresh clone (Examples/EduDriver, through the rig plugin)" scripts/check-example.sh

echo
if ((failed)); then
    printf 'failed stage: %s\n' "${failures[@]}"
fi
echo "every stage's output: $logs/ ($SECONDS s in all)"
echo "stages: $passed passed, $failed failed"
((failed == 0))
