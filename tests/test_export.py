"""Export: every contract key, in JSON lines and in CSV Excel opens cleanly."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from support.storefill import add_intake

from intake.domain.records import Intake
from intake.ops.export import CONTRACT_KEYS, export
from intake.store.database import Store, decode_row

TZ = "Europe/London"



@pytest.fixture
def intakes(store: Store) -> list[Intake]:
    """A complete child referral with non-ASCII answers; an incomplete urgent one; a scan."""
    first = add_intake(
        store, "2026-06-30T23:30:00+00:00", status="complete", age_band="child",
        message_id="<CAF=abc+1@mail.example.org>", sender="Zoë.Teacher@School.Example.ORG",
        fields={"subject_forenames": "Zoë", "subject_surname": "O'Brien-Łukasz",
                "concerns": 'Said "we will see" about, well; things,\nsecond line',
                "individual_aware": "Yes"},
    )
    second = add_intake(
        store, "2026-07-02T08:00:00+00:00", status="incomplete", priority="urgent",
        missing=["subject_dob", "referrer_phone"], invalid=["referrer_email"],
        cc_missing=["preventreferrals@met.pnn.police.uk", "mashagency@lewisham.gov.uk"],
        urgent_because=["knife"],
    )
    third = add_intake(store, "2026-07-03T09:00:00+00:00", status="manual_review",
                       age_band=None)
    # a message that is not a referral leaves a message row but no intake
    with store.transaction():
        store.insert("messages", {
            "folder": "INBOX", "uidvalidity": 1, "uid": 9999, "message_id": "<ooo@x>",
            "content_hash": "h", "received_at": "2026-07-02T09:00:00+00:00",
            "recorded_at": "2026-07-02T09:00:00+00:00", "outcome": "ignored",
            "reason": "auto-submitted",
        })
    return [first, second, third]


def expected(store: Store, intake: Intake) -> dict:
    """The contract's keys of the intake's row, as the store holds them."""
    (row,) = store.query("SELECT * FROM intakes WHERE id = ?", (intake.id,))
    columns = decode_row(row)
    return {key: columns[key] for key in CONTRACT_KEYS} | {"sender": columns["sender"].lower()}


def test_jsonl_round_trips_every_contract_key(store: Store, intakes: list[Intake]) -> None:
    out = io.StringIO()
    assert export(store, out, "jsonl", since=None, timezone=TZ) == 3

    lines = out.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["reference"] for r in records] == [i.reference for i in intakes]
    for record, intake in zip(records, intakes, strict=True):
        assert set(CONTRACT_KEYS) <= set(record)
        assert {key: record[key] for key in CONTRACT_KEYS} == expected(store, intake)
        assert datetime.fromisoformat(record["received_at"]).utcoffset() is not None
    assert records[0]["message_id"] == "<CAF=abc+1@mail.example.org>"
    assert records[0]["sender"] == "zoë.teacher@school.example.org"
    assert records[0]["fields"]["subject_forenames"] == "Zoë"
    assert records[1]["priority"] == "urgent" and records[1]["missing"] == [
        "subject_dob", "referrer_phone"]
    assert records[2]["age_band"] is None and records[2]["review_reason"] == "scan"


def test_csv_has_bom_same_columns_and_round_trips(store: Store, intakes: list[Intake]) -> None:
    out = io.StringIO()
    assert export(store, out, "csv", since=None, timezone=TZ) == 3

    text = out.getvalue()
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert len(rows) == 3
    assert list(rows[0])[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
    for row, intake in zip(rows, intakes, strict=True):
        want = expected(store, intake)
        for key in CONTRACT_KEYS:
            value = want[key]
            if isinstance(value, list):
                assert row[key] == "; ".join(value), key
            elif isinstance(value, dict):
                assert json.loads(row[key]) == value, key
            elif value is None:
                assert row[key] == "", key
            elif key == "received_at":  # the same moment, in the digest's timezone
                local = datetime.fromisoformat(row[key])
                assert local == datetime.fromisoformat(value), key
                assert local.utcoffset() == local.astimezone(ZoneInfo(TZ)).utcoffset(), key
            else:
                assert row[key] == str(value), key
    assert rows[1]["cc_missing"] == (
        "preventreferrals@met.pnn.police.uk; mashagency@lewisham.gov.uk")
    assert json.loads(rows[0]["fields"])["concerns"].endswith("things,\nsecond line")


def test_csv_bytes_are_utf8_with_bom_even_under_an_ascii_locale(store: Store,
                                                                 intakes: list[Intake]) -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii", newline="")
    export(store, out, "csv", since=None, timezone=TZ)
    data = raw.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "Zoë".encode() in data
    assert b"\r\n" in data


def test_since_is_an_inclusive_local_day(store: Store, intakes: list[Intake]) -> None:
    out = io.StringIO()
    # 23:30 UTC on 30 June is 1 July in London: included from 1 July
    assert export(store, out, "jsonl", since=date(2026, 7, 1), timezone=TZ) == 3
    assert export(store, io.StringIO(), "jsonl", since=date(2026, 7, 2), timezone=TZ) == 2
    assert export(store, io.StringIO(), "jsonl", since=date(2026, 7, 1), timezone="UTC") == 2
    assert export(store, io.StringIO(), "csv", since=date(2027, 1, 1), timezone=TZ) == 0


def test_unknown_format_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        export(store, io.StringIO(), "xml", since=None, timezone=TZ)
