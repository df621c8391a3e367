"""Read settings.toml into typed Settings, reporting every bad key at once.

Each problem is one line, `[section] key: what is wrong`; SettingsError
carries them all. Secrets are never read here, only where they live.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ..domain.errors import SettingsError
from ..domain.screening import working_hours_problem
from . import settings_keys
from .settings_read import (
    SectionReader,
    address,
    addresses,
    hh_mm,
    is_loopback,
    loopback_url,
    one_of,
    port_number,
    positive,
    resolve,
    timezone_name,
)
from .settings_types import (
    DigestSettings,
    HealthSettings,
    MailboxSettings,
    OAuth2Settings,
    ReminderSettings,
    Secret,
    Settings,
    SmtpSettings,
    WebSettings,
    WorkerSettings,
)

SECURITY = ("tls", "starttls", "none")
__all__ = ["is_loopback", "known_keys", "load_settings"]  # is_loopback: for fetch, send, web


def _authserv_ids(reader: SectionReader) -> tuple[str, ...]:
    """`[mailbox] trusted_authserv_ids`: host names (or `exchange-online`), lower case."""
    def check(value: list) -> str | None:
        for item in value:
            if not isinstance(item, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", item):
                return f"not an authserv-id (a host name, or exchange-online): {item!r}"
        return None
    return tuple(v.lower() for v in reader.get("trusted_authserv_ids", list, [], check))


def _secret(reader: SectionReader, base: Path, *, required: bool) -> Secret | None:
    env = reader.get("password_env", str, None)
    file = reader.get("password_file", str, None)
    if env and file:
        reader.fail("password_env", "give password_env or password_file, not both")
        return None
    if not env and not file:
        if required:
            reader.fail("password_env", "missing (or password_file)")
        return None
    return Secret(env=env, file=(base / file) if file else None)


def _security(reader: SectionReader, default: str) -> tuple[str, str, int | None]:
    host = reader.get("host", str) or ""
    security = reader.get("security", str, default, one_of(*SECURITY))
    if security == "none" and host and not is_loopback(host):
        reader.fail("security", f"plain text is allowed only to a loopback host, not {host!r}")
    return host, security, reader.get("port", int, check=port_number)


def load_settings(path: Path) -> Settings:
    """Read and validate a settings file; raise SettingsError with every problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as err:
        raise SettingsError([f"[settings] {path}: file not found"]) from err
    except IsADirectoryError as err:
        raise SettingsError([f"[settings] {path}: is a folder, not a settings file "
                             "(give --config the settings.toml itself)"]) from err
    except PermissionError as err:
        raise SettingsError([f"[settings] {path}: cannot be read (permission denied)"]) from err
    except tomllib.TOMLDecodeError as err:
        raise SettingsError([f"[settings] {path}: not valid TOML ({err})"]) from err
    settings, problems = _read_settings(path, data)
    problems += settings_keys.unknown_keys(data, _read_settings)
    if problems:
        raise SettingsError(problems)
    return settings


def known_keys(data: dict[str, Any]) -> dict[str, set[str]]:
    """The keys the settings code reads, by section (settings_keys.py)."""
    return settings_keys.known_keys(data, _read_settings)


def _read_settings(path: Path, data: dict[str, Any]) -> tuple[Settings, list[str]]:
    """The settings and every problem found (unknown keys apart)."""
    base = path.resolve().parent
    problems: list[str] = []

    box = SectionReader(data, "mailbox", problems)
    kind = box.get("kind", str, "imap", one_of("imap", "maildir"))
    if kind == "maildir":
        mailbox = MailboxSettings(
            kind="maildir",
            path=resolve(base, box.get("path", str)),
            address=(box.get("address", str, "prevent@lewisham.gov.uk") or "").lower(),
            processed_folder=box.get("processed_folder", str, None),
            max_attachment_bytes=box.get("max_attachment_bytes", int, 25 * 2**20, positive),
            trusted_authserv_ids=_authserv_ids(box),
        )
    else:
        host, security, port = _security(box, "tls")
        auth = box.get("auth", str, "password", one_of("password", "oauth2"))
        username = box.get("username", str) or ""
        mailbox = MailboxSettings(
            kind="imap",
            host=host,
            port=port or 993,
            security=security,
            ca_file=resolve(base, box.get("ca_file", str, None)),
            username=username,
            address=(box.get("address", str, username) or "").lower(),
            password=_secret(box, base, required=auth == "password") or Secret(),
            auth=auth,
            folder=box.get("folder", str) or "INBOX",
            more_folders=tuple(box.get("more_folders", list, [])),
            processed_folder=box.get("processed_folder", str, None),
            poll_seconds=box.get("poll_seconds", float, 60.0, positive),
            batch_size=box.get("batch_size", int, 50, positive),
            batch_bytes=box.get("batch_bytes", int, 32 * 2**20, positive),
            max_message_bytes=box.get("max_message_bytes", int, 30 * 2**20, positive),
            max_attachment_bytes=box.get("max_attachment_bytes", int, 25 * 2**20, positive),
            trusted_authserv_ids=_authserv_ids(box),
        )

    smtp_reader = SectionReader(data, "smtp", problems)
    mode = smtp_reader.get("mode", str, "send", one_of("send", "shadow", "outbox"))
    offline = mode == "outbox"  # the demo's sender: writes files, needs no server
    host, security, port = (
        ("", "none", 0) if offline and "host" not in smtp_reader.data
        else _security(smtp_reader, "starttls")
    )
    smtp_user = smtp_reader.get("username", str, None)
    smtp_auth = smtp_reader.get("auth", str, "password", one_of("password", "oauth2"))
    smtp = SmtpSettings(
        host=host,
        port=port or 587,
        security=security,
        ca_file=resolve(base, smtp_reader.get("ca_file", str, None)),
        username=smtp_user,
        password=_secret(smtp_reader, base, required=bool(smtp_user) and smtp_auth == "password"),
        auth=smtp_auth,
        sender=smtp_reader.get("from", str, check=address) or "",
        mode=mode,
        shadow_folder=resolve(base, smtp_reader.get("shadow_folder", str, "var/outgoing")),
        **_doubling(smtp_reader, "retry", SmtpSettings.retry_first_seconds,
                    SmtpSettings.retry_max_seconds),
    )

    store = SectionReader(data, "store", problems)
    triage = SectionReader(data, "triage", problems)
    replies = SectionReader(data, "replies", problems)
    reminders = SectionReader(data, "reminders", problems)
    digest = SectionReader(data, "digest", problems)
    parser = SectionReader(data, "parser", problems)
    rules = SectionReader(data, "rules", problems)
    oauth2 = _read_oauth2(data, problems, base, needed="oauth2" in (mailbox.auth, smtp.auth))

    settings = Settings(
        path=path.resolve(),
        mailbox=mailbox,
        smtp=smtp,
        store_path=resolve(base, store.get("path", str)) or base / "var/intake.sqlite3",
        alert_to=tuple(a.lower() for a in triage.get("alert_to", list, check=addresses) or ()),
        working_hours=triage.get("working_hours", str, "09:00-17:00", working_hours_problem),
        digest=DigestSettings(
            to=tuple(digest.get("to", list, check=addresses) or ()),
            at=digest.get("at", str, "08:00", hh_mm),
            timezone=digest.get("timezone", str, "Europe/London", timezone_name),
        ),
        reminders=ReminderSettings(
            first_after_hours=reminders.get("first_after_hours", float, 24.0, positive),
            every_hours=reminders.get("every_hours", float, 24.0, positive),
            max=reminders.get("max", int, 3, lambda v: None if v >= 0 else "must be 0 or more"),
        ),
        max_replies_per_address_per_hour=replies.get(
            "max_per_address_per_hour", int, 5, positive
        ),
        max_automatic_per_hour=replies.get("max_per_hour", int, 100, positive),
        oauth2=oauth2,
        rules_dir=resolve(base, rules.get("path", str, None)),
        templates_dir=resolve(base, rules.get("templates", str, None)),
        parse_timeout_seconds=parser.get("timeout_seconds", float, 20.0, positive),
        parse_memory_mb=parser.get("memory_mb", int, 1024, positive),
        parser_workers=parser.get("workers", int, 2, positive),
        health=_read_health(SectionReader(data, "health", problems)),
        worker=_read_worker(SectionReader(data, "worker", problems)),
        web=_read_web(data, problems),
    )
    return settings, problems


def _doubling(reader: SectionReader, name: str, first: float,
              most: float) -> dict[str, float]:
    """`{name}_first_seconds` and `{name}_max_seconds`: a wait that doubles up to a cap."""
    values = {f"{name}_first_seconds": reader.get(f"{name}_first_seconds", float, first,
                                                  positive) or first,
              f"{name}_max_seconds": reader.get(f"{name}_max_seconds", float, most,
                                                positive) or most}
    if values[f"{name}_max_seconds"] < values[f"{name}_first_seconds"]:
        reader.fail(f"{name}_max_seconds", f"must be at least {name}_first_seconds "
                    f"({values[f'{name}_first_seconds']:g})")
    return values


def _read_worker(reader: SectionReader) -> WorkerSettings:
    """[worker]: every key a number of seconds, its default WorkerSettings'."""
    default = WorkerSettings()
    every = {key: reader.get(key, float, getattr(default, key), positive) or getattr(default, key)
             for key in ("send_every_seconds", "reminders_every_seconds",
                         "digest_every_seconds", "overdue_every_seconds")}
    return WorkerSettings(**every, **_doubling(reader, "reconnect", default.reconnect_first_seconds,
                                               default.reconnect_max_seconds))


def _read_health(reader: SectionReader) -> HealthSettings:
    return HealthSettings(
        max_round_age_seconds=reader.get("max_round_age_seconds", float, None, positive),
        failing_after_minutes=reader.get("failing_after_minutes", float, 15.0, positive),
        alert_after_minutes=reader.get("alert_after_minutes", float, 30.0, positive),
    )


def _read_oauth2(
    data: dict, problems: list[str], base: Path, *, needed: bool
) -> OAuth2Settings | None:
    if "oauth2" not in data:
        if needed:
            problems.append("[oauth2] missing: auth = \"oauth2\" needs an [oauth2] section")
        return None
    reader = SectionReader(data, "oauth2", problems)
    secret_env = reader.get("client_secret_env", str, None)
    certificate = reader.get("client_certificate", str, None)
    thumbprint = reader.get("client_certificate_thumbprint", str, None, _thumbprint)
    if bool(secret_env) == bool(certificate):
        reader.fail("client_secret_env", "give client_secret_env or client_certificate, one only")
    if certificate and not thumbprint and "client_certificate_thumbprint" not in reader.data:
        reader.fail("client_certificate_thumbprint", "missing (needed with client_certificate)")
    certificate_path = resolve(base, certificate)
    if certificate_path and not certificate_path.is_file():
        reader.fail("client_certificate", f"no such file: {certificate_path}")
    authority = reader.get("authority", str, "https://login.microsoftonline.com")
    if authority and not re.fullmatch(r"https://[^/\s]+/?", authority):
        reader.fail("authority", "must be an https:// address with no path, "
                    "e.g. https://login.microsoftonline.com")
    token_url = reader.get("token_url", str, None)
    if token_url and not (token_url.startswith("https://") or loopback_url(token_url)):
        reader.fail("token_url", "must be https://, or http:// only to a loopback host")
    if token_url and certificate:
        reader.fail("token_url", "works with client_secret_env only")
    return OAuth2Settings(
        tenant_id=reader.get("tenant_id", str, check=_tenant) or "",
        client_id=reader.get("client_id", str, check=_guid) or "",
        client_secret=Secret(env=secret_env) if secret_env else None,
        client_certificate=certificate_path,
        client_certificate_thumbprint=thumbprint.replace(":", "") if thumbprint else None,
        authority=authority or "https://login.microsoftonline.com",
        scope=reader.get("scope", str, "https://outlook.office365.com/.default", _scope),
        token_url=token_url,
    )


_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _guid(value: str) -> str | None:
    if re.fullmatch(_GUID, value):
        return None
    return "must be the app's Application (client) ID, a GUID like 1b2c3d4e-0000-..."


def _tenant(value: str) -> str | None:
    if re.fullmatch(_GUID, value) or re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value):
        return None
    return "must be the Directory (tenant) ID (a GUID) or the tenant's domain name"


def _thumbprint(value: str) -> str | None:
    if re.fullmatch(r"[0-9a-fA-F]{40}", value.replace(":", "")):
        return None
    return "must be the certificate's SHA-1 thumbprint: 40 hexadecimal digits"


def _scope(value: str) -> str | None:
    return None if value.endswith("/.default") else "must end in /.default (app-only sign-in)"


def _web_url(value: str) -> str | None:
    if value.startswith("https://") or loopback_url(value):
        return None
    return "must be https://, or http:// only to a loopback host"


def _read_web(data: dict, problems: list[str]) -> WebSettings | None:
    """[web]: optional; the worker runs without it."""
    if "web" not in data:
        return None
    reader = SectionReader(data, "web", problems)
    authority = reader.get("oidc_authority", str, "https://login.microsoftonline.com", _web_url)
    tenant = reader.get("oidc_tenant_id", str, check=_tenant) or ""
    discovery = reader.get("oidc_discovery_url", str, None, _web_url) or (
        f"{(authority or '').rstrip('/')}/{tenant}/v2.0/.well-known/openid-configuration")
    public_url = reader.get("public_url", str, None, _web_url)
    return WebSettings(
        host=reader.get("host", str, "127.0.0.1") or "127.0.0.1",
        port=reader.get("port", int, 8080, port_number) or 8080,
        public_url=public_url.rstrip("/") if public_url else None,
        oidc_tenant_id=tenant,
        oidc_client_id=reader.get("oidc_client_id", str) or "",
        oidc_client_secret=Secret(env=reader.get("oidc_client_secret_env", str)),
        oidc_discovery_url=discovery,
        oidc_roles_claim=reader.get("oidc_roles_claim", str, "roles", one_of("roles", "groups")),
        oidc_mash_role=reader.get("oidc_mash_role", str, "mash") or "mash",
        oidc_manager_role=reader.get("oidc_manager_role", str, "manager") or "manager",
        session_secret=Secret(env=reader.get("session_secret_env", str)),
        idle_timeout_minutes=reader.get("idle_timeout_minutes", int, 30, positive) or 30,
        threads=reader.get("threads", int, 4, positive) or 4,
    )
