#!/usr/bin/env bash
# The daemon's control API against its OpenAPI document (docs/control-api.openapi.yaml):
#   1. schemathesis (property-based, from PyPI) over every operation but the endless event
#      stream: no 5xx, every response in the schema (status, content type, body);
#   2. the event stream's NDJSON lines validated against the document's Event schema;
#   3. a caller with another uid is refused: by the socket's mode (0600), and, with the mode
#      opened up, by the peer-credential check (403); on the loopback TCP API, by its
#      socket's owner (403);
#   4. SIGTERM: the daemon exits 0.
# The daemon runs on simulated devices (no VFIO needed), with the API also on loopback TCP.
# Usage: scripts/check-control-api.sh [--irqbridge PATH] [--max-examples N]
set -euo pipefail
cd "$(dirname "$0")/.."
irqbridge="$(swift build --show-bin-path)/irqbridge"
examples=25
while (($#)); do
    case $1 in
        --irqbridge) irqbridge=$2; shift 2 ;;
        --max-examples) examples=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
# Pinned: the versions this check was written against (a new release must not change CI).
command -v schemathesis >/dev/null || python3 -m pip install -q --disable-pip-version-check "schemathesis==4.32.5" "jsonschema==4.26.0"
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

work=$(mktemp -d /tmp/irqbridge-api.XXXXXX)
port=$((20000 + RANDOM % 20000))
socket=$work/run/control.sock
cat > "$work/daemon.yaml" <<YAML
settings:
  socket: $socket
  api: 127.0.0.1:$port
  metrics: off
  state-directory: $work/state
  milestone: 500
simulated:
  sim0: {interrupts: msix, vectors: 4, rate: 200}
  line: {interrupts: intx}
YAML
"$irqbridge" daemon --config "$work/daemon.yaml" >"$work/daemon.log" 2>&1 &
daemon=$!
cleanup() { kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ready=0
for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$port/v1/health" | grep -q '"ready":true' && { ready=1; break; }
    sleep 0.05
done
if ((ready == 0)); then
    # Said here, with the daemon's own words: not as every operation's "connection refused".
    echo "FAIL: the daemon did not answer GET /v1/health with ready:true within 10 s; its log:"
    tail -20 "$work/daemon.log"
    exit 1
fi
failures=0
check() { if "$@"; then echo "PASS: $label"; else echo "FAIL: $label"; failures=$((failures + 1)); fi; }

label="schemathesis: no 5xx and every response in the schema ($examples examples per operation)"
# scripts/control_api_hooks.py: generated waits are cut to 2 s (a wait on a quiet device blocks for its timeout).
check env PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=control_api_hooks \
    schemathesis run docs/control-api.openapi.yaml --url "http://127.0.0.1:$port" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path /v1/events --exclude-path /events --max-examples "$examples" --request-timeout 30 --workers 1 --warnings off --no-color

label="GET /v1/events: NDJSON lines that match the Event schema, sequence increasing by one"
check python3 - "$socket" <<'PY'
import json, socket, sys, yaml, jsonschema
path = sys.argv[1]
spec = yaml.safe_load(open("docs/control-api.openapi.yaml"))
schema = spec["components"]["schemas"]["Event"]
s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(10)
s.sendall(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
def make_events():  # events of our own making: each reset is one counters-reset per device
    import time; time.sleep(0.5)
    for _ in range(6):
        c = socket.socket(socket.AF_UNIX); c.connect(path)
        c.sendall(b"POST /v1/counters/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        while c.recv(65536): pass
        c.close()
import threading; threading.Thread(target=make_events, daemon=True).start()
data = b""
while data.count(b"\n{") < 6:
    data += s.recv(65536)
head, _, body = data.partition(b"\r\n\r\n")
assert b"200" in head.split(b"\r\n")[0] and b"application/x-ndjson" in head.lower(), head
# chunked: keep the JSON lines
lines = [l for l in body.split(b"\r\n") if l.startswith(b"{")]
events = []
for chunk in lines:
    for line in chunk.split(b"\n"):
        if line.strip():
            event = json.loads(line); jsonschema.validate(event, schema); events.append(event)
seqs = [e["sequence"] for e in events]
assert len(seqs) >= 3 and all(b == a + 1 for a, b in zip(seqs, seqs[1:])), seqs
print(f"{len(events)} events, sequences {seqs[0]}..{seqs[-1]}")
PY

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
label="another uid cannot connect to the 0600 socket"
check bash -c "[ \$(stat -c %a '$socket') = 600 ] && ! setpriv --reuid=65534 --regid=65534 --clear-groups curl -s --unix-socket '$socket' http://x/v1/health"
chmod 0666 "$socket"; chmod 0755 "$(dirname "$socket")" "$work"
label="another uid is refused by the peer-credential check (403) when the mode lets it connect"
check bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/stderr -w '%{http_code}' --unix-socket '$socket' http://x/v1/devices 2>/dev/null | grep -qx 403"
label="another uid is refused on the loopback TCP API too (403: its socket's owner in /proc/net/tcp)"
check bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups curl -s -o /dev/stderr -w '%{http_code}' -X POST http://127.0.0.1:$port/v1/devices/line/disconnect 2>/dev/null | grep -qx 403"
label="root is served"
check bash -c "curl -sf --unix-socket '$socket' http://x/v1/devices | grep -q '\"id\":\"sim0\"'"

label="SIGTERM: exit status 0, devices disconnected"
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
check bash -c "[ $status = 0 ] && grep -q 'stopped' '$work/daemon.log'"
((failures == 0)) || { echo "--- daemon log"; tail -30 "$work/daemon.log"; }

label="the DocC example: the daemon's services beside an executable's own ISR, then SIGTERM"
example="$(dirname "$irqbridge")/irqbridge-embedded-example"
if [[ -x $example ]]; then
    printf 'simulated:\n  sim0: {interrupts: msi, vectors: 1, rate: 100}\n' > "$work/embedded.yaml"
    "$example" --config "$work/embedded.yaml" --set socket="$work/embedded.sock" --set metrics=off --set state-directory="$work/estate" \
        >"$work/embedded.log" 2>&1 &
    embedded=$!
    for _ in $(seq 100); do [[ -S $work/embedded.sock ]] && break; sleep 0.05; done
    sleep 0.5
    kill -TERM "$embedded"; estatus=0; wait "$embedded" || estatus=$?
    check bash -c "[ $estatus = 0 ] && grep -q \"my card's ISR claimed [1-9]\" '$work/embedded.log' && grep -q 'sim0 disconnected' '$work/embedded.log'"
else
    echo "FAIL: $label: $example not built"; failures=$((failures + 1))
fi
echo "control API: $failures failure(s)"
((failures == 0))
