"""Read answers from rows of cells, whatever file they came from: the one reader
of every text layout (flat PDF, .docx, and .doc/.odt/.rtf through LibreOffice).

A file comes down to rows in reading order: table rows (label | answer, or
label | answer | label | answer, or a box holding a question and its answer)
and lines of text outside tables. Labels are found anywhere in that stream;
an answer is what follows its label up to the next label or section heading:
the next cell, the rows below, the rest of its line after "Label:", or the
lines under it in its box. A heading sets the section, which decides repeated
labels such as "Name" or "Email Address"; a cell's `glue` says it carries on
the paragraph before it over a page break.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .labels import LabelMatcher, read_ticks


@dataclass
class Cell:
    text: str
    where: str
    glue: str | None = None  # carries on the paragraph before it (a page break): " " or ""


@dataclass
class Row:
    cells: list[Cell]
    in_table: bool = False


@dataclass
class Answers:
    fields: dict[str, str] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    labels_found: int = 0


@dataclass
class _Pending:
    key: str
    where: str
    parts: list[str]
    weak: bool  # a heading that doubles as the label ("Concerns" then the answer)


class _Walker:
    def __init__(self, matcher: LabelMatcher):
        self.matcher = matcher
        self.section: str | None = None
        self.pending: _Pending | None = None
        self.last: _Pending | None = None  # answer that a split table row may continue
        self.found: dict[str, tuple[str, str, bool]] = {}  # key -> (value, where, weak)
        self.labels: set[str] = set()

    def store(self, key: str, value: str, where: str, weak: bool = False) -> bool:
        """Keep an answer; False when an earlier one for the key wins over it."""
        self.labels.add(key)
        if key in self.found and (weak or not self.found[key][2]) and self.found[key][0]:
            return False  # the first answer wins; a real label beats a heading
        self.found[key] = (value, where, weak)
        return True

    def close(self) -> None:
        if self.pending:
            p = self.pending
            kept = self.store(p.key, _joined(p.parts), p.where, p.weak)
            self.last = p if kept else None  # an answer passed over takes no more lines
        self.pending = None

    def _carry_on_last(self, text: str, glue: str | None) -> None:
        """A table row whose label cell is empty carries on the answer above it (an
        address typed one line a row, or a row split over a page break): the line is
        added to that answer as the lines under a label are."""
        last = self.last
        if last is not None:
            _carry_on(last.parts, text, glue)
            self.found[last.key] = (_joined(last.parts), last.where, last.weak)

    def row(self, row: Row) -> None:
        cells = row.cells
        texts = [c.text.strip() for c in cells]
        filled = [t for t in texts if t]
        if not filled:
            return
        if len(filled) == 1:
            section = self.matcher.section(filled[0])
            if section:
                self.close()
                self.last = None
                self.section = section
                rule = self.matcher.field(filled[0], section)
                if rule and rule.section == section:
                    where = cells[texts.index(filled[0])].where
                    self.pending = _Pending(rule.key, where, [], weak=True)
                return
        index, matched = 0, False
        while index < len(cells):
            text = texts[index]
            match = self.matcher.label_at_start(text, self.section, self.found.keys())
            if match:
                self.close()
                matched = True
                key, where = match.field.key, cells[index].where
                if match.rest:  # "Label: answer", or the answer under it in its box:
                    # the lines that follow, up to the next label, carry it on
                    self.pending = _Pending(key, where, [match.rest], weak=False)
                elif index + 1 < len(cells) and not self.matcher.is_label(texts[index + 1]):
                    self._set(key, [texts[index + 1]], cells[index + 1].where)
                    index += 2
                    continue
                else:
                    self.pending = _Pending(key, cells[index].where, [], weak=False)
            elif text and self.pending and not matched:
                _carry_on(self.pending.parts, text, cells[index].glue)
            elif text and row.in_table and not matched and not any(texts[:index]):
                if index == 0:  # a question we do not ask: the answer above ends
                    self.last = None
                else:  # label cell left empty: the answer carries on from the row above
                    self._carry_on_last(text, cells[index].glue)
            index += 1

    def _set(self, key: str, parts: list[str], where: str) -> None:
        self.pending = _Pending(key, where, parts, weak=False)
        self.close()

    def answers(self) -> Answers:
        self.close()
        result = Answers(labels_found=len(self.labels))
        placeholders = self.matcher.rules.placeholders
        validators = {rule.key: rule.validator for rule in self.matcher.rules.fields}
        for key, (value, where, _weak) in self.found.items():
            value = tidy(value)
            if validators.get(key) == "email":
                value = unwrapped_email(value)
            if value and value.lower() not in placeholders:
                result.fields[key] = value
                result.where[key] = where
        return result


def unwrapped_email(value: str) -> str:
    """An email address a writer broke over lines, put back together: only when it is
    not a valid address as read and is one with the line breaks and spaces taken out
    (never a character added)."""
    if not any(ch.isspace() for ch in value) or value.count("@") != 1:
        return value
    from email_validator import EmailNotValidError, validate_email

    joined = "".join(value.split())
    for candidate in (value.strip(), joined):
        try:
            validate_email(candidate, check_deliverability=False)
        except EmailNotValidError:
            continue
        return candidate
    return value


def _joined(parts: list[str]) -> str:
    return "\n".join(x for x in parts if x)


def _carry_on(parts: list[str], text: str, glue: str | None) -> None:
    """Add a line of answer: its own paragraph, or the one before carried on."""
    if glue is not None and parts and parts[-1]:
        parts[-1] += glue + text
    else:
        parts.append(text)


def tidy(value: str) -> str:
    """Strip an answer; turn tick boxes into the ticked option ("Yes"/"No")."""
    ticked = read_ticks(value)
    if ticked is not None:
        return ticked
    lines = [line.strip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip()


def read_rows(rows: list[Row], matcher: LabelMatcher) -> Answers:
    walker = _Walker(matcher)
    for row in rows:
        walker.row(row)
    return walker.answers()
