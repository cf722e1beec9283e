#!/usr/bin/env bash
# Builds irqbridge in release mode and runs the benchmark suite on this machine:
# the bridge (ISRs on a simulated device through the real runtime) and a raw
# eventfd + epoll C program, in the same run, printed side by side with ratios.
#
# usage: scripts/bench/run.sh [irqbridge bench options]
#   e.g. scripts/bench/run.sh --quick                 (CI smoke, a few seconds)
#        scripts/bench/run.sh --busy-poll --json bench.json
#        scripts/bench/run.sh --pin 1 --fifo 50       (dispatch thread on CPU 1, SCHED_FIFO 50; root)
# The QEMU round trip (edu MSI/INTx vs raw C VFIO) is scripts/bench/rig-roundtrip.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
swift build -c release --product irqbridge >&2
exec .build/release/irqbridge bench "$@"
