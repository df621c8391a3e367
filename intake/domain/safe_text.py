"""Text from outside is data, never terminal commands or spreadsheet formulas.

- `clean`: on read, every value loses its C0 and C1 control characters and
  its bidirectional embeddings, overrides and isolates (a hidden link, a screen
  clear, a clipboard write, text that reads backwards); long answers keep
  their line breaks and tabs.
- `visible`: on output (`show`, `triage`, the log), anything of the kind that
  is still there is shown as an escape (`\\x1b`, `<U+202E>`) and does nothing.
- `csv_safe`: a CSV cell that a spreadsheet would run as a formula starts with `'`.
"""

from __future__ import annotations

import re

# Bidirectional formatting characters: LRE RLE PDF LRO RLO, LRI RLI FSI PDI, ALM, LRM, RLM.
_BIDI = "\u202a-\u202e\u2066-\u2069\u061c\u200e\u200f"
_CONTROLS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
_CONTROLS_AND_BREAKS = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clean(text: str, *, multiline: bool = True) -> str:
    """Drop control and bidi-control characters. `multiline`: keep line breaks (CR LF and
    CR become LF) and tabs; else each becomes a space, on one line."""
    if multiline:
        text = _LINE_BREAKS.sub("\n", text)
        return _CONTROLS.sub("", text)
    return _CONTROLS_AND_BREAKS.sub(lambda m: " " if m.group() in "\t\r\n\u2028\u2029" else "",
                                    text)


def clean_fields(fields: dict[str, str]) -> dict[str, str]:
    return {clean(str(key), multiline=False): clean(str(value)) for key, value in fields.items()}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"<U+{code:04X}>"


def visible(text: str, *, keep_newlines: bool = True) -> str:
    """Show what would act on a terminal as plain escapes; newlines and tabs stay as
    they are when `keep_newlines`, else they are escaped too (one log line)."""
    pattern = _CONTROLS if keep_newlines else _CONTROLS_AND_BREAKS
    return pattern.sub(lambda m: _escape(m.group()), text)


def csv_safe(cell: str) -> str:
    """A cell a spreadsheet would take for a formula gets a leading `'`."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell
