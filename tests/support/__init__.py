"""What many tests share and is not a fixture: the rules as shipped (load once).

Fixtures (the store, the settings, the real mail servers) are in tests/conftest.py.
"""

from __future__ import annotations

from intake.domain.records import Intake
from intake.domain.rules import load_rules
from intake.store.database import Store

RULES = load_rules()  # rules/*.toml as the service ships them


def stored(store: Store, reference: str) -> Intake:
    """The intake with this reference, as the store has it now (it must be there)."""
    intake = store.intake(reference)
    assert intake is not None, f"no intake {reference}"
    return intake


def stored_by_id(store: Store, intake_id: int) -> Intake:
    intake = store.intake_by_id(intake_id)
    assert intake is not None, f"no intake #{intake_id}"
    return intake
