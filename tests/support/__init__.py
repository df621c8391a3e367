"""What tests share and is not a test: the rules as shipped (load once), and the
helper modules beside this file.

- servers.py, dovecot_account.py, smtp_server.py: the real Dovecot and aiosmtpd
  behind the fixtures in tests/conftest.py; oauth_servers.py, identity_provider.py,
  oidc_provider.py: the token and sign-in servers.
- forms.py (with forms_pdf.py, forms_docx.py, slow_pdf.py) and office.py: the
  referral forms, drawn by us or written by LibreOffice; mail.py: the emails.
- harness.py: the `intake` command run for real; storefill.py: store rows for
  tests of readers; web_kit.py: the web page's test client; settings.py: settings;
  alerting.py: one message through record, no servers, and the alerts it queued.
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
