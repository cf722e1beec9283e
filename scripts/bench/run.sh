#!/usr/bin/env bash
# Builds irqbridge in release mode and runs the benchmark suite on this machine:
# the bridge (ISRs on a simulated device through the real runtime), a raw
# eventfd + epoll C program and the peers (DPDK 22.11's interrupt thread and
# per-thread epoll when libdpdk-dev is installed, libdispatch), in the same run,
# printed side by side with the bridge's ratios.
#
# usage: scripts/bench/run.sh [--peers] [irqbridge bench options]
#   --peers   first install what the peers need (libdpdk-dev) and check that the
#             installed DPDK matches CBaselines' mirror of its types (dpdk-abi-check.c)
#   e.g. scripts/bench/run.sh --quick                 (CI smoke, under a minute)
#        scripts/bench/run.sh --peers --busy-poll --load 2 --json bench.json
#        scripts/bench/run.sh --pin 1 --fifo 50       (dispatch thread on CPU 1, SCHED_FIFO 50; root)
#        scripts/bench/run.sh --no-peers              (bridge and C floor only)
# The QEMU round trip (edu MSI/INTx vs raw C VFIO) is scripts/bench/rig-roundtrip.sh;
# instructions per interrupt under callgrind are scripts/bench/callgrind.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [[ ${1:-} == --peers ]]; then
    shift
    if ! dpkg-query -W -f='${Status}' libdpdk-dev 2>/dev/null | grep -q "install ok installed"; then
        echo "run.sh: installing libdpdk-dev (DPDK 22.11) for the DPDK peers" >&2
        sudo_if_needed=()
        ((EUID == 0)) || sudo_if_needed=(sudo)
        "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libdpdk-dev pkg-config >&2
    fi
    cc -fsyntax-only -Wall -Werror $(pkg-config --cflags libdpdk) -ISources/CBaselines/include scripts/bench/dpdk-abi-check.c \
        || { echo "run.sh: the installed DPDK does not match Sources/CBaselines/include/cbl_dpdk_receiver.h" >&2; exit 2; }
fi
swift build -c release --product irqbridge >&2
exec .build/release/irqbridge bench "$@"
