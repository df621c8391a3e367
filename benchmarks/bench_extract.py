"""Median milliseconds per form, by layout, against pdfplumber open + extract_text.

    python benchmarks/bench_extract.py [forms per layout, default 50]
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pdfplumber  # noqa: E402
from support.forms import LAYOUTS, SAMPLE_VALUES, make_form  # noqa: E402

from intake.domain.models import Attachment  # noqa: E402
from intake.domain.rules import load_rules  # noqa: E402
from intake.extract import extract  # noqa: E402

NAMES = ["Zoë", "Łukasz", "Siobhán", "Mohammed", "Chloé", "Kwame", "Ana-María"]
SURNAMES = ["O'Connor", "Nowak", "Adébáyó", "Smith", "Nguyễn", "Byrne"]


def varied_values(rng: random.Random) -> dict[str, str]:
    values = dict(SAMPLE_VALUES)
    values["subject_forenames"] = rng.choice(NAMES)
    values["subject_surname"] = rng.choice(SURNAMES)
    values["concerns"] = "\n".join([SAMPLE_VALUES["concerns"]] * rng.randint(1, 3))
    values["individual_aware"] = rng.choice(["Yes", "No", ""])
    return values


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    per_layout = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rules = load_rules()
    rng = random.Random(42)
    print(f"{'layout':20} {'forms':>5} {'extract ms':>11} {'pdfplumber text ms':>19}")
    for layout in LAYOUTS:
        made = [make_form(layout, varied_values(rng)) for _ in range(per_layout)]
        ours, baseline = [], []
        for filename, content_type, data in made:
            attachment = Attachment(filename, content_type, data, len(data))
            started = time.perf_counter()
            extract([attachment], rules)
            ours.append(time.perf_counter() - started)
            if content_type == "application/pdf":
                started = time.perf_counter()
                with pdfplumber.open(io.BytesIO(data)) as pdf:
                    "".join(page.extract_text() or "" for page in pdf.pages)
                baseline.append(time.perf_counter() - started)
        base = f"{median_ms(baseline):19.1f}" if baseline else f"{'-':>19}"
        print(f"{layout:20} {len(made):5d} {median_ms(ours):11.1f} {base}")


if __name__ == "__main__":
    main()
