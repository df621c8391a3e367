"""Forgiving matching of the form's printed labels and section headings.

Every wording comes from rules/fields.toml; this module only knows how to
compare text forgivingly: case, punctuation, bracketed hints such as
"(DD/MM/YYYY)", "&" for "and", a few filler words and plural "s" are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..domain.rules import FieldRule, Rules

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_FILLER = frozenset({"and", "or", "the", "of", "to", "a", "an", "s"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[_.\-\s]+")

TICKED = ("☒", "☑", "✔", "✓", "[X]", "[x]")
UNTICKED = ("☐", "[ ]", "[]")
MAX_LABEL_LINES = 4  # a printed question wrapped over at most this many lines
_HINT = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_TICK = re.compile(r"☒|☑|✔|✓|\[[xX]\]|☐|\[\s*\]")


def normalise(text: str) -> str:
    """Lower-case words of a label without hints, punctuation, fillers or plural s."""
    text = _BRACKETS.sub(" ", text.lower().replace("&", " and ").replace("'s", ""))
    words = []
    for word in _NON_WORD.sub(" ", text).split():
        if word in _FILLER:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return " ".join(words)


def split_name(name: str) -> str:
    """A form field name as words: "SubjectSurname" -> "Subject Surname"."""
    return " ".join(part for part in _CAMEL.split(name) if part)


def read_ticks(text: str) -> str | None:
    """The ticked option of "☒ Yes ☐ No"; "" when none or several; None without boxes."""
    marks = list(_TICK.finditer(text))
    if not marks:
        return None
    chosen = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        option = text[mark.end() : end].strip(" \t\n:;,/|")
        if mark.group() not in UNTICKED and not re.fullmatch(r"\[\s*\]", mark.group()):
            chosen.append(option)
    return chosen[0] if len(chosen) == 1 else ""


@dataclass(frozen=True)
class Match:
    field: FieldRule
    rest: str  # text after the label in the same cell or line ("Surname: Smith")


class LabelMatcher:
    """Finds which field a printed label, tooltip or field name stands for."""

    def __init__(self, rules: Rules):
        self.rules = rules
        self._wordings: list[tuple[str, FieldRule]] = [
            (normalise(wording), rule) for rule in rules.fields for wording in rule.wordings
        ]
        self._by_text: dict[str, list[FieldRule]] = {}
        for text, rule in self._wordings:
            if text and rule not in self._by_text.setdefault(text, []):
                self._by_text[text].append(rule)
        self._sections: dict[str, str] = {}
        self._section_words: dict[str, set[str]] = {}
        for section in rules.sections:
            for wording in (section.title, *section.aliases, section.key):
                self._sections.setdefault(normalise(wording), section.key)
                self._section_words.setdefault(section.key, set()).update(
                    normalise(wording).split()
                )
        self._longest = max((len(t.split()) for t in self._by_text), default=1)

    def section(self, text: str) -> str | None:
        """The section key a heading stands for, or None."""
        return self._sections.get(normalise(text))

    def field(
        self, text: str, section: str | None, taken: frozenset[str] | set[str] = frozenset()
    ) -> FieldRule | None:
        """The field whose label reads `text`, preferring the current section."""
        candidates = self._by_text.get(normalise(text))
        if not candidates:
            return None
        return self._pick(candidates, section, taken)

    def _pick(
        self, candidates: list[FieldRule], section: str | None, taken: frozenset[str] | set[str]
    ) -> FieldRule:
        for rule in candidates:
            if rule.section == section:
                return rule
        for rule in candidates:
            if rule.key not in taken:
                return rule
        return candidates[0]

    def label_at_start(
        self, text: str, section: str | None, taken: frozenset[str] | set[str] = frozenset()
    ) -> Match | None:
        """A label that is the whole text; or its start followed by ":" and an answer; or
        its first lines, the answer on the lines under it (a question and its answer in
        one box). A line that adds only filler words ("a") is an answer, not the label;
        a bracketed hint ("(DD/MM/YYYY)") is the label's."""
        first_line, _, after = text.partition("\n")
        head, colon, tail = first_line.partition(":")
        if colon and tail.strip():
            rule = self.field(head, section, taken)
            if rule:
                return Match(rule, "\n".join(p for p in (tail.strip(), after.strip()) if p))
        lines = text.split("\n")
        best: tuple[int, FieldRule] | None = None
        best_words = ""
        for count in range(1, min(len(lines), MAX_LABEL_LINES) + 1):
            label = " ".join(lines[:count]).strip()
            rule = self.field(label.removesuffix(":"), section, taken)
            if rule is None:
                continue
            words = normalise(label)
            if best is None or words != best_words or _HINT.fullmatch(lines[count - 1].strip()):
                best, best_words = (count, rule), words
        if best is None:
            return None
        return Match(best[1], "\n".join(lines[best[0]:]).strip())

    def is_label(self, text: str) -> bool:
        """The text starts with a label, in any of the ways label_at_start knows."""
        return self.label_at_start(text, None) is not None

    def field_by_name(self, name: str) -> FieldRule | None:
        """Match a form field's name ("SubjectSurname", "referrer.email") to a field."""
        words = normalise(split_name(name))
        if not words:
            return None
        if words in self._by_text:
            return self._pick(self._by_text[words], None, frozenset())
        tokens = words.split()
        for cut in range(1, len(tokens)):
            prefix, rest = set(tokens[:cut]), " ".join(tokens[cut:])
            candidates = self._by_text.get(rest)
            if not candidates:
                continue
            for rule in candidates:
                if prefix <= self._section_words.get(rule.section, set()):
                    return rule
        return None
