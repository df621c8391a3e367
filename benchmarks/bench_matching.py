"""How long linking one new intake takes against a store of N earlier ones.

    .venv/bin/python benchmarks/bench_matching.py [N]

Target: under 100 ms an intake with 20,000 intakes in the store (relink runs
inside the transaction that records each message).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.domain.matching import load_match_rules  # noqa: E402
from intake.store.database import Store  # noqa: E402
from intake.store.links import relink  # noqa: E402

SURNAMES = ["Okafor", "Smith", "Khan", "O'Brien", "Nowak", "Patel", "Jones", "Begum", "Adebayo"]
FORENAMES = ["Zoe", "Adam", "Aisha", "Jordan", "Sean", "Imran", "Eve", "Ali", "Mary"]


def fill(store: Store, count: int) -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rng = random.Random(17)
    with store.transaction():
        for number in range(count):
            born = start.date() - timedelta(days=rng.randrange(365 * 60))
            store.insert("intakes", {
                "reference": f"PRV-2020-{number:05d}",
                "received_at": start + timedelta(hours=number), "last_message_at": start,
                "status": "complete", "created_at": start, "updated_at": start, "fields": {
                    "subject_forenames": rng.choice(FORENAMES),
                    "subject_surname": rng.choice(SURNAMES),
                    "subject_dob": born.strftime("%d/%m/%Y")}})


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rules = load_match_rules()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.sqlite3")
        fill(store, count)
        ids = [row[0] for row in store.query("SELECT id FROM intakes ORDER BY id DESC LIMIT 20")]
        began = time.perf_counter()
        for intake_id in ids:
            with store.transaction():
                relink(store, intake_id, rules, datetime.now(UTC))
        each = (time.perf_counter() - began) / len(ids)
        links = store.query("SELECT COUNT(*) FROM links")[0][0]
        store.close()
    print(f"relink against {count} intakes: {each * 1000:.1f} ms an intake ({links} links)")


if __name__ == "__main__":
    main()
