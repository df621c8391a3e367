"""Read a flat PDF (the Word form printed or saved as PDF) from its words.

Each page's words are put into the table cells pdfplumber finds from the
ruling lines, or into lines of text outside tables. Lines are joined back
into paragraphs where the text merely wrapped (the next word would not have
fitted), and kept apart where the writer broke the line (a short line, a
paragraph gap, a change between bold label and plain answer). Headers and
footers repeated on several pages are dropped so a long answer runs on
across a page break.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pdfplumber.table import Table

from .labels import LabelMatcher
from .layout import Answers, Cell, Row, read_rows

MAX_PAGES = 50
MARGIN_SHARE = 0.09  # top and bottom share of a page where headers and footers live
CELL_PADDING = 6.0
HYPHENS = ("-", "\u2010", "\u2011")  # hyphen-minus, hyphen, non-breaking hyphen


@dataclass
class Line:
    words: list[dict]

    @property
    def top(self) -> float:
        return min(w["top"] for w in self.words)

    @property
    def bottom(self) -> float:
        return max(w["bottom"] for w in self.words)

    @property
    def x0(self) -> float:
        return self.words[0]["x0"]

    @property
    def x1(self) -> float:
        return self.words[-1]["x1"]

    @property
    def size(self) -> float:
        return max(w.get("size", 10.0) for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w["text"] for w in self.words)


def _bold(word: dict) -> bool:
    return "bold" in str(word.get("fontname", "")).lower()


def group_lines(words: list[dict]) -> list[Line]:
    lines: list[Line] = []
    for word in sorted(words, key=lambda w: (round(w["top"]), w["x0"])):
        for line in reversed(lines[-3:]):
            if abs(line.words[0]["top"] - word["top"]) < 0.5 * word.get("size", 10.0):
                line.words.append(word)
                break
        else:
            lines.append(Line([word]))
    for line in lines:
        line.words.sort(key=lambda w: w["x0"])
    lines.sort(key=lambda ln: (ln.top, ln.x0))
    return lines


def split_segments(line: Line) -> list[Line]:
    """Cut a line at wide gaps: "Surname        O'Connor" -> two segments."""
    segments = [Line([line.words[0]])]
    for word in line.words[1:]:
        gap = word["x0"] - segments[-1].words[-1]["x1"]
        if gap > 2.5 * word.get("size", 10.0):
            segments.append(Line([word]))
        else:
            segments[-1].words.append(word)
    return segments


def continues_line(before: Line, after: Line, edge: float, over_page: bool = False) -> bool:
    """`after` carries on the paragraph of `before`: the writer wrapped the line.

    It did when the next line's first word would not have fitted on this one. (Some
    writers also break after a hyphen, some do not: a break the writer made before a
    hyphenated word whose first part would have fitted reads as a wrap, a space.)
    A paragraph gap, a change between bold label and plain answer, or an indent
    is a break the writer made."""
    first = after.words[0]
    space = 0.28 * before.size
    would_fit = before.x1 + space + (first["x1"] - first["x0"]) < edge - 1.0
    gap = after.top - before.bottom
    return not (
        would_fit
        or (gap > 0.6 * before.size and not over_page)
        or _bold(before.words[-1]) != _bold(first)
        or after.x0 > before.x0 + 2.0 * before.size
    )


def glue(before: Line, after: Line, edge: float, left: float) -> str:
    """What stood between two wrapped lines: a space, or nothing where the writer broke
    one token: after a hyphen it carries ("Nowak-" / "Żelazny"), or at the edge of
    a token too wide for the line ("...@sedgehill.e" / "xample.sch.uk"). Never a
    character that was not printed."""
    last, first = before.words[-1], after.words[0]
    if len(last["text"]) > 1 and last["text"].endswith(HYPHENS) and first["text"][:1].isalnum():
        return ""
    # A token too wide for any line: writers start it on a line of its own and break
    # it where the line is full. Two words that merely both were long stay two words.
    room = edge - before.x1
    first_char = (first["x1"] - first["x0"]) / max(len(first["text"]), 1)
    joined = (last["x1"] - last["x0"]) + (first["x1"] - first["x0"])
    alone = last["x0"] <= left + first_char
    if alone and room < 1.5 * first_char and joined > edge - left - 1.0:
        return ""
    return " "


@dataclass
class Paragraph:
    lines: list[Line]
    text: str


def paragraphs(lines: list[Line], right_edge: float, left: float | None = None) -> list[Paragraph]:
    """Each paragraph with its lines: wrapped lines joined, the writer's breaks kept."""
    if not lines:
        return []
    edge = max(right_edge, max(ln.x1 for ln in lines))
    left = min(ln.x0 for ln in lines) if left is None else left
    found = [Paragraph([lines[0]], lines[0].text)]
    for before, after in zip(lines, lines[1:], strict=False):
        if continues_line(before, after, edge):
            found[-1].lines.append(after)
            found[-1].text += glue(before, after, edge, left) + after.text
        else:
            found.append(Paragraph([after], after.text))
    return found


def join_wrapped(lines: list[Line], right_edge: float, left: float | None = None) -> str:
    return "\n".join(p.text for p in paragraphs(lines, right_edge, left))


@dataclass
class Edges:
    """Where a cell's text starts and ends, to tell whether it runs on over a page."""

    first: Line
    last: Line
    left: float
    edge: float
    boxed: bool  # inside a table cell (its edge is the cell's), else estimated from the text


def _inside(word: dict, box: tuple[float, float, float, float]) -> bool:
    x = (word["x0"] + word["x1"]) / 2
    y = (word["top"] + word["bottom"]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _overlap(one: tuple[float, ...], other: tuple[float, ...]) -> bool:
    return one[0] < other[2] and other[0] < one[2] and one[1] < other[3] and other[1] < one[3]


def drawn_tables(page) -> list:
    """The tables drawn on the page, with the boxes standing alone that pdfplumber
    leaves out (a table of one cell: a box by itself, or the part of a table row a
    page break cut off) unless they hold or touch another cell (a frame round a page)."""
    finder = page.debug_tablefinder()
    tables = list(finder.tables)
    grouped = {cell for table in tables for cell in table.cells}
    for cell in finder.cells:
        if cell not in grouped and not any(
            other is not cell and _overlap(cell, other) for other in finder.cells
        ):
            tables.append(Table(page, [cell]))
    return sorted(tables, key=lambda table: (table.bbox[1], table.bbox[0]))


@dataclass
class Geometry:
    """What the rows' text does not say: where each text cell starts and ends (by id
    of the Cell), and the left and right sides of each table row's cells (by id of
    the Row)."""

    edges: dict[int, Edges] = field(default_factory=dict)
    columns: dict[int, list[tuple[float, float]]] = field(default_factory=dict)


def page_rows(page, page_no: int, repeated: set[str],
              geometry: Geometry | None = None) -> list[tuple[float, Row]]:
    """Rows of one page, each with its top for reading order; `geometry` gets each
    text cell's first and last line and each table row's columns."""
    geometry = Geometry() if geometry is None else geometry
    edges = geometry.edges
    words = page.extract_words(extra_attrs=["fontname", "size"])
    placed: list[tuple[float, Row]] = []
    used: set[int] = set()
    for table_no, table in enumerate(drawn_tables(page), start=1):
        for row_no, row in enumerate(table.rows, start=1):
            cells, columns = [], []
            for box in row.cells:
                if box is None:
                    continue
                hits = [i for i, w in enumerate(words) if i not in used and _inside(w, box)]
                used.update(hits)
                inside = group_lines([words[i] for i in hits])
                left, edge = box[0] + CELL_PADDING, box[2] - CELL_PADDING
                cell = Cell(join_wrapped(inside, edge, left),
                            f"page {page_no} table {table_no} row {row_no}")
                if inside:
                    edges[id(cell)] = Edges(inside[0], inside[-1], left, max(edge, inside[-1].x1),
                                           True)
                cells.append(cell)
                columns.append((box[0], box[2]))
            if cells:
                table_row = Row(cells, in_table=True)
                geometry.columns[id(table_row)] = columns
                placed.append((row.bbox[1], table_row))
    outside = [w for i, w in enumerate(words) if i not in used]
    lines = [ln for ln in group_lines(outside) if _footer_key(ln, page) not in repeated]
    edge = max((ln.x1 for ln in lines), default=0.0)
    block: list[Line] = []

    def flush() -> None:
        left = min((ln.x0 for ln in block), default=0.0)
        for paragraph in paragraphs(block, edge):
            cell = Cell(paragraph.text, f"page {page_no}")
            edges[id(cell)] = Edges(paragraph.lines[0], paragraph.lines[-1], left, edge, False)
            placed.append((paragraph.lines[0].top, Row([cell])))
        block.clear()

    for line in lines:
        segments = split_segments(line)
        if len(segments) > 1:
            flush()
            cells = [Cell(s.text, f"page {page_no}") for s in segments]
            placed.append((line.top, Row(cells)))
        else:
            block.append(line)
    flush()
    placed.sort(key=lambda item: item[0])
    return placed


_DIGITS = re.compile(r"\d+")


def _footer_key(line: Line, page) -> str:
    if page.height * MARGIN_SHARE < line.top < page.height * (1 - MARGIN_SHARE):
        return ""
    return _DIGITS.sub("#", line.text)


def repeated_margins(pages) -> set[str]:
    """Header and footer lines (digits aside) printed on more than one page."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for page in pages:
        words = page.extract_words()
        keys = {_footer_key(ln, page) for ln in group_lines(words)}
        counts.update(k for k in keys if k)
    return {key for key, count in counts.items() if count > 1}


def read_text_pdf(pdf, matcher: LabelMatcher) -> tuple[Answers, int]:
    """Answers from a flat PDF, and how many characters its pages held."""
    pages = pdf.pages[:MAX_PAGES]
    repeated = repeated_margins(pages)
    rows: list[Row] = []
    geometry = Geometry()
    chars = 0
    for page_no, page in enumerate(pages, start=1):
        chars += len(page.chars)
        placed = [row for _top, row in page_rows(page, page_no, repeated, geometry)]
        if rows and placed and _split_row(rows[-1], placed[0], geometry, matcher):
            _join_split_row(rows[-1], placed.pop(0), geometry)
        elif rows and placed:
            _glue_over_page(rows[-1], placed[0], geometry.edges)
        rows.extend(placed)
    return read_rows(rows, matcher), chars


def _split_row(before: Row, after: Row, geometry: Geometry, matcher: LabelMatcher) -> bool:
    """`after`, the first row of a page, is the rest of `before`, the last row of the
    page before, which the writer split over the page break: its cells stand where
    those of `before` stand, and none of them starts with a question of its own."""
    above, below = geometry.columns.get(id(before)), geometry.columns.get(id(after))
    if not above or not below or len(above) != len(below):
        return False
    if any(abs(a[0] - b[0]) > 3.0 or abs(a[1] - b[1]) > 3.0
           for a, b in zip(above, below, strict=True)):
        return False
    return not any(cell.text.strip() and matcher.is_label(cell.text) for cell in after.cells)


def _join_split_row(before: Row, after: Row, geometry: Geometry) -> None:
    """Each cell of `before` carries on with the cell under it on the next page:
    wrapped lines joined as the writer wrapped them, a paragraph the writer ended
    kept apart. `after` is gone then (its ids forgotten, as they may be reused)."""
    edges = geometry.edges
    geometry.columns.pop(id(after), None)
    for upper, lower in zip(before.cells, after.cells, strict=True):
        end, begin = edges.get(id(upper)), edges.pop(id(lower), None)
        if begin is None:
            continue
        if end is None:
            upper.text, edges[id(upper)] = lower.text, begin
            continue
        edge = max(end.edge, end.last.x1)
        joint = "\n"
        if continues_line(end.last, begin.first, edge, over_page=True):
            joint = glue(end.last, begin.first, edge, end.left)
        upper.text += joint + lower.text
        edges[id(upper)] = Edges(end.first, begin.last, end.left, end.edge, True)


def _glue_over_page(before: Row, after: Row, edges: dict[int, Edges]) -> None:
    """A paragraph the writer wrapped at the foot of a page and carried on at the top
    of the next: the first cell there says how its text joins on (Cell.glue)."""
    filled = [c for c in before.cells if c.text.strip()]
    start = [c for c in after.cells if c.text.strip()]
    if not filled or len(start) != 1:
        return
    end, begin = edges.get(id(filled[-1])), edges.get(id(start[0]))
    if end is None or begin is None or abs(end.left - begin.left) > 3.0:
        return
    if end.boxed and begin.boxed and abs(end.edge - begin.edge) > 3.0:
        return  # another column
    edge = end.edge if end.boxed or not begin.boxed else begin.edge
    edge = max(edge, end.last.x1)
    if continues_line(end.last, begin.first, edge, over_page=True):
        start[0].glue = glue(end.last, begin.first, edge, end.left)
