#!/usr/bin/env bash
# The daemon in the rig (one boot): `irqbridge daemon` runs inside the guest for the whole
# test, driven only through `irqbridge ctl` and signals (scripts/rig/guest-daemon.sh):
# counts against /proc/interrupts after `ctl trigger` (edu MSI, edu INTx line-based,
# ivshmem-doorbell MSI-X by vendor:device, e1000e MSI-X taken from the e1000e driver, a
# hot-pluggable edu), `ctl wait` and `ctl trigger` (arrived, timeout, bad requests), SIGHUP
# adding and removing a device (and rejecting a malformed file), the hot-pluggable edu
# removed by QMP while `ctl trigger` raises on it, SIGKILL + restart re-adopting every
# device, SIGTERM giving every device back to the driver it had.
# On the host every line of the guest's two `ctl events` streams is parsed as JSON
# (an object with sequence, time, kind, message; sequence strictly increasing).
# Prints PASS/FAIL per check and the steps' timings; exits non-zero when any check failed.
#
# usage: scripts/rig/daemon.sh [--count N] [--no-build] [-- run.sh options]
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=200
BUILD=1
while (($#)); do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "daemon: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || { echo "daemon: --count must be a positive number, not '$COUNT'" >&2; exit 2; }
start=$(date +%s)
((BUILD)) && swift build --product irqbridge >&2
IRQBRIDGE=$(swift build --show-bin-path)/irqbridge
[[ -x $IRQBRIDGE ]] || { echo "daemon: $IRQBRIDGE is missing (build first)" >&2; exit 1; }
RIG=$PWD/scripts/rig
# The guest loads only the VFIO/UIO modules; e1000e's own driver comes along so the daemon
# can take the device from it and give it back. The rig boots the newest kernel in /boot
# unless run.sh is given --kernel.
kernel=$(for image in /boot/vmlinuz-*; do echo "${image#/boot/vmlinuz-}"; done | sort -V | tail -n1)
args=("$@")
for ((i = 0; i + 1 < ${#args[@]}; i++)); do [[ ${args[i]} == --kernel ]] && kernel=${args[i + 1]}; done
E1000E_KO=$(grep -oE '^[^:]*/e1000e\.ko(\.[a-z]+)?' "/lib/modules/$kernel/modules.dep" | head -n1)
[[ -n $E1000E_KO && $E1000E_KO == *.ko ]] || { echo "daemon: no uncompressed e1000e.ko for $kernel" >&2; exit 1; }
E1000E_KO=/lib/modules/$kernel/$E1000E_KO

out=$(mktemp /tmp/irqbridge-daemon.XXXXXX)
trap '((status == 0)) && rm -f "$out" || echo "daemon: the guest output (with the event streams) is kept in $out" >&2' EXIT
status=0
scripts/rig/run.sh --devices edu,edu@04,ivshmem-doorbell:4,e1000e,edu@09,edu@port --timeout 900 \
    --copy "$IRQBRIDGE" --copy "$RIG/guest-daemon.sh" --copy "$E1000E_KO" "$@" \
    -- "$RIG/guest-daemon.sh" "$IRQBRIDGE" "$E1000E_KO" "$COUNT" | tee "$out" | grep -v '^EVENTS[12] ' || status=$?
# (the pipeline's status is run.sh's, or grep's 1 when every line was an event: not possible)

# Every event line as JSON, on the host (the guest has no JSON parser).
python3 - "$out" <<'EOF' || status=$((status + $?))
import json, sys
failed = 0
for stream in ("EVENTS1", "EVENTS2"):
    lines = [l[len(stream) + 1:].rstrip("\n") for l in open(sys.argv[1], encoding="utf-8", errors="replace") if l.startswith(stream + " ")]
    problems, last = [], 0
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except ValueError as error:
            problems.append(f"line {number} is not JSON ({error}): {line[:120]}")
            continue
        missing = [k for k in ("sequence", "time", "kind", "message") if k not in event]
        if not isinstance(event, dict) or missing:
            problems.append(f"line {number} lacks {missing}")
            continue
        if not isinstance(event["sequence"], int) or event["sequence"] <= last:
            problems.append(f"line {number}: sequence {event['sequence']} after {last}")
        last = event["sequence"] if isinstance(event["sequence"], int) else last
    if lines and not problems:
        print(f"PASS {stream.lower()} (host): {len(lines)} NDJSON lines, each a JSON event, sequence strictly increasing")
    else:
        failed += 1
        print(f"FAIL {stream.lower()} (host): {len(lines)} lines; " + "; ".join(problems[:5] or ["no events"]))
sys.exit(failed)
EOF
echo "daemon: exit status $status, wall time $(( $(date +%s) - start )) s" >&2
exit $status
