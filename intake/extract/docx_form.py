"""Read a Word (.docx) referral form.

The document XML is read straight from the zip (after checking its declared
and real sizes, so a zip bomb costs nothing) with lxml, the parser
python-docx itself uses, without resolving entities. Body paragraphs and
tables become rows in reading order; check-box content controls
(w14:checkbox) and ☒/☐ characters become tick marks.
"""

from __future__ import annotations

import io
import zipfile

from lxml import etree

from ..domain.records import ReviewReason
from .labels import LabelMatcher
from .layout import Answers, Cell, Row, read_rows

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MAX_XML_BYTES = 20 * 1024 * 1024  # far above any real form's document.xml
MAX_RATIO = 200  # compression ratio above which an entry is a bomb


class DocxError(Exception):
    """The file is not a readable Word document: carries the review reason."""

    def __init__(self, reason: ReviewReason):
        super().__init__(reason)
        self.reason = reason


def _q(tag: str) -> str:
    prefix, _, name = tag.partition(":")
    return f"{{{W14 if prefix == 'w14' else W}}}{name}"


def read_document_xml(data: bytes) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        info = archive.getinfo("word/document.xml")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise DocxError(ReviewReason.DAMAGED) from err
    if info.flag_bits & 0x1:
        raise DocxError(ReviewReason.ENCRYPTED)
    if info.file_size > MAX_XML_BYTES or info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise DocxError(ReviewReason.TOO_LARGE)
    try:
        with archive.open(info) as handle:
            xml = handle.read(MAX_XML_BYTES + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DocxError(ReviewReason.DAMAGED) from err
    if len(xml) > MAX_XML_BYTES:
        raise DocxError(ReviewReason.TOO_LARGE)
    return xml


def _text(element: etree._Element) -> str:
    """Text of a paragraph (or run container), check-box controls as ☒/☐."""
    out: list[str] = []
    for node in element.iter(_q("w:t"), _q("w:tab"), _q("w:br"), _q("w:cr"), _q("w:sdt")):
        if node.tag == _q("w:sdt"):
            box = node.find(f"{_q('w:sdtPr')}/{_q('w14:checkbox')}")
            if box is not None:
                checked = box.find(_q("w14:checked"))
                value = checked.get(_q("w14:val")) if checked is not None else "0"
                out.append("☒" if value in ("1", "true") else "☐")
        elif _inside_checkbox(node) or _inside_placeholder(node):
            continue
        elif node.tag == _q("w:t"):
            out.append(node.text or "")
        elif node.tag == _q("w:tab"):
            out.append("\t")
        else:
            out.append("\n")
    return "".join(out)


def _enclosing_sdt(node: etree._Element) -> etree._Element | None:
    parent = node.getparent()
    while parent is not None:
        if parent.tag == _q("w:sdt"):
            return parent
        parent = parent.getparent()
    return None


def _inside_checkbox(node: etree._Element) -> bool:
    sdt = _enclosing_sdt(node)
    return sdt is not None and sdt.find(f"{_q('w:sdtPr')}/{_q('w14:checkbox')}") is not None


def _inside_placeholder(node: etree._Element) -> bool:
    sdt = _enclosing_sdt(node)
    return sdt is not None and sdt.find(f"{_q('w:sdtPr')}/{_q('w:showingPlcHdr')}") is not None


def _cell_text(tc: etree._Element) -> str:
    lines = []
    for child in tc.iter(_q("w:p")):
        lines.append(_text(child))
    return "\n".join(lines).strip("\n")


def _blocks(parent: etree._Element):
    """Paragraphs and tables in reading order, looking through block content controls."""
    for child in parent:
        if child.tag in (_q("w:p"), _q("w:tbl")):
            yield child
        elif child.tag == _q("w:sdt"):
            content = child.find(_q("w:sdtContent"))
            if content is not None:
                yield from _blocks(content)


def _cells(row: etree._Element):
    for child in row:
        if child.tag == _q("w:tc"):
            yield child
        elif child.tag == _q("w:sdt"):
            content = child.find(_q("w:sdtContent"))
            if content is not None:
                yield from _cells(content)


def docx_rows(xml: bytes) -> list[Row]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as err:
        raise DocxError(ReviewReason.DAMAGED) from err
    body = root.find(_q("w:body"))
    if body is None:
        raise DocxError(ReviewReason.DAMAGED)
    rows: list[Row] = []
    paragraph_no = table_no = 0
    for block in _blocks(body):
        if block.tag == _q("w:p"):
            paragraph_no += 1
            text = _text(block)
            if text.strip():
                rows.append(Row([Cell(text, f"paragraph {paragraph_no}")]))
            continue
        table_no += 1
        for row_no, tr in enumerate(block.findall(_q("w:tr")), start=1):
            where = f"table {table_no} row {row_no}"
            cells = [Cell(_cell_text(tc), where) for tc in _cells(tr)]
            rows.append(Row(cells, in_table=True))
    return rows


def read_docx(data: bytes, matcher: LabelMatcher) -> Answers:
    return read_rows(docx_rows(read_document_xml(data)), matcher)
