#!/usr/bin/env python3
"""Tests for scripts/rig/pvh-kernel.py: synthetic bzImages in each compression, with and
without the PVH entry, and this machine's own kernels in /boot."""

import bz2
import glob
import gzip
import lzma
import os
import struct
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pvh-kernel.py")


def note(name: bytes, kind: int, description: bytes) -> bytes:
    padded = lambda data: data + b"\0" * (-len(data) % 4)
    return struct.pack("<III", len(name) + 1, len(description), kind) + padded(name + b"\0") + padded(description)


def elf(notes: bytes) -> bytes:
    """A 64-bit little-endian ELF whose one program header is a PT_NOTE holding `notes`."""
    header_size, program_header_size = 64, 56
    notes_offset = header_size + program_header_size
    header = (b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
              + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, header_size, 0, 0,
                            header_size, program_header_size, 1, 64, 0, 0))
    program_header = struct.pack("<IIQQQQQQ", 4, 4, notes_offset, 0, 0, len(notes), len(notes), 4)
    return header + program_header + notes + b"kernel text" * 100


PVH_ELF = elf(note(b"GNU", 3, b"id") + note(b"Xen", 6, b"linux\0") + note(b"Xen", 18, struct.pack("<Q", 0x1000850)))
PLAIN_ELF = elf(note(b"Xen", 6, b"linux\0") + note(b"GNU", 18, b"not Xen's"))


def bzimage(payload: bytes, version: int = 0x020F, setup_sectors: int = 2) -> bytes:
    """A bzImage: boot sector and setup (the header at 0x1f1), then the payload with the
    decompressed size appended, as the kernel's build does."""
    setup = bytearray((setup_sectors + 1) * 512)
    setup[0x1F1] = setup_sectors
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    payload_offset = 0x30  # the decompressor's own code comes first
    struct.pack_into("<II", setup, 0x248, payload_offset, len(payload) + 4)
    size = len(payload) if payload.startswith(b"\x7fELF") else 1 << 20
    return bytes(setup) + b"\x90" * payload_offset + payload + struct.pack("<I", size) + b"\0" * 64


class PvhKernelTests(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def run_script(self, image: bytes):
        source = os.path.join(self.directory.name, "vmlinuz")
        output = os.path.join(self.directory.name, "vmlinux")
        with open(source, "wb") as file:
            file.write(image)
        result = subprocess.run([sys.executable, SCRIPT, source, output], capture_output=True, text=True)
        written = open(output, "rb").read() if os.path.exists(output) else None
        return result, written

    def test_each_compression_the_stdlib_undoes_gives_the_elf_back(self):
        for name, packed in [("xz", lzma.compress(PVH_ELF, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)),
                             ("gzip", gzip.compress(PVH_ELF)),
                             ("bzip2", bz2.compress(PVH_ELF)),
                             ("lzma", lzma.compress(PVH_ELF, format=lzma.FORMAT_ALONE)),
                             ("none", PVH_ELF)]:
            with self.subTest(name):
                result, written = self.run_script(bzimage(packed))
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(written, PVH_ELF)
                self.assertEqual(result.stderr, "")

    def test_a_kernel_without_the_entry_is_refused_in_one_line_and_nothing_is_written(self):
        result, written = self.run_script(bzimage(lzma.compress(PLAIN_ELF)))
        self.assertEqual(result.returncode, 1)
        self.assertIn("no PVH entry", result.stderr)
        self.assertEqual(result.stderr.count("\n"), 1)
        self.assertIsNone(written)
        self.assertEqual(os.listdir(self.directory.name), ["vmlinuz"])  # no temporary file left

    def test_what_is_not_a_usable_bzimage_is_refused_in_one_line(self):
        cases = {
            "no HdrS": b"\x7fELF" + b"\0" * 4096,
            "predates payload_offset": bzimage(gzip.compress(PVH_ELF), version=0x0206),
            "outside the file": bzimage(gzip.compress(PVH_ELF))[:1700],
            "does not know": bzimage(b"\x11\x22\x33\x44" + b"\0" * 100),
            "does not unpack": bzimage(b"\xfd7zXZ\x00" + b"\0" * 100),
            "not a 64-bit": bzimage(gzip.compress(b"\x7fELF\x01\x01" + b"\0" * 100)),
        }
        for reason, image in cases.items():
            with self.subTest(reason):
                result, written = self.run_script(image)
                self.assertEqual(result.returncode, 1)
                self.assertIn(reason, result.stderr)
                self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
                self.assertIsNone(written)

    def test_a_missing_kernel_is_refused_in_one_line(self):
        result = subprocess.run([sys.executable, SCRIPT, "/nonexistent/vmlinuz", "/nonexistent/out"],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr, "/nonexistent/vmlinuz: No such file or directory\n")

    def test_this_machines_kernels_unpack_to_an_elf_with_the_entry_when_built_with_pvh(self):
        kernels = sorted(glob.glob("/boot/vmlinuz-*"))
        if not kernels:
            self.skipTest("no kernel in /boot")
        for kernel in kernels:
            with self.subTest(kernel):
                config = "/boot/config-" + kernel[len("/boot/vmlinuz-"):]
                pvh = os.path.exists(config) and "CONFIG_PVH=y\n" in open(config).read()
                output = os.path.join(self.directory.name, "vmlinux")
                result = subprocess.run([sys.executable, SCRIPT, kernel, output], capture_output=True, text=True)
                self.assertEqual(result.returncode, 0 if pvh else 1, result.stderr)
                if pvh:
                    with open(output, "rb") as file:
                        self.assertEqual(file.read(4), b"\x7fELF")


if __name__ == "__main__":
    unittest.main()
