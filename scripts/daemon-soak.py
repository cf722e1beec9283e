#!/usr/bin/env python3
"""Soak: the daemon on simulated devices (default 64 devices x 16 MSI-X vectors) with
interrupts at full rate for N minutes, while a client calls every read endpoint in a loop
and the configuration is reloaded every 30 s (a device added, then removed again). At the
end the generators stop (a reload to rate 0, which keeps the connections) and every raised
interrupt must be accounted for: sum(generated) == sum(signals drained), coalescing
included. RSS and open descriptors are sampled every 10 s and must stay flat: after the last
reload (the same devices as at the start) RSS within 10% + 4 MiB of the first sample
after warm-up, and the same number of descriptors.

  scripts/daemon-soak.py [--irqbridge PATH] [--minutes 10] [--devices 64] [--vectors 16] [--rate 5000]
Prints the figures; exit status 0 when nothing was lost and RSS/fds are flat.
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, threading, time

parser = argparse.ArgumentParser()
parser.add_argument("--irqbridge", default=os.path.join(subprocess.run(["swift", "build", "--show-bin-path"], capture_output=True, text=True).stdout.strip() or ".build/debug", "irqbridge"))
parser.add_argument("--minutes", type=float, default=10)
parser.add_argument("--devices", type=int, default=64)
parser.add_argument("--vectors", type=int, default=16)
parser.add_argument("--rate", type=float, default=5000, help="interrupts per second per vector")
args = parser.parse_args()

work = tempfile.mkdtemp(prefix="irqbridge-soak.")
sock = os.path.join(work, "control.sock")
config = os.path.join(work, "daemon.yaml")

def write_config(rate, extra=False):
    lines = ["settings:", f"  socket: {sock}", "  metrics: off", f"  state-directory: {work}/state", "  milestone: 0", "simulated:"]
    for i in range(args.devices):
        lines.append(f"  s{i:02d}: {{interrupts: msix, vectors: {args.vectors}, rate: {rate}}}")
    if extra:
        lines.append("  extra: {interrupts: msi, vectors: 2, rate: 100}")
    with open(config + ".tmp", "w") as f: f.write("\n".join(lines) + "\n")
    os.rename(config + ".tmp", config)

def call(method, path, body=None, timeout=60):
    s = socket.socket(socket.AF_UNIX); s.settimeout(timeout); s.connect(sock)
    payload = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    data = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk: break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0: break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, body

def sample(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"): rss = int(line.split()[1]) * 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))

write_config(args.rate)
log = open(os.path.join(work, "daemon.log"), "w")
daemon = subprocess.Popen([args.irqbridge, "daemon", "--config", config], stdout=log, stderr=log)
for _ in range(600):
    try:
        if json.loads(call("GET", "/v1/health")[1]).get("ready"): break
    except Exception: pass
    time.sleep(0.1)
else:
    sys.exit("the daemon did not become ready")

stop = threading.Event()
requests = {"count": 0, "errors": 0}
def client():
    ids = [f"s{i:02d}" for i in range(args.devices)]
    while not stop.is_set():
        for path in ["/v1/health", "/v1/devices", "/metrics", "/v1/config"] + [f"/v1/devices/{i}/statistics" for i in ids[:8]] + [f"/v1/devices/{ids[requests['count'] % len(ids)]}"]:
            try:
                status, _ = call("GET", path)
                requests["count"] += 1
                if status >= 500: requests["errors"] += 1
            except Exception:
                requests["errors"] += 1
threading.Thread(target=client, daemon=True).start()

samples, reloads = [], 0
start = time.time()
duration = args.minutes * 60
next_reload, next_sample = start + 30, start
while time.time() - start < duration:
    now = time.time()
    if now >= next_sample:
        samples.append((round(now - start), *sample(daemon.pid)))
        next_sample += 10
    if now >= next_reload:
        reloads += 1
        write_config(args.rate, extra=reloads % 2 == 1)
        daemon.send_signal(signal.SIGHUP)
        next_reload += 30
    time.sleep(0.2)
stop.set()
time.sleep(1)
# Stop the generators (the connections stay), let the loop drain, then account.
write_config(0)
daemon.send_signal(signal.SIGHUP)
time.sleep(2)
generated = signals = interrupts = 0
for i in range(args.devices):
    status, body = call("GET", f"/v1/devices/s{i:02d}/statistics")
    stats = json.loads(body)
    generated += stats.get("generated", 0)
    signals += sum(v["signals"] for v in stats["vectors"])
    interrupts += sum(v["interrupts"] for v in stats["vectors"])
elapsed = time.time() - start
final = (round(elapsed), *sample(daemon.pid))  # the configuration the first sample had (no extra device)
daemon.send_signal(signal.SIGTERM)
code = daemon.wait(timeout=60)

warm = [s for s in samples if s[0] >= 30] or samples
rss0, rss1, rssmax = warm[0][1], final[1], max(s[1] for s in warm + [final])
fd0, fd1 = warm[0][2], final[2]
print(f"soak: {args.devices} devices x {args.vectors} vectors, {args.rate:.0f}/s per vector requested, {elapsed/60:.1f} min")
print(f"  generated {generated:,} interrupts, drained {signals:,} signals in {interrupts:,} ISR calls "
      f"({signals/elapsed:,.0f} signals/s, {signals/max(interrupts,1):.1f} per call), lost {generated - signals:,}")
print(f"  client: {requests['count']:,} read calls, {requests['errors']} errors or 5xx; reloads: {reloads}")
print(f"  RSS after warm-up: {rss0/2**20:.1f} MiB -> {rss1/2**20:.1f} MiB (max {rssmax/2**20:.1f}); fds {fd0} -> {fd1}")
print("  samples (s, RSS MiB, fds): " + ", ".join(f"({t}, {r/2**20:.1f}, {n})" for t, r, n in samples))
print(f"  exit status after SIGTERM: {code}")
ok = generated == signals and generated > 0 and requests["errors"] == 0 and rss1 <= rss0 * 1.10 + 4 * 2**20 and fd1 == fd0 and code == 0
print("soak: " + ("PASS" if ok else "FAIL"))
if not ok:
    print(open(os.path.join(work, "daemon.log")).read()[-3000:])
sys.exit(0 if ok else 1)
