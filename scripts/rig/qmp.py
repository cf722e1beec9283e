#!/usr/bin/env python3
"""A small QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst), Python 3 stdlib only.

Host side of the rig's hot-plug: removes and adds devices of a running rig guest.

    scripts/rig/qmp.py --socket .rig/run-XXXX/qmp.sock device_del edu0
    scripts/rig/qmp.py --socket SOCK device_add edu,id=edu0,bus=rp0,addr=0
    scripts/rig/qmp.py --socket SOCK execute query-pci

device_del waits for QEMU's DEVICE_DELETED event (the guest has released the device), as
the protocol requires: the command's own reply only says the request was made.
run.sh prints the socket's path with --keep and gives it a fixed place with --qmp-socket.

Exit status: 0 done; 1 QEMU refused (its error is printed); 2 bad usage; 3 timed out;
4 cannot reach QEMU.
"""

import argparse
import json
import socket
import sys
import time


class QMPError(Exception):
    """QEMU answered a command with an error."""


class QMPTimeout(Exception):
    """What was waited for did not come in time."""


class QMP:
    """One QMP session: greeting, capabilities negotiation, then commands and events."""

    def __init__(self, path, connect_timeout=10.0):
        deadline = time.monotonic() + connect_timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                # QEMU not listening yet, or another client holds its one connection.
                self.sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self.buffer = b""
        self.events = []
        greeting = self._read_message(deadline)
        if "QMP" not in greeting:
            raise QMPError(f"not a QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def _read_message(self, deadline):
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPTimeout("no message from QEMU")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise QMPTimeout("no message from QEMU") from None
            if not chunk:
                raise ConnectionError("QEMU closed the QMP connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None, timeout=10.0):
        """Runs a command; returns its "return" value, raises QMPError for its "error"."""
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if "event" in message:
                self.events.append(message)  # kept for wait_event
            elif "error" in message:
                error = message["error"]
                raise QMPError(f"{command}: {error.get('desc', error)}")
            elif "return" in message:
                return message["return"]

    def wait_event(self, name, matches=lambda data: True, timeout=10.0):
        """Returns the data of the first event NAME whose data `matches`, seen or still to come."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event["event"] == name and matches(event.get("data", {})):
                    del self.events[index]
                    return event.get("data", {})
            try:
                self.events.append(self._read_message(deadline))
            except QMPTimeout:
                raise QMPTimeout(f"no {name} event within {timeout:g} s") from None

    def device_del(self, device_id, timeout=10.0):
        """device_del, then waits until the guest has let the device go (DEVICE_DELETED)."""
        self.execute("device_del", {"id": device_id})
        self.wait_event("DEVICE_DELETED", lambda data: data.get("device") == device_id, timeout)

    def device_add(self, spec):
        """device_add from a -device string: "edu,id=edu0,bus=rp0,addr=0"."""
        self.execute("device_add", parse_device_spec(spec))


def parse_device_spec(spec):
    """ "DRIVER,KEY=VALUE,..." (QEMU's -device syntax, without ',,' escapes) -> device_add arguments."""
    driver, *pairs = spec.split(",")
    if not driver or "=" in driver:
        raise ValueError(f"expected DRIVER,KEY=VALUE,...: {spec!r}")
    arguments = {"driver": driver}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not key or not equals:
            raise ValueError(f"expected KEY=VALUE, not {pair!r} in {spec!r}")
        arguments[key] = value
    return arguments


def main(argv=None):
    parser = argparse.ArgumentParser(description="Talk to a rig guest's QEMU over QMP.")
    parser.add_argument("--socket", required=True, help="the QMP socket (run.sh: qmp.sock in the run's socket directory)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for QEMU and for the guest (default 10)")
    commands = parser.add_subparsers(dest="command", required=True)
    remove = commands.add_parser("device_del", help="remove a device and wait until the guest released it")
    remove.add_argument("id")
    add = commands.add_parser("device_add", help="add a device: DRIVER,id=ID,bus=BUS[,KEY=VALUE...]")
    add.add_argument("spec")
    raw = commands.add_parser("execute", help="any QMP command; prints its return value as JSON")
    raw.add_argument("name")
    raw.add_argument("arguments", nargs="?", help="the arguments as a JSON object")
    options = parser.parse_args(argv)

    try:
        arguments = json.loads(options.arguments) if options.command == "execute" and options.arguments else None
        if options.command == "device_add":
            parse_device_spec(options.spec)
    except ValueError as error:
        parser.error(str(error))  # exit 2
    try:
        with QMP(options.socket, options.timeout) as qmp:
            started = time.monotonic()
            if options.command == "device_del":
                qmp.device_del(options.id, options.timeout)
                print(f"deleted {options.id} ({(time.monotonic() - started) * 1000:.0f} ms)")
            elif options.command == "device_add":
                qmp.device_add(options.spec)
                print(f"added {options.spec}")
            else:
                print(json.dumps(qmp.execute(options.name, arguments, options.timeout), indent=2))
    except QMPError as error:
        print(f"qmp: {error}", file=sys.stderr)
        return 1
    except QMPTimeout as error:
        print(f"qmp: timed out: {error}", file=sys.stderr)
        return 3
    except OSError as error:
        print(f"qmp: cannot reach QEMU at {options.socket}: {error}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
