"""Read .doc, .odt and .rtf forms: LibreOffice headless converts them to .docx,
which the Word reader then reads as it reads any other.

Each conversion runs in a throw-away folder (the file, LibreOffice's profile and
its output; all removed afterwards, whatever happened) with its own time limit,
the parser process's memory limit (inherited), no network where the system allows
a private network namespace (`unshare -rn`), and dies with the parser process if
that is killed. Without LibreOffice these files keep going to manual review
("unsupported"); `intake check-config` says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..domain.records import ReviewReason

PROGRAM_DIRS = ("/usr/lib/libreoffice/program", "/opt/libreoffice/program")
RESTART = 81  # soffice.bin's exit code after it first set up a fresh profile
TIMEOUT_SECONDS = 15.0  # the parser pool lowers this below its own limit
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
KINDS = ("doc", "odt", "rtf")


class OfficeError(Exception):
    """LibreOffice could not turn the file into .docx: carries the review reason."""

    def __init__(self, reason: ReviewReason):
        super().__init__(reason)
        self.reason = reason


@functools.cache
def soffice() -> str | None:
    """The LibreOffice binary to run, or None when LibreOffice is not installed."""
    for directory in PROGRAM_DIRS:  # the real binary: the soffice script forks past us
        candidate = Path(directory) / "soffice.bin"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("soffice") or shutil.which("libreoffice")


@functools.cache
def _no_network_prefix() -> tuple[str, ...]:
    """`unshare -rn` when this system gives us a private, empty network namespace."""
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    try:
        done = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if done.returncode == 0 else ()


def available() -> bool:
    return soffice() is not None


def status_line() -> str:
    """check-config's line on .doc, .odt and .rtf forms."""
    program = soffice()
    if program is None:
        return ("forms: LibreOffice is not installed: .doc, .odt and .rtf forms go to "
                "manual review (unsupported); install libreoffice-writer-nogui to read them")
    network = "no network" if _no_network_prefix() else "network not isolated (no unshare -rn)"
    return f"forms: ok — .doc, .odt and .rtf read with LibreOffice ({program}; {network})"


def _die_with_parent() -> None:
    """In the child: be killed when the parser process dies (Linux), own process group."""
    os.setsid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def to_docx(data: bytes, kind: str, timeout: float | None = None) -> bytes:
    """The .docx LibreOffice makes of a .doc, .odt or .rtf file's bytes."""
    program = soffice()
    if program is None:
        raise OfficeError(ReviewReason.UNSUPPORTED)
    limit = TIMEOUT_SECONDS if timeout is None else timeout
    with tempfile.TemporaryDirectory(prefix="intake-office-") as work:
        folder = Path(work)
        source = folder / f"form.{kind}"
        source.write_bytes(data)
        command = [
            *_no_network_prefix(), program, "--headless", "--norestore", "--nolockcheck",
            "--nodefault", "--nologo", f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(folder / "out"),
            str(source),
        ]
        for _attempt in range(2):  # a fresh profile makes soffice.bin exit 81 once
            code = _run(command, limit, folder)
            if code != RESTART:
                break
        result = folder / "out" / "form.docx"
        if not result.is_file():
            raise OfficeError(ReviewReason.DAMAGED)
        if result.stat().st_size > MAX_OUTPUT_BYTES:
            raise OfficeError(ReviewReason.TOO_LARGE)
        return result.read_bytes()


def _run(command: list[str], timeout: float, folder: Path) -> int:
    environment = {"HOME": str(folder), "TMPDIR": str(folder),
                   "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "LANG": "C.UTF-8", "SAL_USE_VCLPLUGIN": "svp"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment, cwd=folder,
                               preexec_fn=_die_with_parent)  # noqa: PLW1509 - needs setsid+prctl
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise OfficeError(ReviewReason.TIMEOUT) from None
    finally:
        _kill_group(process)  # nothing it started outlives the conversion


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
