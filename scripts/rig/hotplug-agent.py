#!/usr/bin/env python3
"""The host side of `rig-hotplug`: hot-plug requests from inside the rig's guest, done over QMP.

run.sh starts this for a run with hot-pluggable devices (`--devices edu@port`, `--qemu-hotplug SPEC`). The guest's
fourth serial port (/dev/ttyS3) is wired to the FIFOs PORT.out (guest -> host) and PORT.in
(host -> guest). Each request is one line, each answer one line:

    remove NAME   ->  "ok remove NAME MS"   after device_del and QEMU's DEVICE_DELETED event
    add NAME      ->  "ok add NAME MS"      after device_add (the guest then finds the device)
    anything else ->  "error MESSAGE"

NAME is a device id run.sh gave (edu0, edu1, ..., plug0, ... or a --qemu-hotplug id=); --device NAME=SPEC says how to add it
again (QEMU -device syntax, e.g. "edu,id=edu0,bus=rp0,addr=0"). One QMP connection per
request, so `qmp.py` can use the socket between requests. Python 3 stdlib only.
"""

import argparse
import os
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp import QMP, QMPError, QMPTimeout  # noqa: E402


def answer(request, devices, socket_path, timeout):
    words = request.split()
    if len(words) != 2 or words[0] not in ("remove", "add"):
        return "error expected 'remove NAME' or 'add NAME', not " + repr(request)
    verb, name = words
    if name not in devices:
        return f"error no hot-pluggable device {name!r} (known: {', '.join(sorted(devices)) or 'none'})"
    started = time.monotonic()
    try:
        with QMP(socket_path, timeout) as qmp:
            if verb == "remove":
                qmp.device_del(name, timeout)
            else:
                qmp.device_add(devices[name])
    except (QMPError, QMPTimeout, OSError, ValueError) as error:
        return f"error {verb} {name}: {error}"
    return f"ok {verb} {name} {(time.monotonic() - started) * 1000:.0f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qmp", required=True, help="QEMU's QMP socket")
    parser.add_argument("--port", required=True, help="the request port's FIFOs, without .in/.out")
    parser.add_argument("--device", action="append", default=[], metavar="NAME=SPEC")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default 20)")
    parser.add_argument("--log", help="append one line per request here")
    options = parser.parse_args()
    devices = dict(device.split("=", 1) for device in options.device)
    # run.sh ends the agent with SIGTERM. Started under a thread that blocks it (the one that
    # runs a SwiftPM plugin's command does, and a blocked mask is inherited across exec), it
    # stayed pending and run.sh waited for the agent for ever after the guest had finished.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)

    # O_RDWR on both FIFOs: neither open waits for QEMU, and QEMU's own opens never wait for us.
    requests = os.fdopen(os.open(options.port + ".out", os.O_RDWR), "rb", buffering=0)
    answers = os.open(options.port + ".in", os.O_RDWR)
    # The FIFOs never report end of file (this side holds them open for writing too), so an
    # agent whose run.sh went away without killing it notices by its parent changing.
    parent = os.getppid()
    line = b""
    while True:
        readable, _, _ = select.select([requests], [], [], 1.0)
        if not readable:
            if os.getppid() != parent:
                return 0
            continue
        chunk = requests.read(1)
        if not chunk:
            return 0
        if chunk not in (b"\n", b"\r"):
            line += chunk
            continue
        request = line.decode(errors="replace").strip()
        line = b""
        if not request:
            continue
        reply = answer(request, devices, options.qmp, options.timeout)
        os.write(answers, reply.encode() + b"\n")
        if options.log:
            with open(options.log, "a", encoding="utf-8") as log:
                log.write(f"{request} -> {reply}\n")


if __name__ == "__main__":
    sys.exit(main())
