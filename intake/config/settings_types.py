"""Typed settings, as read from settings.toml by intake.config.settings.

Secrets are never held here: only where to find them (an environment
variable or a file), resolved at the moment of login.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..domain.errors import SettingsError


@dataclass(frozen=True)
class Secret:
    """Where a password lives; read only when needed, never logged."""

    env: str | None = None
    file: Path | None = None

    def reveal(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise SettingsError([f"environment variable {self.env} is not set"])
            return value
        if self.file:
            try:
                return self.file.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise SettingsError([f"password file {self.file}: {err.strerror}"]) from err
        return ""

    def __repr__(self) -> str:  # never show a value, only where it comes from
        return f"Secret(env={self.env!r}, file={str(self.file) if self.file else None!r})"


@dataclass(frozen=True)
class OAuth2Settings:
    tenant_id: str
    client_id: str
    client_secret: Secret | None = None
    client_certificate: Path | None = None
    client_certificate_thumbprint: str | None = None
    authority: str = "https://login.microsoftonline.com"
    scope: str = "https://outlook.office365.com/.default"
    token_url: str | None = None  # tests: a local client-credentials endpoint instead of msal


@dataclass(frozen=True)
class MailboxSettings:
    kind: str = "imap"  # imap | maildir
    host: str = ""
    port: int = 993
    security: str = "tls"  # tls | starttls | none
    ca_file: Path | None = None
    username: str = ""
    address: str = ""
    password: Secret = field(default_factory=Secret)
    auth: str = "password"  # password | oauth2
    folder: str = "INBOX"
    more_folders: tuple[str, ...] = ()
    processed_folder: str | None = None
    poll_seconds: float = 60.0
    path: Path | None = None  # maildir only
    batch_size: int = 50
    batch_bytes: int = 32 * 1024 * 1024  # what one batch may hold in memory, at most
    max_message_bytes: int = 30 * 1024 * 1024
    max_attachment_bytes: int = 25 * 1024 * 1024
    tls_verify: bool = True  # off only with tls_insecure_host naming this host
    trusted_authserv_ids: tuple[str, ...] = ()  # whose Authentication-Results count


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    ca_file: Path | None = None
    username: str | None = None
    password: Secret | None = None
    auth: str = "password"
    sender: str = ""  # the `from` key: "Name <address>"
    mode: str = "send"  # send | shadow | outbox
    shadow_folder: Path | None = None  # where shadow/outbox mode writes .eml files
    timeout: float = 30.0
    tls_verify: bool = True
    retry_first_seconds: float = 60.0  # a message not sent waits this long, doubling each time
    retry_max_seconds: float = 3600.0  # ... up to this


@dataclass(frozen=True)
class ReminderSettings:
    first_after_hours: float = 24
    every_hours: float = 24
    max: int = 3


@dataclass(frozen=True)
class DigestSettings:
    to: tuple[str, ...] = ()
    at: str = "08:00"
    timezone: str = "Europe/London"


@dataclass(frozen=True)
class WorkerSettings:
    """[worker]: how often the worker's jobs run, and how it waits to reconnect."""

    send_every_seconds: float = 30.0  # the outbox
    reminders_every_seconds: float = 300.0
    digest_every_seconds: float = 60.0  # is a day's digest due?
    overdue_every_seconds: float = 60.0  # is a screening deadline past?
    reconnect_first_seconds: float = 1.0  # the mailbox lost: wait this long, doubling
    reconnect_max_seconds: float = 300.0  # ... up to this


@dataclass(frozen=True)
class HealthSettings:
    """When `intake health` fails, and when the MASH hears the service is down."""

    max_round_age_seconds: float | None = None  # default: 5 poll intervals, at least 300 s
    failing_after_minutes: float = 15  # a sign-in, fetch or send failure this long: unhealthy
    alert_after_minutes: float = 30  # ... this long: one message to [triage] alert_to


@dataclass(frozen=True)
class WebSettings:
    """[web]: the MASH and manager web page (intake web); optional."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None  # as the browser sees it, e.g. behind the reverse proxy
    oidc_tenant_id: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: Secret = field(default_factory=Secret)
    oidc_discovery_url: str = ""  # default: Entra ID's, from oidc_authority and the tenant
    oidc_roles_claim: str = "roles"  # "roles" (app roles) or "groups" (group object ids)
    oidc_mash_role: str = "mash"
    oidc_manager_role: str = "manager"
    session_secret: Secret = field(default_factory=Secret)
    idle_timeout_minutes: int = 30
    threads: int = 4


@dataclass(frozen=True)
class Settings:
    path: Path  # the settings file; relative paths are relative to its folder
    mailbox: MailboxSettings
    smtp: SmtpSettings
    store_path: Path
    alert_to: tuple[str, ...]
    digest: DigestSettings
    reminders: ReminderSettings = field(default_factory=ReminderSettings)
    max_replies_per_address_per_hour: int = 5
    oauth2: OAuth2Settings | None = None
    rules_dir: Path | None = None  # default: the project's rules/
    templates_dir: Path | None = None  # default: the project's templates/
    parse_timeout_seconds: float = 20.0
    parse_memory_mb: int = 1024
    parser_workers: int = 2
    max_automatic_per_hour: int = 100  # every reply to anyone, together; alerts exempt
    web: WebSettings | None = None  # [web]; None when the section is absent
    working_hours: str = "09:00-17:00"  # [triage] working_hours: the screening clock's day
    health: HealthSettings = field(default_factory=HealthSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
