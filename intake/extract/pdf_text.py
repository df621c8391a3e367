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
from dataclasses import dataclass

from .labels import LabelMatcher
from .layout import Answers, Cell, Row, read_rows

MAX_PAGES = 50
MARGIN_SHARE = 0.09  # top and bottom share of a page where headers and footers live
CELL_PADDING = 6.0


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


def paragraphs(lines: list[Line], right_edge: float) -> list[tuple[float, str]]:
    """(top, text) of each paragraph: wrapped lines joined by spaces, breaks kept."""
    if not lines:
        return []
    edge = max(right_edge, max(ln.x1 for ln in lines))
    found = [(lines[0].top, lines[0].text)]
    for before, after in zip(lines, lines[1:], strict=False):
        first = after.words[0]
        space = 0.28 * before.size
        would_fit = before.x1 + space + (first["x1"] - first["x0"]) < edge - 1.0
        gap = after.top - before.bottom
        new_paragraph = (
            would_fit
            or gap > 0.6 * before.size
            or _bold(before.words[-1]) != _bold(first)
            or after.x0 > before.x0 + 2.0 * before.size
        )
        if new_paragraph:
            found.append((after.top, after.text))
        else:
            found[-1] = (found[-1][0], found[-1][1] + " " + after.text)
    return found


def join_wrapped(lines: list[Line], right_edge: float) -> str:
    return "\n".join(text for _top, text in paragraphs(lines, right_edge))


def _inside(word: dict, box: tuple[float, float, float, float]) -> bool:
    x = (word["x0"] + word["x1"]) / 2
    y = (word["top"] + word["bottom"]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def page_rows(page, page_no: int, repeated: set[str]) -> list[tuple[float, Row]]:
    """Rows of one page, each with its top for reading order."""
    words = page.extract_words(extra_attrs=["fontname", "size"])
    placed: list[tuple[float, Row]] = []
    used: set[int] = set()
    for table_no, table in enumerate(page.find_tables(), start=1):
        for row_no, row in enumerate(table.rows, start=1):
            cells = []
            for box in row.cells:
                if box is None:
                    continue
                hits = [i for i, w in enumerate(words) if i not in used and _inside(w, box)]
                used.update(hits)
                inside = [words[i] for i in hits]
                text = join_wrapped(group_lines(inside), box[2] - CELL_PADDING)
                cells.append(Cell(text, f"page {page_no} table {table_no} row {row_no}"))
            if cells:
                placed.append((row.bbox[1], Row(cells, in_table=True)))
    outside = [w for i, w in enumerate(words) if i not in used]
    lines = [ln for ln in group_lines(outside) if _footer_key(ln, page) not in repeated]
    edge = max((ln.x1 for ln in lines), default=0.0)
    block: list[Line] = []

    def flush() -> None:
        for top, text in paragraphs(block, edge):
            placed.append((top, Row([Cell(text, f"page {page_no}")])))
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
    chars = 0
    for page_no, page in enumerate(pages, start=1):
        chars += len(page.chars)
        rows.extend(row for _top, row in page_rows(page, page_no, repeated))
    return read_rows(rows, matcher), chars
