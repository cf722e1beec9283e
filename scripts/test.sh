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
# A stage still running after its time limit (10 minutes; the build's 20) fails with the tests
# it had started and not ended and every thread's backtrace (scripts/time-limit.sh, gdb).
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()
stage_limit=600
stage() {
    local name=$1
    shift
    echo
    echo "=============== $name"
    local start=$SECONDS
    if scripts/time-limit.sh "$stage_limit" "$@"; then
        passed=$((passed + 1))
        echo "=============== $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "=============== $name: FAILED ($((SECONDS - start)) s)"
    fi
}

scripts/bootstrap.sh || { echo "bootstrap failed" >&2; exit 1; }
# gdb: the backtraces of a stage that overran its time limit.
if ! command -v gdb > /dev/null; then
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gdb; } > /dev/null ||
        echo "test.sh: gdb did not install: a stage over its time limit ends without backtraces" >&2
fi

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
stage "dispatch tests under Thread Sanitizer" \
    env INTERRUPTBRIDGE_WITHOUT_DAEMON=1 swift test --sanitize=thread --scratch-path .build-tsan --filter 'Dispatch|InterruptBridgeWDKTests'
stage "leaks: the runtime and WDK suites under LeakSanitizer" scripts/check-leaks.sh --filter 'InterruptBridgeTests|InterruptBridgeWDKTests'
stage "shell completions (bash, zsh, fish)" scripts/check-completions.sh
stage "daemon: control API vs its OpenAPI document (schemathesis), peer credentials, SIGTERM, the embedded example" \
    scripts/check-control-api.sh --irqbridge "$(swift build --show-bin-path)/irqbridge"
stage "list vs lspci (this machine)" python3 scripts/check-list-against-lspci.py --irqbridge "$(swift build --show-bin-path)/irqbridge"
stage "rig: ivshmem server protocol" python3 scripts/rig/tests/test_ivshmem_server.py
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
    echo "failed stages: ${failures[*]}"
fi
echo "stages: $passed passed, $failed failed"
((failed == 0))
