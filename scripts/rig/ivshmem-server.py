#!/usr/bin/env python3
"""A small ivshmem server: the host side of QEMU's ivshmem-doorbell device.

Debian ships QEMU without contrib/ivshmem-server, so the rig implements the
client-server protocol of QEMU's docs/specs/ivshmem-spec.rst itself. Each
message is one little-endian int64, optionally carrying one file descriptor
(SCM_RIGHTS). On connect the server sends, in order:

  1. the protocol version (0),
  2. the new client's ID,
  3. -1 with the shared-memory fd,
  4. for every other connected peer: its ID N times, each with the eventfd
     that interrupts that peer's vector 0..N-1,
  5. the client's own ID N times, each with its own eventfd for vector
     0..N-1 (these are what the device turns into MSI-X messages).

Existing peers get the new client's ID N times with its eventfds; when a client
disconnects, every remaining peer gets its ID with no fd.

A guest can ring its own doorbell (BAR0 offset 12 = own_id << 16 | vector),
which is how the rig triggers MSI-X vectors without a second VM. With
--trigger-socket the host can also ring a connected peer's vectors: send a line
"ID VECTOR [COUNT]" to that UNIX socket (see --help).

Python 3.10+ standard library only (socket.send_fds; os.eventfd, with a ctypes
fallback where the interpreter lacks it).
"""

import argparse
import ctypes
import os
import select
import signal
import socket
import struct
import sys

PROTOCOL_VERSION = 0
MAX_PEER_ID = 65535


def make_eventfd() -> int:
    """An eventfd for one vector, non-blocking (the server never reads it)."""
    if hasattr(os, "eventfd"):
        return os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.eventfd(0, 0o4000 | 0o2000000)  # EFD_NONBLOCK | EFD_CLOEXEC
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def send_message(conn: socket.socket, value: int, fd: int | None = None) -> None:
    payload = struct.pack("<q", value)
    if fd is None:
        conn.sendall(payload)
    else:
        socket.send_fds(conn, [payload], [fd])


class Peer:
    def __init__(self, peer_id: int, conn: socket.socket, vectors: int):
        self.peer_id = peer_id
        self.conn = conn
        self.eventfds = [make_eventfd() for _ in range(vectors)]

    def close(self) -> None:
        for fd in self.eventfds:
            os.close(fd)
        self.conn.close()


class Server:
    def __init__(self, args: argparse.Namespace):
        self.vectors = args.vectors
        self.verbose = args.verbose
        self.peers: dict[int, Peer] = {}
        self.next_id = 0
        self.shm_fd = self._open_shared_memory(args.shm_path, args.shm_size)
        self.listener = self._listen(args.socket)
        self.trigger = self._listen(args.trigger_socket) if args.trigger_socket else None

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"ivshmem-server: {message}", file=sys.stderr, flush=True)

    @staticmethod
    def _open_shared_memory(path: str, size: int) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.ftruncate(fd, size)
        return fd

    @staticmethod
    def _listen(path: str) -> socket.socket:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(8)
        return sock

    def _allocate_id(self) -> int | None:
        for _ in range(MAX_PEER_ID + 1):
            candidate = self.next_id
            self.next_id = (self.next_id + 1) % (MAX_PEER_ID + 1)
            if candidate not in self.peers:
                return candidate
        return None

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        peer_id = self._allocate_id()
        if peer_id is None:
            self.log("no free peer id, refusing client")
            conn.close()
            return
        peer = Peer(peer_id, conn, self.vectors)
        try:
            send_message(conn, PROTOCOL_VERSION)
            send_message(conn, peer_id)
            send_message(conn, -1, self.shm_fd)
            for other in self.peers.values():
                for fd in other.eventfds:
                    send_message(conn, other.peer_id, fd)
            for fd in peer.eventfds:
                send_message(conn, peer_id, fd)
        except OSError as error:
            self.log(f"client {peer_id} failed during setup: {error}")
            peer.close()
            return
        for other in list(self.peers.values()):
            try:
                for fd in peer.eventfds:
                    send_message(other.conn, peer_id, fd)
            except OSError:
                self.drop(other)
        self.peers[peer_id] = peer
        self.log(f"client {peer_id} connected ({self.vectors} vectors)")

    def drop(self, peer: Peer) -> None:
        if self.peers.pop(peer.peer_id, None) is None:
            return
        peer.close()
        self.log(f"client {peer.peer_id} disconnected")
        for other in list(self.peers.values()):
            try:
                send_message(other.conn, peer.peer_id)
            except OSError:
                self.drop(other)

    def ring(self, request: str) -> str:
        """Host-side trigger: 'ID VECTOR [COUNT]' writes COUNT times to that eventfd."""
        try:
            fields = [int(f) for f in request.split()]
            peer_id, vector = fields[0], fields[1]
            count = fields[2] if len(fields) > 2 else 1
        except (ValueError, IndexError):
            return "error: expected 'ID VECTOR [COUNT]'\n"
        peer = self.peers.get(peer_id)
        if peer is None or not 0 <= vector < len(peer.eventfds):
            return f"error: no peer {peer_id} vector {vector}\n"
        for _ in range(count):
            os.write(peer.eventfds[vector], struct.pack("=Q", 1))
        return "ok\n"

    def serve_trigger(self) -> None:
        conn, _ = self.trigger.accept()
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(256)
                if not chunk:
                    break
                data += chunk
            conn.sendall(self.ring(data.decode(errors="replace")).encode())

    def run(self, stop_fd: int) -> None:
        """Serves until `stop_fd` (the signal wake-up pipe) becomes readable."""
        while True:
            watched = [stop_fd, self.listener] + [p.conn for p in self.peers.values()]
            if self.trigger is not None:
                watched.append(self.trigger)
            readable, _, _ = select.select(watched, [], [])
            if stop_fd in readable:
                return
            for sock in readable:
                if sock is self.listener:
                    self.accept()
                elif sock is self.trigger:
                    self.serve_trigger()
                else:
                    peer = next((p for p in self.peers.values() if p.conn is sock), None)
                    if peer is None:
                        continue
                    # Clients never send; readable means EOF or error.
                    try:
                        data = sock.recv(64)
                    except OSError:
                        data = b""
                    if not data:
                        self.drop(peer)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-S", "--socket", required=True, help="UNIX socket QEMU connects to")
    parser.add_argument("-m", "--shm-path", required=True, help="shared memory file (created, truncated to size)")
    parser.add_argument("-l", "--shm-size", type=int, default=1 << 20,
                        help="shared memory size in bytes, a power of two (default 1 MiB)")
    parser.add_argument("-n", "--vectors", type=int, default=4, help="interrupt vectors per peer (default 4)")
    parser.add_argument("-T", "--trigger-socket", help="optional UNIX socket accepting 'ID VECTOR [COUNT]' lines")
    parser.add_argument("-p", "--pid-file", help="write the server's pid here first thing")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.vectors < 1 or args.vectors > 1024:
        parser.error("--vectors must be 1..1024")
    if args.shm_size <= 0 or args.shm_size & (args.shm_size - 1):
        parser.error("--shm-size must be a power of two")
    return args


def remove_sockets(args: argparse.Namespace) -> None:
    """Unlinks the listening sockets (gone already is fine)."""
    for path in (args.socket, args.trigger_socket):
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass


def main() -> int:
    args = parse_arguments()
    # SIGTERM and SIGINT end the server through a wake-up pipe that select() watches.
    # A Python-level handler alone is not enough: a signal that lands after the
    # interpreter's last check and before select() blocks would wait for the next
    # client, and the server stayed up past SIGTERM about one run in twenty of its tests.
    stop_read, stop_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(stop_write, warn_on_full_buffer=False)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: None)
    # Started by a thread that blocks them (the one that runs a SwiftPM plugin's command does),
    # they would stay pending and the server never end: a blocked mask is inherited across exec.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    if args.pid_file:
        with open(args.pid_file, "w") as f:
            f.write(f"{os.getpid()}\n")
    try:
        server = Server(args)
        server.log(f"listening on {args.socket}, {args.vectors} vectors, shm {args.shm_path}")
        server.run(stop_read)
    finally:
        remove_sockets(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
