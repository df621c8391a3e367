"""PDF makers behind tests/support/forms.py: fillable, flat, scans and raw hostile PDFs."""

from __future__ import annotations

import io
import random
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
LONG_LABEL = 60  # labels longer than this get a row of their own, answer beneath
Outline = list[tuple[str, list[tuple[str, str, str]]]]


def _fonts() -> None:
    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", f"{FONT_DIR}/DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont("DejaVu-Bold", f"{FONT_DIR}/DejaVuSans-Bold.ttf"))


def _ticks(value: str) -> str:
    yes, no = ("☒", "☐") if value == "Yes" else ("☐", "☒") if value == "No" else ("☐", "☐")
    return f"{yes} Yes {no} No"


# --- Fillable (AcroForm) -------------------------------------------------------------


def fillable(
    outline: Outline, values: dict[str, str], naming: str, field_names: dict[str, str]
) -> bytes:
    """naming: "meaningful" (SubjectSurname), "tooltip" (Text1 + /TU), "none" (Text1 only)."""
    _fonts()
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    form = page.acroForm
    y = A4[1] - 60
    counter = 0
    typed: dict[str, str] = {}  # field name -> value, set afterwards (reportlab is Latin-1)
    for heading, questions in outline:
        if y < 140:
            page.showPage()
            y = A4[1] - 60
        page.setFont("DejaVu-Bold", 13)
        page.drawString(40, y, heading)
        y -= 26
        for key, label, validator in questions:
            value = values.get(key, "")
            lines = _wrap(label, "DejaVu-Bold", 9, 170)
            multiline = key in ("concerns", "complex_needs", "other_information", "subject_address")
            height = max(14 * len(lines), 90 if key == "concerns" else 48 if multiline else 18)
            if y - height < 50:
                page.showPage()
                y = A4[1] - 60
            page.setFont("DejaVu-Bold", 9)
            for number, line in enumerate(lines):
                page.drawString(40, y - 11 - 12 * number, line)
            counter += 1
            name = field_names[key] if naming == "meaningful" else f"Text{counter}"
            tooltip = label if naming == "tooltip" else ""
            box = {"x": 220, "y": y - height, "width": 330, "height": height}
            if validator == "yes-no":
                _yes_no(form, page, naming, name, label, value, box, counter)
            else:
                typed[name] = value
                form.textfield(
                    name=name,
                    tooltip=tooltip,
                    value="",
                    fontName="Helvetica",
                    fontSize=8,
                    borderWidth=0.5,
                    fieldFlags="multiline" if multiline else "",
                    **box,
                )
            y -= height + 8
    page.save()
    return _set_values(out.getvalue(), typed)


def _set_values(data: bytes, typed: dict[str, str]) -> bytes:
    """Write text answers as /V, as a PDF editor filling the form would (UTF-16 if needed)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        for annotation in page.get("/Annots", []):
            widget = annotation.get_object()
            name = widget.get("/T")
            if name in typed and typed[name]:
                widget[NameObject("/V")] = TextStringObject(typed[name])
    writer.set_need_appearances_writer(True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _yes_no(form, page, naming, name, label, value, box, counter) -> None:
    x, y = box["x"], box["y"] + box["height"] - 14
    page.setFont("DejaVu", 9)
    if naming == "none":  # a radio group, known only by the label printed beside it
        for offset, option in ((0, "Yes"), (60, "No")):
            form.radio(
                name=f"Group{counter}",
                value=option,
                selected=value == option,
                x=x + offset,
                y=y,
                size=12,
                buttonStyle="circle",
            )
            page.drawString(x + offset + 16, y + 2, option)
        return
    for offset, option in ((0, "Yes"), (60, "No")):
        box_name = f"{name}{option}" if naming == "meaningful" else f"Check Box{counter}{option[0]}"
        form.checkbox(
            name=box_name,
            tooltip=f"{label} {option}" if naming == "tooltip" else "",
            checked=value == option,
            x=x + offset,
            y=y,
            size=12,
            buttonStyle="cross",
        )
        page.drawString(x + offset + 16, y + 2, option)


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.lib.utils import simpleSplit

    return simpleSplit(text, font, size, width) or [""]


# --- Flat (Word saved as PDF) ----------------------------------------------------------


def flat(outline: Outline, values: dict[str, str]) -> bytes:
    _fonts()
    label_style = ParagraphStyle("label", fontName="DejaVu-Bold", fontSize=9.5, leading=12)
    answer_style = ParagraphStyle("answer", fontName="DejaVu", fontSize=9.5, leading=12)
    spaced = ParagraphStyle("spaced", parent=answer_style, spaceBefore=8)
    heading_style = ParagraphStyle("heading", fontName="DejaVu-Bold", fontSize=13, leading=16)
    story: list = []
    for heading, questions in outline:
        story += [Spacer(1, 10), Paragraph(escape(heading), heading_style), Spacer(1, 4)]
        rows: list[list] = []
        spans: list[int] = []
        for key, label, validator in questions:
            value = values.get(key, "")
            if validator == "yes-no":
                value = _ticks(value)
            label_cell = Paragraph(escape(label), label_style)
            paragraphs = value.split("\n") if value else []
            if len(label) > LONG_LABEL or key == "concerns":
                spans.append(len(rows))
                rows.append([label_cell, ""])
                for number, text in enumerate(paragraphs or [""]):
                    spans.append(len(rows))
                    style = spaced if number else answer_style
                    rows.append([Paragraph(escape(text), style), ""])
            else:
                cell = [Paragraph(escape(text), answer_style) for text in paragraphs]
                rows.append([label_cell, cell])
        table = Table(rows, colWidths=[170, 330])
        commands = [("GRID", (0, 0), (-1, -1), 0.5, "black"), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        commands += [("SPAN", (0, row), (1, row)) for row in spans]
        table.setStyle(TableStyle(commands))
        story.append(table)
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, topMargin=60, bottomMargin=60)
    document.build(story, onFirstPage=_margins, onLaterPages=_margins)
    return out.getvalue()


def _margins(page, document) -> None:
    page.saveState()
    page.setFont("DejaVu", 8)
    page.drawCentredString(A4[0] / 2, A4[1] - 30, "OFFICIAL-SENSITIVE (when complete)")
    page.drawCentredString(
        A4[0] / 2, 30, f"Prevent National Referral Form, page {page.getPageNumber()}"
    )
    page.restoreState()


# --- Unreadable and hostile ------------------------------------------------------------


def raw_pdf(objects: list[bytes], trailer_root: int = 1) -> bytes:
    """A PDF from numbered object bodies (1, 2, ...) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer_root,
        xref,
    )
    return bytes(out)


def many_pages(pages: int) -> bytes:
    """A flat tree of `pages` pages sharing one content stream."""
    content = b"BT /F1 12 Tf 72 720 Td (Appendix) Tj ET"
    kids = b" ".join(b"%d 0 R" % (5 + n) for n in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
        b"/Resources << /Font << /F1 4 0 R >> >> >>"
    )
    return raw_pdf(objects + [page] * pages)


def noise_jpeg(width: int = 900, height: int = 1200) -> bytes:
    from PIL import Image

    generator = random.Random(7)
    image = Image.frombytes("L", (width, height), generator.randbytes(width * height))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=60)
    return out.getvalue()


def scan() -> bytes:
    """A PDF page holding only a picture of a page: no text at all."""
    from reportlab.lib.utils import ImageReader

    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.drawImage(ImageReader(io.BytesIO(noise_jpeg())), 20, 20, A4[0] - 40, A4[1] - 40)
    page.save()
    return out.getvalue()


# --- Arranged (property tests): each answer right of, below, or in its label's box ----

ARRANGEMENTS = ("right", "below", "box", "inline")


def arranged(outline: Outline, values: dict[str, str], placing: dict[str, str],
             label_width: float, answer_width: float, font_size: float = 9.5) -> bytes:
    """A flat form where question `key` is laid out as `placing[key]`: "right" (next
    cell), "below" (the row under the label), "box" (under the label in the same
    cell) or "inline" ("Label: answer" in one paragraph)."""
    _fonts()
    leading = font_size * 1.3
    label_style = ParagraphStyle("l", fontName="DejaVu-Bold", fontSize=font_size, leading=leading)
    answer_style = ParagraphStyle("a", fontName="DejaVu", fontSize=font_size, leading=leading)
    heading_style = ParagraphStyle("h", fontName="DejaVu-Bold", fontSize=13, leading=16)
    story: list = []
    for heading, questions in outline:
        story += [Spacer(1, 10), Paragraph(escape(heading), heading_style), Spacer(1, 4)]
        rows: list[list] = []
        spans: list[int] = []
        for key, label, validator in questions:
            value = values.get(key, "")
            value = _ticks(value) if validator == "yes-no" else value
            answers = [Paragraph(escape(text), answer_style) for text in value.split("\n")
                       if text]
            label_cell = Paragraph(escape(label), label_style)
            how = placing.get(key, "right")
            if how == "right":
                rows.append([label_cell, answers])
                continue
            spans.append(len(rows))
            if how == "below":
                rows.append([label_cell, ""])
                spans.append(len(rows))
                rows.append([answers, ""])
            elif how == "box":
                rows.append([[label_cell, *answers], ""])
            else:
                first, *rest = value.split("\n") if value else [""]
                inline = Paragraph(f"<b>{escape(label)}:</b> {escape(first)}", answer_style)
                more = [Paragraph(escape(text), answer_style) for text in rest if text]
                rows.append([[inline, *more], ""])
        table = Table(rows, colWidths=[label_width, answer_width])
        commands = [("GRID", (0, 0), (-1, -1), 0.5, "black"), ("VALIGN", (0, 0), (-1, -1), "TOP")]
        commands += [("SPAN", (0, row), (1, row)) for row in spans]
        table.setStyle(TableStyle(commands))
        story.append(table)
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, topMargin=60, bottomMargin=60).build(story)
    return out.getvalue()
