#!/usr/bin/env python3
"""Protocol tests for scripts/rig/ivshmem-server.py, acting as QEMU's ivshmem clients."""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ivshmem-server.py")
VECTORS = 3
SHM_SIZE = 1 << 16


def receive(sock):
    """One protocol message: (int64 value, fd or None)."""
    data, fds, _, _ = socket.recv_fds(sock, 8, 1)
    if len(data) != 8:
        raise AssertionError(f"short message: {data!r}")
    return struct.unpack("<q", data)[0], (fds[0] if fds else None)


def eventfd_value(fd):
    """Reads an eventfd counter without blocking; 0 when it is not signalled."""
    os.set_blocking(fd, False)
    try:
        return struct.unpack("=Q", os.read(fd, 8))[0]
    except BlockingIOError:
        return 0


class IvshmemServerTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.socket_path = os.path.join(self.dir.name, "ivshmem.sock")
        self.trigger_path = os.path.join(self.dir.name, "trigger.sock")
        self.server = subprocess.Popen([sys.executable, SERVER, "-S", self.socket_path,
                                        "-m", os.path.join(self.dir.name, "shm"), "-l", str(SHM_SIZE),
                                        "-n", str(VECTORS), "-T", self.trigger_path])
        for _ in range(200):
            if os.path.exists(self.trigger_path):
                break
            time.sleep(0.01)
        self.clients = []

    def tearDown(self):
        for client in self.clients:
            client.close()
        self.server.terminate()
        try:
            # A bound, not a wait: the server exits at once. It used to miss a SIGTERM that
            # landed just before select() blocked, and then never exited (see its main()).
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
            self.fail("ivshmem-server did not exit within 20 s of SIGTERM")
        self.dir.cleanup()

    def connect(self):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(self.socket_path)
        client.settimeout(5)
        self.clients.append(client)
        return client

    def handshake(self, client, peers_before):
        """Checks steps 1-5 of the protocol; returns (own id, {peer: [fds]}, own fds)."""
        self.assertEqual(receive(client), (0, None), "protocol version 0 without fd")
        own_id, fd = receive(client)
        self.assertIsNone(fd)
        marker, shm_fd = receive(client)
        self.assertEqual(marker, -1)
        self.assertIsNotNone(shm_fd)
        self.assertEqual(os.fstat(shm_fd).st_size, SHM_SIZE)
        os.close(shm_fd)
        peers = {}
        for _ in range(peers_before * VECTORS):
            peer, fd = receive(client)
            self.assertNotEqual(peer, own_id)
            self.assertIsNotNone(fd)
            peers.setdefault(peer, []).append(fd)
        own = []
        for _ in range(VECTORS):
            peer, fd = receive(client)
            self.assertEqual(peer, own_id)
            self.assertIsNotNone(fd)
            own.append(fd)
        return own_id, peers, own

    def test_first_client_gets_id_zero_shared_memory_and_its_vectors(self):
        own_id, peers, own = self.handshake(self.connect(), 0)
        self.assertEqual(own_id, 0)
        self.assertEqual(peers, {})
        self.assertEqual(len(own), VECTORS)

    def test_peers_learn_about_each_other_and_share_eventfds(self):
        first = self.connect()
        first_id, _, first_own = self.handshake(first, 0)
        second = self.connect()
        second_id, second_peers, second_own = self.handshake(second, 1)
        self.assertEqual(second_id, 1)
        self.assertEqual(list(second_peers), [first_id])
        # The first client is told about the second: its id N times, each with a fd.
        announced = [receive(first) for _ in range(VECTORS)]
        self.assertTrue(all(peer == second_id and fd is not None for peer, fd in announced))
        # Ringing first's vector 2 through the fd the second got is seen on first's own vector 2 only.
        os.write(second_peers[first_id][2], struct.pack("=Q", 1))
        self.assertEqual([eventfd_value(fd) for fd in first_own], [0, 0, 1])
        # When the second leaves, the first gets its id without a fd.
        second.close()
        self.clients.remove(second)
        self.assertEqual(receive(first), (second_id, None))

    def test_trigger_socket_rings_a_peer_vector(self):
        _, _, own = self.handshake(self.connect(), 0)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as trigger:
            trigger.connect(self.trigger_path)
            trigger.sendall(b"0 1 3\n")
            self.assertEqual(trigger.recv(64), b"ok\n")
        self.assertEqual([eventfd_value(fd) for fd in own], [0, 3, 0])
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as trigger:
            trigger.connect(self.trigger_path)
            trigger.sendall(b"7 0\n")
            self.assertTrue(trigger.recv(64).startswith(b"error"))

    def test_ids_advance_after_a_disconnect(self):
        first = self.connect()
        self.handshake(first, 0)
        second = self.connect()
        second_id, _, _ = self.handshake(second, 1)
        for _ in range(VECTORS):
            receive(first)  # the announcement of the second client
        second.close()
        self.clients.remove(second)
        self.assertEqual(receive(first), (second_id, None))
        third_id, peers, _ = self.handshake(self.connect(), 1)
        self.assertEqual(list(peers), [0])
        # IDs advance rather than being reused at once: a late message about the old peer
        # cannot be mistaken for the new one.
        self.assertEqual(third_id, 2)


if __name__ == "__main__":
    unittest.main()
