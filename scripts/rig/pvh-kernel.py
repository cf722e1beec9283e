#!/usr/bin/env python3
"""Unpacks a bzImage into the ELF kernel inside it, for QEMU's PVH boot.

usage: pvh-kernel.py BZIMAGE OUTPUT

Under software emulation most of a Debian kernel's boot time is its own decompressor
(xz, about 4 s of the rig's 8). A kernel built with CONFIG_PVH carries an entry point
(the Xen ELF note PHYS32_ENTRY) that QEMU jumps to when `-kernel` is the ELF itself:
unpacked once on the host, the guest skips the decompressor. run.sh caches the result.

Writes OUTPUT (atomically: a temporary file renamed) and exits 0 when the kernel has
the entry; exits 1 with one line on stderr saying why not (not a bzImage, a compression
this host cannot undo, no PVH entry), and run.sh boots the bzImage as before.
"""
import bz2
import gzip
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

XEN_ELFNOTE_PHYS32_ENTRY = 18
PT_NOTE = 4


class NotUsable(Exception):
    pass


def compressed_payload(image: bytes) -> bytes:
    """The kernel's compressed payload, as the boot protocol (2.08 and later) locates it."""
    if len(image) < 0x250 or image[0x202:0x206] != b"HdrS":
        raise NotUsable("not a bzImage (no HdrS boot header)")
    version = struct.unpack_from("<H", image, 0x206)[0]
    if version < 0x0208:
        raise NotUsable(f"boot protocol {version >> 8}.{version & 0xff} predates payload_offset")
    setup_sectors = image[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sectors + 1) * 512 + payload_offset
    payload = image[start:start + payload_length]
    if len(payload) != payload_length or not payload:
        raise NotUsable("the boot header's payload lies outside the file")
    return payload


def external(command: str, payload: bytes) -> bytes:
    if shutil.which(command) is None:
        raise NotUsable(f"the kernel is {command}-compressed and {command} is not installed")
    result = subprocess.run([command, "-dc"], input=payload, capture_output=True)
    if not result.stdout:
        raise NotUsable(f"{command} could not unpack the kernel")
    # Not the exit status: the kernel's size, appended after the stream, makes some tools
    # complain after they have written all of it.
    return result.stdout


def decompress(payload: bytes) -> bytes:
    try:
        if payload.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
        if payload.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        if payload.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(payload)
        if payload.startswith(b"\x5d\x00\x00"):
            return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(payload)
    except (lzma.LZMAError, zlib.error, OSError, EOFError) as error:
        raise NotUsable(f"the kernel's payload does not unpack: {error}") from None
    if payload.startswith(b"\x28\xb5\x2f\xfd"):
        return external("zstd", payload)
    if payload.startswith(b"\x02\x21\x4c\x18"):
        return external("lz4", payload)
    if payload.startswith(b"\x7fELF"):  # CONFIG_KERNEL_UNCOMPRESSED, its size appended
        size, = struct.unpack_from("<I", payload, len(payload) - 4)
        return payload[:-4] if size == len(payload) - 4 else payload
    raise NotUsable("the kernel's payload is in a compression this script does not know")


def has_pvh_entry(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF carries the Xen PHYS32_ENTRY note."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise NotUsable("the unpacked kernel is not a 64-bit little-endian ELF")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for index in range(phnum):
        header = phoff + index * phentsize
        kind, = struct.unpack_from("<I", elf, header)
        if kind != PT_NOTE:
            continue
        offset, = struct.unpack_from("<Q", elf, header + 0x08)
        size, = struct.unpack_from("<Q", elf, header + 0x20)
        position, end = offset, min(offset + size, len(elf))
        while position + 12 <= end:
            name_size, description_size, note_type = struct.unpack_from("<III", elf, position)
            name = elf[position + 12:position + 12 + name_size].rstrip(b"\0")
            if name == b"Xen" and note_type == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            position += 12 + (name_size + 3) // 4 * 4 + (description_size + 3) // 4 * 4
    return False


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: pvh-kernel.py BZIMAGE OUTPUT", file=sys.stderr)
        return 2
    source, output = sys.argv[1], sys.argv[2]
    try:
        with open(source, "rb") as file:
            elf = decompress(compressed_payload(file.read()))
        if not has_pvh_entry(elf):
            raise NotUsable("the kernel has no PVH entry (built without CONFIG_PVH)")
    except NotUsable as reason:
        print(f"{source}: {reason}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"{source}: {error.strerror}", file=sys.stderr)
        return 1
    directory = os.path.dirname(os.path.abspath(output))
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".vmlinux.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(elf)
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
