"""parse: a message's raw bytes -> ParsedEmail. Never raises, never goes quadratic.

The MIME tree is parsed with a compat32-based policy whose header values are
cut at `max_header_bytes` before anything reads them: policy.default's header
parser is quadratic on long headers (CPython gh-136063) and costs about a
millisecond per MIME part, which a crafted message multiplies. The Subject,
when short, is decoded with policy.default's header registry; everything else
with linear stdlib helpers. Whatever is wrong is recorded in `defects`.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterable
from email import policy as email_policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import Compat32
from email.utils import getaddresses

from ..domain.htmltext import html_to_text
from ..domain.models import Attachment, ParsedEmail

MAX_ATTACHMENT_BYTES = 25 * 2**20
MAX_HEADER_BYTES = 64 * 1024
MAX_NESTING = 20  # multipart / message levels walked
MAX_PARTS = 500  # MIME parts walked
MAX_HEADERS = 2000  # top-level headers kept
MAX_FILENAME = 200
MAX_DEFECTS = 50
_MIME_HEADER_CAP = 8 * 1024  # Content-* values: nothing legitimate is longer
_ADDRESS_CAP = 32 * 1024  # all occurrences of one address header together
_DECODE_CAP = 8 * 1024  # longer values keep their encoded-words undecoded
_REGISTRY_CAP = 4 * 1024  # subjects up to this length go through policy.default

_ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+")
_MESSAGE_ID = re.compile(r"<[^<>]*>")
_WELL_FORMED_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")  # printable ASCII, no <>
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# C1 controls and bidirectional overrides: dropped from every header value (safe_text.py).
_INVISIBLE = re.compile("[\x80-\x9f\u202a-\u202e\u2066-\u2069\u061c\u200e\u200f]")


class _CappedPolicy(Compat32):
    """compat32, but every header value is cut to a size before it is stored."""

    max_value: int = MAX_HEADER_BYTES
    cut: list[str] | None = None  # names of the headers cut, for the defects

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        cap = self.max_value
        if name.strip().lower().startswith("content-"):
            cap = min(cap, _MIME_HEADER_CAP)
        if len(value) > cap:
            value = value[:cap]
            if self.cut is not None:
                self.cut.append(name.strip().lower())
        return name, value


def parse(
    data: bytes,
    *,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> ParsedEmail:
    """Parse one message. Malformed input gives a ParsedEmail with defects, never an error."""
    defects: list[str] = []
    try:
        data = bytes(data)
    except Exception:  # not bytes at all
        data = b""
        defects.append("not-bytes")
    if not data.strip():
        defects.append("empty-message")
    cut: list[str] = []
    capped = _CappedPolicy(max_value=max(1, max_header_bytes), cut=cut)
    try:
        message = BytesParser(policy=capped).parsebytes(data)
    except Exception as err:  # e.g. RecursionError on absurd nesting
        defects.append(f"unparseable-mime: {type(err).__name__}")
        try:
            message = BytesHeaderParser(policy=capped).parsebytes(data)
        except Exception as err2:
            defects.append(f"unparseable-headers: {type(err2).__name__}")
            message = Message(policy=capped)
    try:
        walked = _Walk(max_attachment_bytes)
        walked.run(message)
        defects.extend(walked.defects)
    except Exception as err:  # the walk must not take the message down
        walked = _Walk(max_attachment_bytes)
        defects.append(f"walk-failed: {type(err).__name__}")
    defects.extend(f"header-cut: {name}" for name in dict.fromkeys(cut))
    return _build(message, walked, defects)


def _build(message: Message, walked: _Walk, defects: list[str]) -> ParsedEmail:
    raw = _raw_headers(message, defects)

    def values(name: str) -> list[str]:
        return [value for key, value in raw if key == name]

    senders = _addresses(values("from"), defects)
    return_path = _return_path(values("return-path")[:1], defects)
    # Only a well-formed <...> Message-ID is kept: anything else (a formula, a
    # script) would reach the export, the replies' In-Reply-To and the screen.
    message_ids = [found for found in _message_ids(values("message-id")[:1])
                   if _WELL_FORMED_ID.fullmatch(found)]
    message_id = message_ids[0] if message_ids else None
    subject = values("subject")
    return ParsedEmail(
        message_id=message_id,
        subject=_decode_subject(subject[0]) if subject else "",
        sender=senders[0] if senders else None,
        reply_to=tuple(_addresses(values("reply-to"), defects)),
        return_path=return_path,
        to=tuple(_addresses(values("to"), defects)),
        cc=tuple(_addresses(values("cc"), defects)),
        in_reply_to=tuple(_message_ids(values("in-reply-to"))),
        references=tuple(_message_ids(values("references"))),
        headers=tuple((name, _header_text(value)) for name, value in raw),
        content_type=_content_type(message),
        body_text=walked.body_text(),
        attachments=tuple(walked.attachments),
        defects=tuple(dict.fromkeys(defects))[:MAX_DEFECTS],
        blank_plain_part=bool(walked.plain) and not "".join(walked.plain).strip(),
    )


# --- the MIME walk -------------------------------------------------------------


class _Walk:
    """Walks the MIME tree iteratively: text bodies, attachments and defects."""

    def __init__(self, max_attachment_bytes: int):
        self.max_attachment_bytes = max_attachment_bytes
        self.attachments: list[Attachment] = []
        self.plain: list[str] = []
        self.html: list[str] = []
        self.defects: list[str] = []

    def run(self, root: Message) -> None:
        stack: list[tuple[Message, int, int]] = [(root, 0, 0)]  # part, nesting, forward depth
        count = 0
        while stack:
            part, nesting, depth = stack.pop()
            count += 1
            if count > MAX_PARTS:
                self.defects.append(f"too-many-parts: over {MAX_PARTS}")
                return
            self.defects.extend(type(defect).__name__ for defect in getattr(part, "defects", ()))
            ctype = _content_type(part)
            payload = part.get_payload()
            if not isinstance(payload, list):
                self._leaf(part, ctype, depth)
                continue
            if nesting >= MAX_NESTING:
                self.defects.append(f"too-deep: over {MAX_NESTING} levels")
                continue
            children = [child for child in payload if isinstance(child, Message)]
            if ctype == "message/delivery-status":
                self._add(ctype, _blocks_text(children), depth, "delivery-status.txt")
            elif ctype.startswith("message/"):
                # A forwarded (or returned) message: its header block, then its own parts.
                name = _safe(part.get_filename) or "forwarded-message.eml"
                self._add(ctype, _blocks_text(children[:1]), depth, name)
                stack.extend((child, nesting + 1, depth + 1) for child in reversed(children[:1]))
            else:
                stack.extend((child, nesting + 1, depth) for child in reversed(children))

    def _leaf(self, part: Message, ctype: str, depth: int) -> None:
        disposition = _safe(part.get_content_disposition) or None
        filename = _safe(part.get_filename)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            if depth == 0:  # a forwarded message's own text is not our body
                charset = _safe(part.get_content_charset).strip() or None
                text = _decode_bytes(_payload(part), charset, self.defects)
                (self.plain if ctype == "text/plain" else self.html).append(text)
            return
        inline = ctype.startswith("image/") and (
            disposition == "inline" or (disposition is None and part.get("content-id") is not None)
        )
        self._add(ctype, _payload(part), depth, filename, inline)

    def _add(self, ctype: str, data: bytes, depth: int, name: object, inline: bool = False) -> None:
        too_large = len(data) > self.max_attachment_bytes
        self.attachments.append(Attachment(
            filename=clean_filename(name, ctype), content_type=ctype,
            data=b"" if too_large else data, size=len(data),
            inline=inline, too_large=too_large, depth=depth,
        ))

    def body_text(self) -> str:
        """The plain-text parts; the HTML ones, as text, when those say nothing."""
        plain = "\n".join(self.plain).strip()
        if plain or not self.html:
            return plain
        return html_to_text("\n".join(self.html))


def _safe(method: object) -> str:
    """Call a compat32 accessor that may choke on garbage; '' when it does."""
    try:
        value = method()  # type: ignore[operator]
    except Exception:
        return ""
    return value if isinstance(value, str) else ""


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _content_type(part: Message) -> str:
    ctype = _safe(part.get_content_type).lower()
    return ctype if _CONTENT_TYPE.fullmatch(ctype) else "application/octet-stream"


def _blocks_text(blocks: Iterable[Message]) -> bytes:
    """Header blocks (a forwarded message's, or a delivery report's) as text."""
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines.extend(f"{_clean(name)}: {_header_text(value)}" for name, value in block.raw_items())
    return ("\r\n".join(lines) + "\r\n").encode("utf-8") if lines else b""


# --- text helpers --------------------------------------------------------------


def _unsurrogate(text: str) -> str:
    """Raw 8-bit header bytes (kept as surrogates by the parser): UTF-8, else Windows-1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _clean(text: str) -> str:
    """Unfold and drop control characters: no CR/LF ever leaves parse in a header value."""
    text = _INVISIBLE.sub("", text)
    return _CONTROL.sub(lambda m: "" if m.group() in "\r\n" else " ", text).strip()


def _decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except LookupError:
            if defects is not None:
                defects.append(f"unknown-charset: {_clean(candidate)[:40]}")
        except Exception:  # undecodable in it, or an odd codec
            pass
    return data.decode("latin-1")


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words, linearly; unknown charsets fall back, never raise."""
    if "=?" not in value or len(value) > _DECODE_CAP:
        return value
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            out.append(chunk.decode("raw-unicode-escape", "replace"))
        else:
            out.append(_decode_bytes(chunk, charset))
    return "".join(out)


def _header_text(value: str) -> str:
    return _clean(_unsurrogate(_decode_words(_unsurrogate(value))))


def _decode_subject(value: str) -> str:
    value = _unsurrogate(value)
    if "=?" in value and len(value) <= _REGISTRY_CAP:
        try:
            return _clean(_unsurrogate(str(email_policy.default.header_factory("subject", value))))
        except Exception:  # fall back to the linear decoder
            pass
    return _header_text(value)


def _raw_headers(message: Message, defects: list[str]) -> list[tuple[str, str]]:
    try:
        items = list(message.raw_items())
    except Exception:
        return []
    if len(items) > MAX_HEADERS:
        defects.append(f"too-many-headers: over {MAX_HEADERS}")
        items = items[:MAX_HEADERS]
    return [
        (_clean(name).lower(), value if isinstance(value, str) else str(value))
        for name, value in items
    ]


def _addresses(values: list[str], defects: list[str]) -> list[str]:
    """Lower-case addr-specs from every occurrence of an address header, in order."""
    text = ", ".join(_clean(_unsurrogate(value)) for value in values)
    if len(text) > _ADDRESS_CAP:
        defects.append("address-header-cut")
        text = text[:_ADDRESS_CAP]
    try:
        found = [address for _, address in getaddresses([text])]
    except Exception:  # getaddresses recurses on some garbage
        defects.append("unparseable-addresses")
        found = _ADDRESS.findall(text)
    seen: dict[str, None] = {}
    for address in found:
        address = address.strip().lower()
        if _ADDRESS.fullmatch(address):
            seen.setdefault(address)
    return list(seen)


def _return_path(values: list[str], defects: list[str]) -> str | None:
    """None without the header; "" for the null sender <>; else the address."""
    if not values:
        return None
    written = re.sub(r"\s+", "", _clean(_unsurrogate(values[0])))
    if written in ("", "<>"):
        return ""
    found = _addresses(values, defects)
    return found[0] if found else written.strip("<>").lower()


def _message_ids(values: list[str]) -> list[str]:
    ids: dict[str, None] = {}
    for value in values:
        for found in _MESSAGE_ID.findall(re.sub(r"\s+", "", _unsurrogate(value))):
            ids.setdefault(_clean(found))
    return list(ids)


def clean_filename(name: object, content_type: str = "application/octet-stream") -> str:
    """A safe file name: decoded, no path, no '..', no control characters, at most 200 chars."""
    text = _unsurrogate(name) if isinstance(name, str) else ""
    text = _decode_words(text)
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    while ".." in text:
        text = text.replace("..", ".")
    text = text.strip(" .")
    if len(text) > MAX_FILENAME:
        stem, dot, extension = text.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            text = stem[: MAX_FILENAME - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            text = text[:MAX_FILENAME]
    if not text:
        text = "attachment" + (mimetypes.guess_extension(content_type, strict=True) or "")
    return text


# --- HTML to text: one linear pass, no parser that can go quadratic -----------
