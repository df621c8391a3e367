"""Property tests: forms whose answers sit right of, below, or inside their label's box
(or after it on the same line), in columns of random widths, with answers that wrap
(long words broken at the cell's edge, long email addresses): every answer comes back
exactly as written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import RULES, forms_pdf  # noqa: E402
from support.forms import form_outline, same_as_written  # noqa: E402

from intake.domain.models import Attachment  # noqa: E402
from intake.extract import extract  # noqa: E402

OUTLINE = form_outline()
VALIDATORS = {key: validator for _h, questions in OUTLINE for key, _l, validator in questions}
# Words no label or heading is made of (so an answer never reads as a question).
WORDS = st.sampled_from([
    "Zoë", "O'Connor", "Nowak-Żelazny", "Flat", "Rushey", "Green", "SE6", "4BD", "07700",
    "900123", "school", "Year", "9", "online", "videos", "mother", "Catford", "London",
    "D'Arcy-Jones", "well-being", "Renée", "Łukasz", "13", "Lewisham", "High", "Street",
    "supportiveness", "internationalisation", "Llanfairpwllgwyngyll", "x", "a", "itself",
])
LOCAL = st.text("abcdefghijklmnopqrstuvwxyz.", min_size=3, max_size=40).filter(
    lambda s: s[0] != "." and s[-1] != "." and ".." not in s)
EMAIL = st.builds(lambda local, host: f"{local}@{host}.example.sch.uk", LOCAL,
                  st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=24))


def answer(key: str):
    if VALIDATORS[key] == "yes-no":
        return st.sampled_from(["Yes", "No"])
    if VALIDATORS[key] == "email":
        return EMAIL
    line = st.lists(WORDS, min_size=1, max_size=30).map(" ".join)
    lines = 3 if key in ("subject_address", "concerns", "other_information") else 1
    return st.lists(line, min_size=1, max_size=lines).map("\n".join)


FORMS = st.fixed_dictionaries({key: answer(key) for key in VALIDATORS})
PLACING = st.fixed_dictionaries(
    {key: st.sampled_from(forms_pdf.ARRANGEMENTS) for key in VALIDATORS})


def read_back(values, placing, label_width, answer_width, font_size) -> dict:
    data = forms_pdf.arranged(OUTLINE, values, placing, label_width, answer_width, font_size)
    result = extract([Attachment("referral.pdf", "application/pdf", data, len(data))], RULES)
    return {key: (value, result.fields.get(key)) for key, value in values.items()
            if not same_as_written(value, result.fields.get(key, ""), wrapped=True)}


ARGUMENTS = {"values": FORMS, "placing": PLACING, "label_width": st.integers(110, 220),
             "answer_width": st.integers(140, 330),
             "font_size": st.sampled_from([9.0, 10.0, 11.0])}
# No shrinking (it can take minutes on a PDF a case); the failing example is printed whole.
QUICK = settings(max_examples=40, deadline=None, database=None,
                 phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=[HealthCheck.too_slow])


@QUICK
@given(**ARGUMENTS)
def test_every_answer_comes_back_whatever_the_arrangement(values, placing, label_width,
                                                          answer_width, font_size):
    assert read_back(values, placing, label_width, answer_width, font_size) == {}


@pytest.mark.soak
@settings(QUICK, max_examples=1000)
@given(**ARGUMENTS)
def test_every_answer_comes_back_soak(values, placing, label_width, answer_width, font_size):
    assert read_back(values, placing, label_width, answer_width, font_size) == {}
