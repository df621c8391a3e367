"""Parse a large message in a process of its own, so the main process stays small.

The standard library's MIME parser holds about seven times a message's size
while it works (every line as a string, then each part joined); for a 28 MB
message that is 200 MB in the main process. A message over
APART_BYTES is parsed in a short-lived child with a time and memory limit,
and only the ParsedEmail (its text and attachments) comes back. A child that
runs out of time or memory gives the message's header alone, marked
`walk-failed`, so it goes to a person (manual review, "damaged").
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection

from ..domain.models import ParsedEmail
from .parse import parse

APART_BYTES = 4 * 1024 * 1024


def _child(conn: Connection, max_attachment_bytes: int, memory_mb: int) -> None:
    import logging

    from ..config.logsetup import configure

    configure(logging.WARNING)
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    try:
        data = conn.recv_bytes()  # the message comes by the pipe, not as a pickled argument
        conn.send(parse(data, max_attachment_bytes=max_attachment_bytes))
    except MemoryError:
        conn.send(None)
    finally:
        conn.close()


def parse_apart(data: bytes, *, max_attachment_bytes: int, timeout: float,
                memory_mb: int) -> ParsedEmail:
    """parse(), in a child process; the header alone when the child fails."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    conn, child = ctx.Pipe()
    process = ctx.Process(target=_child, args=(child, max_attachment_bytes, memory_mb),
                          daemon=True)
    process.start()
    child.close()
    result = None
    try:
        conn.send_bytes(data)
        if conn.poll(timeout):
            result = conn.recv()
    except (EOFError, OSError):
        result = None
    finally:
        conn.close()
        process.join(1.0)
        if process.is_alive():
            process.kill()
            process.join(1.0)
    if isinstance(result, ParsedEmail):
        return result
    header = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    headers_only = parse(header + b"\r\n\r\n", max_attachment_bytes=max_attachment_bytes)
    from dataclasses import replace

    return replace(headers_only, defects=(*headers_only.defects,
                                          "walk-failed: parsed apart, no result"))
