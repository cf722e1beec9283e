#!/usr/bin/env python3
"""Copies stdin to stdout a whole line per write, as it comes.

run.sh drains the guest's stdout and stderr (two serial ports) with one copier each into
the host's stdout and stderr, which are often one file or terminal (`> log 2>&1`). Two
`cat`s wrote whatever each read returned, so a line of one stream could land in the
middle of a line of the other, splitting words and UTF-8 characters. One write(2) per line
keeps lines whole: writes to one open file are not interleaved within each other.
A line longer than 64 KiB is written in pieces; a last line without a newline is written
at the end of input."""
import os
import sys

LIMIT = 65536


def main() -> int:
    source = sys.stdin.buffer
    out = sys.stdout.fileno()
    while True:
        line = source.readline(LIMIT)
        if not line:
            return 0
        view = memoryview(line)
        while view:
            try:
                written = os.write(out, view)
            except BrokenPipeError:
                # The reader went away: keep draining so the guest's port never blocks.
                for _ in iter(lambda: source.read(LIMIT), b""):
                    pass
                return 0
            view = view[written:]


if __name__ == "__main__":
    sys.exit(main())
