"""Reading accuracy by layout and by writer: fields right / total, verdicts right / total.

    python benchmarks/bench_accuracy.py

Every Word layout of the test forms (tests/support/forms.py) is written by our generator
as .docx with three sets of answers (the sample, long answers, and long answers
with two required ones missing and an invalid email address), then saved by
LibreOffice headless as PDF, .docx, .doc and .odt (and .rtf); the fillable and
flat PDF layouts are our generator's only. A field is right when it reads back
exactly (from a PDF, a line break the writer made where the next word would not
have fitted may read as a space: it cannot be told from a wrap); a verdict is
right when status, missing and invalid are what the answers call for.
"""

from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.forms import (  # noqa: E402
    DOCX_LAYOUTS,
    LAYOUTS,
    VALUE_SETS,
    expected_fields,
    make_form,
    same_as_written,
)
from support.mail import referral_email  # noqa: E402
from support.office import OfficeForms  # noqa: E402

from intake.domain.check import check  # noqa: E402
from intake.domain.rules import load_rules  # noqa: E402
from intake.extract import extract  # noqa: E402
from intake.mail.parse import parse  # noqa: E402

RULES = load_rules()
RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WRITERS = ("generator", "LibreOffice PDF", "LibreOffice docx", ".doc", ".odt", ".rtf")
TARGET_OF = {"LibreOffice PDF": "pdf", "LibreOffice docx": "docx", ".doc": "doc",
             ".odt": "odt", ".rtf": "rtf"}
EXTENSION = {"pdf-form": "pdf", "pdf-form-generic": "pdf", "pdf-form-unnamed": "pdf",
             "pdf-text": "pdf"}
VERDICTS = {"sample": ("complete", (), ()), "long": ("complete", (), ()),
            "incomplete": ("incomplete", ("subject_surname", "referrer_phone"),
                           ("referrer_email",))}


def score(name: str, data: bytes, values: str, wrapped: bool) -> tuple[int, int, bool]:
    email = parse(referral_email([(name, "application/octet-stream", data)]))
    extraction = extract(email.attachments, RULES)
    expected = expected_fields(VALUE_SETS[values])
    right = sum(1 for key, value in expected.items()
                if same_as_written(value, extraction.fields.get(key, ""), wrapped))
    verdict = check(extraction.fields, extraction, email, RECEIVED, RULES,
                    mailbox_address="prevent@lewisham.gov.uk")
    read_but_empty = len(extraction.fields.keys() - expected.keys())  # each one a wrong field
    return right, len(expected) + read_but_empty, (verdict.status, verdict.missing,
                                                verdict.invalid) == VERDICTS[values]


def main() -> int:
    table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as folder:
        sources = {f"{layout}/{values}": make_form(layout, VALUE_SETS[values])[2]
                   for layout in DOCX_LAYOUTS for values in VALUE_SETS}
        built = OfficeForms(Path(folder)).build(sources)
        for layout in LAYOUTS:
            for values in VALUE_SETS:
                files = [("generator", make_form(layout, VALUE_SETS[values]))]
                if layout in DOCX_LAYOUTS:
                    for writer, target in TARGET_OF.items():
                        path = built[(f"{layout}/{values}", target)]
                        files.append((writer, (path.name, "", path.read_bytes())))
                for writer, (filename, _type, data) in files:
                    name = filename if writer != "generator" else (
                        f"form.{EXTENSION.get(layout, 'docx')}")
                    right, total, verdict_ok = score(
                        name, data, values, wrapped=name.endswith(".pdf"))
                    cell = table[(layout, writer)]
                    cell[0] += right
                    cell[1] += total
                    cell[2] += int(verdict_ok)
                    cell[3] += 1
    print(f"{'layout':<18} {'writer':<17} {'fields right':>13} {'verdicts right':>15}")
    print(f"{'-' * 18} {'-' * 17} {'-' * 13} {'-' * 15}")
    totals = [0, 0, 0, 0]
    for layout in LAYOUTS:
        for writer in WRITERS:
            if (layout, writer) not in table:
                continue
            right, total, verdicts, count = table[(layout, writer)]
            totals = [a + b for a, b in zip(totals, (right, total, verdicts, count), strict=True)]
            print(f"{layout:<18} {writer:<17} {f'{right}/{total}':>13} "
                  f"{f'{verdicts}/{count}':>15}")
    print(f"{'all':<18} {'':<17} {f'{totals[0]}/{totals[1]}':>13} "
          f"{f'{totals[2]}/{totals[3]}':>15}")
    return 0 if totals[0] == totals[1] and totals[2] == totals[3] else 1


if __name__ == "__main__":
    sys.exit(main())
