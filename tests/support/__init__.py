"""What many tests share and is not a fixture: the rules as shipped (load once).

Fixtures (the store, the settings, the real mail servers) are in tests/conftest.py.
"""

from __future__ import annotations

from intake.domain.rules import load_rules

RULES = load_rules()  # rules/*.toml as the service ships them
