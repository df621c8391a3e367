"""Word (.docx) maker behind tests/support/forms.py: headings and label | answer tables."""

from __future__ import annotations

import io

from docx import Document
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
W14 = 'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"'
LONG_LABEL = 60
Outline = list[tuple[str, list[tuple[str, str, str]]]]


def _checkbox(checked: bool) -> str:
    glyph = "☒" if checked else "☐"
    return (
        f'<w:sdt {W} {W14}><w:sdtPr><w14:checkbox><w14:checked w14:val="{int(checked)}"/>'
        '<w14:checkedState w14:val="2612" w14:font="MS Gothic"/>'
        '<w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/></w14:checkbox></w:sdtPr>'
        f"<w:sdtContent><w:r><w:t>{glyph}</w:t></w:r></w:sdtContent></w:sdt>"
    )


def _placeholder() -> str:
    return (
        f"<w:sdt {W}><w:sdtPr><w:showingPlcHdr/><w:text/></w:sdtPr><w:sdtContent>"
        "<w:r><w:t>Click or tap here to enter text.</w:t></w:r></w:sdtContent></w:sdt>"
    )


def _fill(cell, value: str, yes_no: bool, controls: bool) -> None:
    paragraph = cell.paragraphs[0]
    if yes_no and controls:
        for option in ("Yes", "No"):
            paragraph._p.append(parse_xml(_checkbox(value == option)))
            paragraph.add_run(f" {option}  ")
        return
    if yes_no:
        yes, no = ("☒", "☐") if value == "Yes" else ("☐", "☒") if value == "No" else ("☐", "☐")
        paragraph.add_run(f"{yes} Yes  {no} No")
        return
    if not value and controls:
        paragraph._p.append(parse_xml(_placeholder()))
        return
    lines = value.split("\n")
    paragraph.add_run(lines[0])
    for line in lines[1:]:
        cell.add_paragraph(line)


def make_docx(outline: Outline, values: dict[str, str], controls: bool) -> bytes:
    document = Document()
    document.add_heading("Prevent National Referral Form", level=1)
    for heading, questions in outline:
        document.add_heading(heading, level=2)
        table = document.add_table(rows=0, cols=2)
        table.style = "Table Grid"
        for key, label, validator in questions:
            value = values.get(key, "")
            yes_no = validator == "yes-no"
            if len(label) > LONG_LABEL or key == "concerns":
                label_row, answer_row = table.add_row(), table.add_row()
                label_cell = label_row.cells[0].merge(label_row.cells[1])
                answer_cell = answer_row.cells[0].merge(answer_row.cells[1])
            else:
                row = table.add_row()
                label_cell, answer_cell = row.cells
            label_cell.paragraphs[0].add_run(label).bold = True
            _fill(answer_cell, value, yes_no, controls)
    document.add_paragraph()  # Word always ends the body with a paragraph, never a table
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _answer(paragraph, cell_or_doc, value: str, yes_no: bool) -> None:
    """The answer as written: ticks for yes/no, one paragraph a line otherwise."""
    if yes_no:
        yes, no = ("☒", "☐") if value == "Yes" else ("☐", "☒") if value == "No" else ("☐", "☐")
        paragraph.add_run(f"{yes} Yes  {no} No")
        return
    lines = value.split("\n")
    paragraph.add_run(lines[0])
    for line in lines[1:]:
        cell_or_doc.add_paragraph(line)


def make_docx_boxes(outline: Outline, values: dict[str, str]) -> bytes:
    """The printed-form layout: each question in a bordered box, its answer on the
    lines under it inside the same box; short questions two boxes to a row."""
    document = Document()
    document.add_heading("Prevent National Referral Form", level=1)
    for heading, questions in outline:
        document.add_heading(heading, level=2)
        table = document.add_table(rows=0, cols=2)
        table.style = "Table Grid"
        pending: list[tuple[str, str, str]] = []

        def place(group: list[tuple[str, str, str]], table=table) -> None:
            row = table.add_row()
            cells = [row.cells[0].merge(row.cells[1])] if len(group) == 1 else row.cells
            for cell, (key, label, validator) in zip(cells, group, strict=False):
                cell.paragraphs[0].add_run(label).bold = True
                _answer(cell.add_paragraph(), cell, values.get(key, ""), validator == "yes-no")

        for question in questions:
            key, label, _validator = question
            if len(label) > 30 or key in ("concerns", "complex_needs", "other_information",
                                          "subject_address"):
                if pending:
                    place(pending)
                    pending = []
                place([question])
            else:
                pending.append(question)
                if len(pending) == 2:
                    place(pending)
                    pending = []
        if pending:
            place(pending)
    document.add_paragraph()  # Word always ends the body with a paragraph, never a table
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_docx_lines(outline: Outline, values: dict[str, str]) -> bytes:
    """No tables: "Label: answer" lines, and long answers on the lines under their label."""
    document = Document()
    document.add_heading("Prevent National Referral Form", level=1)
    for heading, questions in outline:
        document.add_heading(heading, level=2)
        for key, label, validator in questions:
            value = values.get(key, "")
            if "\n" in value or len(value) > 80 or len(label) > LONG_LABEL:
                document.add_paragraph().add_run(label).bold = True
                _answer(document.add_paragraph(), document, value, validator == "yes-no")
                continue
            paragraph = document.add_paragraph()
            paragraph.add_run(f"{label}:").bold = True
            paragraph.add_run(" ")
            _answer(paragraph, document, value, validator == "yes-no")
    document.add_paragraph()  # Word always ends the body with a paragraph, never a table
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


LINE = 14  # points: every line of a form split by split_over_page
BODY_FOOT = 720  # points: where the body of a page (Letter, 1-inch margins) ends


def split_over_page(docx: bytes, heading: str, lines: int) -> bytes:
    """The form with every line exactly LINE points high and the table under `heading`
    moved to the foot of a new page, so that its first row holds `lines` lines on that
    page and carries the rest over to the next, as a word processor splits a row."""
    from docx.enum.text import WD_LINE_SPACING
    from docx.oxml import OxmlElement
    from docx.shared import Pt
    from docx.text.paragraph import Paragraph

    document = Document(io.BytesIO(docx))
    [title] = [p for p in document.paragraphs if p.text == heading]
    title._p.addnext(OxmlElement("w:p"))
    spacer = Paragraph(title._p.getnext(), title._parent)
    spacer.paragraph_format.page_break_before = True
    top = int(document.sections[0].top_margin.pt)
    # The row's lines end half a line clear of the foot of the page, the next one past it.
    exactly = {spacer: BODY_FOOT - top - LINE * lines - LINE // 2}
    for table in document.tables:
        exactly.update((p, LINE) for row in table.rows for cell in row.cells
                       for p in cell.paragraphs)
    for paragraph, height in exactly.items():
        paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        paragraph.paragraph_format.line_spacing = Pt(height)
        paragraph.paragraph_format.space_before = paragraph.paragraph_format.space_after = Pt(0)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def typed_line_breaks(docx: bytes) -> bytes:
    """The form with each table cell's paragraphs made one paragraph, the lines kept
    apart by typed line breaks (Shift+Enter, w:br) instead of paragraph ends."""
    document = Document(io.BytesIO(docx))
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                first, *rest = cell.paragraphs
                for paragraph in rest:
                    first.add_run().add_break()
                    for run in paragraph.runs:
                        first._p.append(run._r)
                    paragraph._p.getparent().remove(paragraph._p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def continued_rows(docx: bytes) -> bytes:
    """The form with each label | answer row whose answer runs over several lines made
    one table row a line, as people type an address into a grid: the label on the
    first row only, its cell left empty in the rows added under it."""
    import copy

    document = Document(io.BytesIO(docx))
    for table in document.tables:
        for row in list(table.rows):
            cells = row.cells
            if len(cells) != 2 or cells[0]._tc is cells[1]._tc:
                continue  # a merged row: a long question over its answer
            answer = cells[1]
            _first, *rest = answer.paragraphs
            below = row._tr
            for paragraph in rest:
                added = copy.deepcopy(row._tr)
                below.addnext(added)
                below = added
                label_tc, answer_tc = added.findall(qn("w:tc"))
                for tc, keep in ((label_tc, None), (answer_tc, paragraph._p)):
                    for p in tc.findall(qn("w:p")):
                        tc.remove(p)
                    tc.append(copy.deepcopy(keep) if keep is not None else OxmlElement("w:p"))
                paragraph._p.getparent().remove(paragraph._p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
