#!/usr/bin/env bash
# The project's whole test suite, from a fresh machine: installs what it needs,
# runs the unit tests, the dispatch tests under Thread Sanitizer, and the
# integration tests inside the QEMU rig (real VFIO/UIO interrupts).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

echo "== unit tests"
swift build --build-tests
swift test --skip-build

echo "== benchmark smoke (irqbridge bench --quick: figures are printed, not asserted; fails only if an interrupt is lost)"
.build/debug/irqbridge bench --quick --busy-poll
