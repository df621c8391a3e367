"""One logging set-up for the main process and the parser processes.

Every record passes one filter before it is written:
- a library's record (pdfminer, pypdf, a Python warning...) keeps its logger
  name and level only: its text may quote the form it was reading;
- every secret the settings point at is masked, whatever path brought it
  (a server that echoes the password in its refusal);
- control characters are shown as escapes, so one record stays one line and
  nothing from a message acts on the terminal.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterable
from typing import TextIO

from ..domain.safe_text import visible

OUR_LOGGERS = ("intake",)
FORMAT = "%(asctime)s %(levelname)s %(message)s"
MASK = "********"
_MIN_SECRET = 4  # shorter values would mask ordinary words


class SafeRecords(logging.Filter):
    """Masks secrets, withholds libraries' text, makes control characters visible."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len,
                              reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({*self.secrets, *(s for s in secrets if s and
                                               len(s) >= _MIN_SECRET)}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name.split(".")[0] in OUR_LOGGERS  # root too is a library's: withheld
        if ours:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string must not lose the record
                message = str(record.msg)
        else:
            message = f"{record.name}: {record.levelname.lower()} (text withheld: a library's " \
                      "message may quote the file it was reading)"
        if record.exc_info and ours:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = visible(self.mask(message), keep_newlines=False), None
        record.exc_info = record.exc_text = None
        record.stack_info = None
        return True


_filter = SafeRecords()


def configure(level: int = logging.INFO, stream: TextIO | None = None,
              secrets: Iterable[str] = (),
              formatter: logging.Formatter | None = None) -> SafeRecords:
    """Log to `stream` (standard error) through the one filter; Python warnings included."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter or logging.Formatter(FORMAT))
    handler.addFilter(_filter)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Libraries say only what is wrong, at warning or worse.
    for noisy in ("pdfminer", "pdfplumber", "pypdf", "PIL", "docx", "msal", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    _filter.add(secrets)
    return _filter


def add_secrets(secrets: Iterable[str]) -> None:
    """Mask these values from now on, on every path that logs."""
    _filter.add(secrets)


def mask(text: str) -> str:
    """A line printed without logging (an error for standard error), masked alike."""
    return visible(_filter.mask(text), keep_newlines=False)
