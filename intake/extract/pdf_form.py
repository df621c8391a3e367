"""Read a fillable PDF (AcroForm) from its field tree, not its page text.

Fields are found from the catalog's /AcroForm /Fields, following /Kids with
inherited /FT and /V, guarding against loops. A field is matched by its name
("SubjectSurname", camel case split), else its tooltip (/TU), else the label
printed left of or above its widget. Yes/No questions are radio groups, or
two check boxes whose names or tooltips end in "Yes" and "No"; a box whose
value is /Off is unticked whatever its export value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pdfminer.pdftypes import PDFObjRef, PDFStream, resolve1
from pdfminer.psparser import PSLiteral
from pdfminer.utils import decode_text

from .labels import LabelMatcher, normalise
from .layout import Answers, tidy

MAX_FIELDS = 2000
MAX_DEPTH = 16
RADIO_FLAG = 1 << 15
PUSHBUTTON_FLAG = 1 << 16
_YES_NO = re.compile(r"^(?P<base>.*?)[\s_.\-:?]*(?P<answer>yes|no)$", re.IGNORECASE)


@dataclass
class FormField:
    name: str  # full name, parts joined with "."
    kind: str  # text | check | radio | choice
    value: str | None  # text, chosen option, or the on-state name; None when empty / Off
    tooltip: str
    widgets: list[tuple[int | None, tuple[float, float, float, float]]] = field(
        default_factory=list
    )  # (object id of the widget's page, rect)


def _text(value: object) -> str:
    value = resolve1(value)
    if isinstance(value, bytes):
        return decode_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, PSLiteral):
        return str(value.name)
    if isinstance(value, PDFStream):
        try:
            return decode_text(value.get_data()[:100_000])
        except Exception:  # noqa: BLE001 - a broken stream is no answer
            return ""
    return ""


def _state(value: object) -> str | None:
    """A button's state name, None for /Off or no state."""
    value = resolve1(value)
    if isinstance(value, PSLiteral):
        name = value.name.decode("latin-1") if isinstance(value.name, bytes) else value.name
    elif isinstance(value, bytes | str):
        name = _text(value)
    else:
        return None
    return None if name in ("", "Off") else name


def form_fields(catalog: dict) -> list[FormField]:
    """Every terminal field of the document's AcroForm."""
    acro = resolve1(catalog.get("AcroForm"))
    roots = resolve1(acro.get("Fields")) if isinstance(acro, dict) else None
    if not isinstance(roots, list):
        return []
    found: list[FormField] = []
    seen: set[int] = set()

    def walk(ref: object, parent: str, inherited: dict, depth: int) -> None:
        if depth > MAX_DEPTH or len(found) >= MAX_FIELDS:
            return
        if isinstance(ref, PDFObjRef):
            if ref.objid in seen:
                return
            seen.add(ref.objid)
        node = resolve1(ref)
        if not isinstance(node, dict):
            return
        part = _text(node.get("T"))
        name = ".".join(p for p in (parent, part) if p)
        attrs = dict(inherited)
        for key in ("FT", "V", "Ff", "TU", "Opt"):
            if key in node:
                attrs[key] = resolve1(node[key])
        kids = resolve1(node.get("Kids"))
        kids = kids if isinstance(kids, list) else []
        child_fields = [k for k in kids if isinstance(resolve1(k), dict) and "T" in resolve1(k)]
        if child_fields:
            for kid in child_fields:
                walk(kid, name, attrs, depth + 1)
            return
        widgets = [resolve1(k) for k in kids] or [node]
        found.append(_make_field(name, attrs, [w for w in widgets if isinstance(w, dict)]))

    for root in roots[:MAX_FIELDS]:
        walk(root, "", {}, 0)
    return found


def _make_field(name: str, attrs: dict, widgets: list[dict]) -> FormField:
    field_type = attrs.get("FT")
    field_type = field_type.name if isinstance(field_type, PSLiteral) else field_type
    flags = attrs.get("Ff") if isinstance(attrs.get("Ff"), int) else 0
    placed = []
    for widget in widgets:
        rect = resolve1(widget.get("Rect"))
        page = widget.get("P")
        page_id = page.objid if isinstance(page, PDFObjRef) else None
        if isinstance(rect, list) and len(rect) == 4:
            try:
                placed.append((page_id, tuple(float(resolve1(v)) for v in rect)))
            except (TypeError, ValueError):
                pass
    tooltip = _text(attrs.get("TU"))
    if field_type == "Btn":
        if flags & PUSHBUTTON_FLAG:
            return FormField(name, "button", None, tooltip, placed)
        state = _state(attrs.get("V"))
        if state is None and "V" not in attrs:
            states = [_state(w.get("AS")) for w in widgets]
            state = next((s for s in states if s), None)
        return FormField(name, "radio" if flags & RADIO_FLAG else "check", state, tooltip, placed)
    value = _text(attrs.get("V")) if "V" in attrs else None
    if isinstance(attrs.get("V"), list):  # multi-select list box
        value = ", ".join(_text(v) for v in attrs["V"])
    kind = "choice" if field_type == "Ch" else "text"
    return FormField(name, kind, value, tooltip, placed)


def has_filled_fields(fields: list[FormField]) -> bool:
    return any(f.value and f.value.strip() for f in fields if f.kind != "button")


def _yes_no(text: str) -> tuple[str, str] | None:
    match = _YES_NO.match(text.strip())
    if match and match.group("base"):
        return match.group("base"), match.group("answer").capitalize()
    return None


def read_form_fields(fields: list[FormField], matcher: LabelMatcher, label_near=None) -> Answers:
    """Answers from AcroForm fields; `label_near(field)` gives a printed label or ''."""
    answers = Answers()
    keys_seen: set[str] = set()
    boxes: dict[str, dict[str, list[bool]]] = {}  # key -> {"Yes": [ticked...], "No": [...]}
    wheres: dict[str, str] = {}
    for item in fields:
        if item.kind == "button":
            continue
        rule, answer_word = None, None
        names = [item.name.rsplit(".", 1)[-1], item.name, item.tooltip]
        for position, text in enumerate(names):
            if not text:
                continue
            split = _yes_no(text) if item.kind == "check" else None
            lookup = split[0] if split else text
            rule = matcher.field_by_name(lookup) if position < 2 else None
            rule = rule or matcher.field(lookup, None, keys_seen)
            if rule:
                answer_word = split[1] if split else None
                break
        if rule is None and label_near is not None:
            rule = matcher.field(label_near(item), None, keys_seen)
        if rule is None:
            continue
        key = rule.key
        keys_seen.add(key)
        wheres.setdefault(key, f"field {item.name}")
        if item.kind == "check" and answer_word:
            boxes.setdefault(key, {"Yes": [], "No": []})[answer_word].append(bool(item.value))
            continue
        value = item.value
        if item.kind == "check":
            value = "Yes" if value else None
        elif item.kind == "radio" and value:
            word = normalise(value)
            value = {"yes": "Yes", "no": "No"}.get(word, value)
        value = tidy(value or "")
        if value and key not in answers.fields:
            answers.fields[key] = value
            answers.where[key] = f"field {item.name}"
    for key, ticks in boxes.items():
        yes, no = any(ticks["Yes"]), any(ticks["No"])
        if yes != no and key not in answers.fields:
            answers.fields[key] = "Yes" if yes else "No"
            answers.where[key] = wheres[key]
    answers.labels_found = len(keys_seen)
    return answers
