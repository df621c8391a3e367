"""Read one attachment: sniff what it is, pick a reader, map failures to reasons.

Nothing here raises for a bad file: every failure becomes a review reason
(scan, encrypted, damaged, too-large, unsupported, ...).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from itertools import islice

from ..domain.models import Attachment
from ..domain.records import ReviewReason
from ..domain.rules import READ_KINDS, Rules
from . import office
from .docx_form import DocxError, read_docx
from .labels import LabelMatcher
from .layout import Answers
from .pdf_form import FormField, form_fields, has_filled_fields, read_form_fields
from .pdf_text import MAX_PAGES, group_lines, read_text_pdf

log = logging.getLogger(__name__)
IMAGE_PREFIX = "image/"


@dataclass
class FileResult:
    filename: str
    source: str  # pdf-form | pdf-text | docx | doc | odt | rtf | unsupported
    fields: dict[str, str] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    labels_found: int = 0
    reason: ReviewReason | None = None  # why it could not be read


def kind_of(attachment: Attachment, rules: Rules) -> str | None:
    """ "pdf", "docx", "doc", "odt", "rtf", a review reason, or None for a file that is
    not a form. What the bytes say beats what the name says."""
    name = attachment.filename.lower()
    extension = name[name.rfind(".") :] if "." in name else ""
    kind = rules.form_types.get(extension) or rules.review_types.get(extension)
    kind = kind or rules.content_types.get(attachment.content_type)
    if kind is None and attachment.content_type.startswith(IMAGE_PREFIX):
        kind = ReviewReason.SCAN
    if kind == ReviewReason.SCAN and (attachment.inline or attachment.size < rules.min_image_bytes):
        return None  # a logo or signature image
    head = attachment.data[:1024]
    if kind is None:
        return "pdf" if b"%PDF-" in head else None
    if kind not in READ_KINDS:
        return kind
    if head.startswith(b"PK\x03\x04"):
        kind = "odt" if b"opendocument.text" in head[:120] else "docx"
    elif head.startswith(OLE_MAGIC):
        kind = ReviewReason.ENCRYPTED if ENCRYPTED_OOXML in attachment.data else "doc"
    elif head.lstrip().startswith(b"{\\rtf"):
        kind = "rtf"
    elif b"%PDF-" in head:
        kind = "pdf"
    return kind


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc, and a password-protected .docx
ENCRYPTED_OOXML = "EncryptedPackage".encode("utf-16-le")


def read_attachment(attachment: Attachment, rules: Rules, matcher: LabelMatcher) -> FileResult:
    kind = kind_of(attachment, rules)
    result = FileResult(attachment.filename, "unsupported")
    if attachment.too_large:
        result.reason = ReviewReason.TOO_LARGE
        return result
    try:
        if kind == "pdf":
            return _read_pdf(attachment, matcher)
        if kind == "docx":
            answers = read_docx(attachment.data, matcher)
            return _result(attachment, "docx", answers)
        if kind in office.KINDS:
            if not office.available():
                result.reason = ReviewReason.UNSUPPORTED
                return result
            answers = read_docx(office.to_docx(attachment.data, kind), matcher)
            return _result(attachment, kind, answers)
    except (DocxError, office.OfficeError) as err:
        result.reason = err.reason
        return result
    except MemoryError:
        result.reason = ReviewReason.DAMAGED
        return result
    except Exception as err:  # noqa: BLE001 - any reader failure means a damaged file
        log.info("attachment %d bytes unreadable: %s", attachment.size, type(err).__name__)
        result.reason = ReviewReason.DAMAGED
        return result
    # Not read: a review reason the rules gave the file type (checked at load).
    result.reason = ReviewReason(kind) if kind in set(ReviewReason) else ReviewReason.UNSUPPORTED
    return result


def _result(attachment: Attachment, source: str, answers: Answers) -> FileResult:
    return FileResult(
        attachment.filename, source, answers.fields, answers.where, answers.labels_found
    )


def _read_pdf(attachment: Attachment, matcher: LabelMatcher) -> FileResult:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfplumber.utils.exceptions import PdfminerException

    failed = FileResult(attachment.filename, "unsupported")
    if b"%PDF-" not in attachment.data[:1024]:
        failed.reason = ReviewReason.DAMAGED
        return failed
    try:
        pdf = pdfplumber.open(io.BytesIO(attachment.data))
    except PdfminerException as err:
        cause = err.args[0] if err.args else None
        encrypted = isinstance(cause, PDFPasswordIncorrect | PDFEncryptionError)
        failed.reason = ReviewReason.ENCRYPTED if encrypted else ReviewReason.DAMAGED
        return failed
    try:
        return _read_open_pdf(pdf, attachment, matcher)
    finally:
        for page in getattr(pdf, "_pages", []):  # not pdf.close(): it would walk every page
            page.close()
        pdf.stream.close()


def _read_open_pdf(pdf, attachment: Attachment, matcher: LabelMatcher) -> FileResult:
    _load_first_pages(pdf)
    failed = FileResult(attachment.filename, "unsupported")
    if not pdf.pages:
        failed.reason = ReviewReason.DAMAGED
        return failed
    fields = form_fields(pdf.doc.catalog)
    if has_filled_fields(fields):
        answers = read_form_fields(fields, matcher, _LabelsNear(pdf, matcher))
        if answers.labels_found >= matcher.rules.min_labels_found:
            return _result(attachment, "pdf-form", answers)
    answers, chars = read_text_pdf(pdf, matcher)
    if chars == 0 and not fields:
        if any(page.images for page in pdf.pages):
            failed.reason = ReviewReason.SCAN
            return failed
        return _result(attachment, "pdf-text", answers)  # blank: not-recognised
    if fields and answers.labels_found < matcher.rules.min_labels_found:
        return _result(attachment, "pdf-form", read_form_fields(fields, matcher))
    return _result(attachment, "pdf-text", answers)


def _load_first_pages(pdf) -> None:
    """Give pdfplumber only the first MAX_PAGES pages (it would walk them all)."""
    from pdfminer.pdfpage import PDFPage
    from pdfplumber.page import Page

    pages, doctop = [], 0.0
    for number, page in enumerate(islice(PDFPage.create_pages(pdf.doc), MAX_PAGES), start=1):
        pages.append(Page(pdf, page, page_number=number, initial_doctop=doctop))
        doctop += pages[-1].height
    pdf._pages = pages


class _LabelsNear:
    """The text printed left of, or just above, a form field's widget."""

    def __init__(self, pdf, matcher: LabelMatcher):
        self.pdf = pdf
        self.matcher = matcher
        self._lines: dict[int, list] = {}
        self._page_index: dict[int, int] | None = None

    def _page(self, page_id: int | None) -> int:
        if self._page_index is None:
            self._page_index = {
                p.page_obj.pageid: i for i, p in enumerate(self.pdf.pages[:MAX_PAGES])
            }
        return self._page_index.get(page_id, 0) if page_id is not None else 0

    def __call__(self, item: FormField) -> str:
        if not item.widgets:
            return ""
        page_id, (x0, y0, x1, y1) = item.widgets[0]
        index = self._page(page_id)
        if index >= len(self.pdf.pages[:MAX_PAGES]):
            return ""
        page = self.pdf.pages[index]
        if index not in self._lines:
            self._lines[index] = group_lines(page.extract_words(extra_attrs=["size"]))
        top, bottom = page.height - max(y0, y1), page.height - min(y0, y1)
        left, right = min(x0, x1), max(x0, x1)
        beside: list[list[dict]] = []  # words left of the widget, line by line
        above: list[dict] = []
        for line in self._lines[index]:
            words = [w for w in line.words if w["x1"] <= left + 1]
            if words:
                beside.append(words)
            if 0 <= top - line.bottom <= 30 and line.x0 < right and line.x1 > left:
                above = line.words
        block, overlapping = _label_block(beside, top, bottom)
        whole = " ".join(w["text"] for line in block for w in line)
        if whole and self.matcher.field(whole, None):
            return whole
        for words in [*overlapping, above]:
            for start in range(len(words)):  # "3. Surname" -> "Surname"
                text = " ".join(w["text"] for w in words[start:])
                if self.matcher.field(text, None):
                    return text
        return ""


def _label_block(
    lines: list[list[dict]], top: float, bottom: float
) -> tuple[list[list[dict]], list[list[dict]]]:
    """The lines left of a widget that overlap it, and those with the lines wrapped on."""

    def overlaps(line: list[dict]) -> bool:
        return line[0]["top"] <= bottom + 2 and line[0]["bottom"] >= top - 2

    hits = [i for i, line in enumerate(lines) if overlaps(line)]
    if not hits:
        return [], []
    first = last = hits[0]

    def close(a: list[dict], b: list[dict]) -> bool:
        size = a[0].get("size", 10.0)
        same_font = abs(b[0].get("size", 10.0) - size) < 0.5
        return same_font and 0 <= b[0]["top"] - a[0]["bottom"] < 0.6 * size

    while first > 0 and close(lines[first - 1], lines[first]):
        first -= 1
    while last + 1 < len(lines) and close(lines[last], lines[last + 1]):
        last += 1
    return lines[first : last + 1], lines[first : last + 1]
