#!/usr/bin/env python3
"""Protocol tests for scripts/rig/qmp.py and hotplug-agent.py against a scripted QMP server (< 2 s)."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

RIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, RIG_DIR)
import qmp  # noqa: E402


class FakeQEMU:
    """Speaks QMP's server side on a UNIX socket: greeting, qmp_capabilities, then for each
    command the scripted list of messages (events and the reply). Records every request."""

    def __init__(self, path, script):
        self.script = script  # command name -> list of messages to send in order
        self.requests = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\n')
                reader = connection.makefile("rb")
                for line in reader:
                    request = json.loads(line)
                    self.requests.append(request)
                    name = request["execute"]
                    if name == "qmp_capabilities":
                        replies = [{"return": {}}]
                    else:
                        replies = self.script.get(name, [{"error": {"class": "CommandNotFound", "desc": f"no {name}"}}])
                    for reply in replies:
                        connection.sendall(json.dumps(reply).encode() + b"\r\n")

    def close(self):
        self.listener.close()


DELETED = {"event": "DEVICE_DELETED", "data": {"device": "edu0", "path": "/machine/peripheral/edu0"}}


class QMPClientTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "qmp.sock")

    def tearDown(self):
        self.server.close()
        self.dir.cleanup()

    def serve(self, script):
        self.server = FakeQEMU(self.path, script)

    def test_device_del_waits_for_the_device_deleted_event(self):
        other = {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/edu0/virtio-backend"}}
        self.serve({"device_del": [{"return": {}}, {"event": "RESET", "data": {}}, other, DELETED]})
        with qmp.QMP(self.path, 2) as session:
            session.device_del("edu0", 2)
        self.assertEqual(self.server.requests[1], {"execute": "device_del", "arguments": {"id": "edu0"}})

    def test_an_event_before_the_reply_is_not_lost(self):
        self.serve({"device_del": [DELETED, {"return": {}}]})
        with qmp.QMP(self.path, 2) as session:
            session.device_del("edu0", 2)

    def test_device_del_without_the_event_times_out(self):
        self.serve({"device_del": [{"return": {}}]})
        with qmp.QMP(self.path, 2) as session, self.assertRaises(qmp.QMPTimeout):
            session.device_del("edu0", 0.3)

    def test_a_refusal_is_a_qmp_error_with_qemus_message(self):
        self.serve({"device_del": [{"error": {"class": "DeviceNotFound", "desc": "Device 'edu9' not found"}}]})
        with qmp.QMP(self.path, 2) as session, self.assertRaisesRegex(qmp.QMPError, "Device 'edu9' not found"):
            session.device_del("edu9", 1)

    def test_device_add_sends_the_device_spec_as_arguments(self):
        self.serve({"device_add": [{"return": {}}]})
        with qmp.QMP(self.path, 2) as session:
            session.device_add("edu,id=edu0,bus=rp0,addr=00.0")
        self.assertEqual(self.server.requests[1]["arguments"], {"driver": "edu", "id": "edu0", "bus": "rp0", "addr": "00.0"})

    def test_the_command_line_exit_statuses(self):
        self.serve({"device_del": [{"return": {}}, DELETED], "query-status": [{"return": {"status": "running"}}]})
        script = os.path.join(RIG_DIR, "qmp.py")

        def run(*arguments):
            return subprocess.run([sys.executable, script, "--socket", self.path, "--timeout", "1", *arguments],
                                  capture_output=True, text=True, check=False)
        result = run("device_del", "edu0")
        self.assertEqual((result.returncode, result.stdout.split(" (")[0]), (0, "deleted edu0"))
        self.assertEqual(json.loads(run("execute", "query-status").stdout), {"status": "running"})
        self.assertEqual(run("execute", "nonsense").returncode, 1)
        self.assertEqual(run("device_add", "id=edu0").returncode, 2)
        self.server.close()
        os.unlink(self.path)
        self.assertEqual(run("device_del", "edu0").returncode, 4)


class HotplugAgentTests(unittest.TestCase):
    """The agent as run.sh starts it: requests on PORT.out, answers on PORT.in."""

    def test_requests_are_answered_one_line_each(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "qmp.sock")
            server = FakeQEMU(path, {"device_del": [{"return": {}}, DELETED], "device_add": [{"return": {}}]})
            port = os.path.join(directory, "hotplug")
            os.mkfifo(port + ".in")
            os.mkfifo(port + ".out")
            agent = subprocess.Popen([sys.executable, os.path.join(RIG_DIR, "hotplug-agent.py"), "--qmp", path,
                                      "--port", port, "--device", "edu0=edu,id=edu0,bus=rp0,addr=00.0", "--timeout", "2"])
            try:
                requests = os.open(port + ".out", os.O_RDWR)
                answers = os.fdopen(os.open(port + ".in", os.O_RDWR), "rb", buffering=0)
                os.write(requests, b"remove edu0\r\nadd edu0\nremove edu7\nexplode\n")
                lines = [b"".join(iter(lambda: answers.read(1), b"\n")).decode() for _ in range(4)]
                os.close(requests)
                answers.close()
            finally:
                agent.kill()
                agent.wait()
                server.close()
            self.assertRegex(lines[0], r"^ok remove edu0 \d+$")
            self.assertRegex(lines[1], r"^ok add edu0 \d+$")
            self.assertEqual(lines[2], "error no hot-pluggable device 'edu7' (known: edu0)")
            self.assertTrue(lines[3].startswith("error expected 'remove NAME' or 'add NAME'"), lines[3])
            self.assertEqual([request["execute"] for request in server.requests if request["execute"] != "qmp_capabilities"],
                             ["device_del", "device_add"])


if __name__ == "__main__":
    unittest.main()
