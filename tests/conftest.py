"""Shared fixtures. The real mail servers: servers.py (Dovecot process),
dovecot_account.py (one user on it), smtp_server.py (aiosmtpd).

- `tls_certificate`: (cert, key) paths of a throwaway self-signed certificate
  for localhost / 127.0.0.1 (session).
- `dovecot_server`: the session's Dovecot process (DovecotServer).
- `dovecot`: a DovecotAccount for a fresh, empty user on it (per test); the
  server is running again after each test, whatever the test did to it.
- `smtp_server`: an SmtpServer (aiosmtpd) started plain, per test.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dovecot_account import DovecotAccount
from support.servers import DovecotServer, free_port, make_certificate
from support.settings import make_settings
from support.smtp_server import SmtpServer

from intake.config.paths import project_dir
from intake.config.settings_types import Settings
from intake.store.database import Store

SERVER_FIXTURES = {"dovecot", "dovecot_server", "smtp_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using a real server carry the `servers` marker (-m "not servers")."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """`intake` commands run in-process attach a handler to the standard error
    pytest captured for that test; take it off again, so server threads that
    log later do not write to a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def tls_certificate() -> Iterator[tuple[Path, Path]]:
    # A 0755 dir outside pytest's 0700 tmp tree: Dovecot's processes read it too.
    directory = Path(tempfile.mkdtemp(prefix="intake-cert-"))
    directory.chmod(0o755)
    try:
        yield make_certificate(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_server(tls_certificate: tuple[Path, Path]) -> Iterator[DovecotServer]:
    try:
        server = DovecotServer(*tls_certificate)
    except RuntimeError as err:
        pytest.fail(f"{err} (tests/setup-servers.sh installs it)", pytrace=False)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Iterator[DovecotAccount]:
    user, _ = dovecot_server.add_user()
    yield DovecotAccount(dovecot_server, user)
    dovecot_server.start()  # a test that stopped it leaves it running for the next


@pytest.fixture
def smtp_server(tls_certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), *tls_certificate)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def office_forms(tmp_path_factory: pytest.TempPathFactory):
    """The test forms written as .docx and converted by LibreOffice once per test run:
    (layout/values, target) -> path, targets pdf, docx, doc, odt, rtf (tests/support/office.py);
    "docx-breaks/long" is "docx/long" with typed line breaks for paragraph ends;
    "docx-rows/long" is "docx/long" with each answer line in a row of its own, the
    label cell of the rows under the first left empty."""
    from support.forms import DOCX_LAYOUTS, LONG_VALUES, VALUE_SETS, make_form
    from support.forms_docx import continued_rows, typed_line_breaks
    from support.office import OfficeForms

    forms = {f"{layout}/{name}": make_form(layout, values)[2]
             for layout in DOCX_LAYOUTS for name, values in VALUE_SETS.items()}
    forms["docx-breaks/long"] = typed_line_breaks(make_form("docx", LONG_VALUES)[2])
    forms["docx-rows/long"] = continued_rows(make_form("docx", LONG_VALUES)[2])
    return OfficeForms(tmp_path_factory.mktemp("office")).build(forms)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a test of what reads the store (support.settings.make_settings defaults)."""
    return make_settings(tmp_path)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A copy of the shipped rules folder, to change (`[rules] path`)."""
    directory = tmp_path / "rules"
    shutil.copytree(project_dir("rules"), directory)
    return directory


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store in the test's own folder (where `settings` points)."""
    opened = Store(tmp_path / "intake.sqlite3")
    yield opened
    opened.close()
