#!/usr/bin/env python3
"""Copies stdin to stdout a whole line per write, as it comes.

run.sh drains the guest's stdout and stderr (two serial ports) with one copier each into
the host's stdout and stderr, which are often one file or terminal (`> log 2>&1`). Two
`cat`s wrote whatever each read returned, so a line of one stream could land in the
middle of a line of the other, splitting words and UTF-8 characters. One write(2) per line
keeps lines whole in a file or on a terminal (and in a pipe for lines up to PIPE_BUF,
4 KiB). A partial line (a prompt, progress dots) is written once no more input came for
0.1 s, so output stays live; a line longer than 64 KiB goes in pieces."""
import os
import select
import sys

LIMIT = 65536
IDLE_SECONDS = 0.1


def write_all(out: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]


def main() -> int:
    source = sys.stdin.fileno()
    out = sys.stdout.fileno()
    pending = b""
    writing = True
    while True:
        if pending:
            ready, _, _ = select.select([source], [], [], IDLE_SECONDS)
            if not ready:
                # Quiet for a while with a partial line: let it show.
                if writing:
                    try:
                        write_all(out, pending)
                    except BrokenPipeError:
                        writing = False
                pending = b""
                continue
        chunk = os.read(source, LIMIT)
        if not chunk:
            if pending and writing:
                try:
                    write_all(out, pending)
                except BrokenPipeError:
                    pass
            return 0
        pending += chunk
        end = pending.rfind(b"\n")
        if end < 0 and len(pending) < LIMIT:
            continue
        whole, pending = (pending[:end + 1], pending[end + 1:]) if end >= 0 else (pending, b"")
        if not writing:
            continue  # the reader went away: keep draining so the guest's port never blocks
        try:
            # Split on "\n" only: a progress line redrawn with "\r" stays one write.
            lines = [line + b"\n" for line in whole[:-1].split(b"\n")] if whole.endswith(b"\n") else [whole]
            for line in lines:
                write_all(out, line)
        except BrokenPipeError:
            writing = False


if __name__ == "__main__":
    sys.exit(main())
