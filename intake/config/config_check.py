"""check-config's first half: what can be checked on this machine, before any server.

Every problem is one line (`[section] key: what is wrong`) and they are all
listed together, exit 2: the rules parse, every template renders with sample
data, the store's and the shadow folder's places can be written, and every
secret the settings name is there. Nothing is created: not the store, not a folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from ..domain.errors import SettingsError
from ..domain.rules import load_rules
from ..runtime.diskspace import low_disk_warning
from .preflight import issue17_rules, template_problems
from .settings_types import Secret, Settings


def check_locally(settings: Settings, out: TextIO) -> None:
    """Print one ok line per local check, or raise SettingsError listing every problem."""
    problems: list[str] = []
    ok: list[str] = []
    try:
        rules = load_rules(settings.rules_dir)
        ok.append(f"rules: ok — {len(rules.fields)} form fields, from "
                  f"{settings.rules_dir or _default('rules')}")
    except SettingsError as err:
        problems += err.problems
    try:
        issue17_rules(settings)  # rules/matching.toml and rules/screening.toml
    except SettingsError as err:
        problems += err.problems
    rendering = template_problems(settings)
    problems += rendering
    if not rendering:
        ok.append(f"templates: ok — every message renders, from "
                  f"{settings.templates_dir or _default('templates')}")
    problems += _writable("[store] path", settings.store_path, is_file=True)
    if settings.smtp.mode != "send" and settings.smtp.shadow_folder:
        problems += _writable("[smtp] shadow_folder", settings.smtp.shadow_folder, is_file=False)
    problems += missing_secrets(settings)
    if problems:
        raise SettingsError(problems)
    ok.append(f"store: ok — {settings.store_path} can be written")
    for line in ok:
        print(line, file=out, flush=True)
    warning = low_disk_warning(settings.store_path)
    if warning:  # a warning, not a failure: the worker still runs
        print(f"warning: {warning}", file=sys.stderr, flush=True)


def missing_secrets(settings: Settings) -> list[str]:
    """One line for each secret the settings name that is not there (never its value)."""
    found: list[str] = []
    needed: list[tuple[str, Secret | None]] = []
    if settings.mailbox.kind == "imap" and settings.mailbox.auth == "password":
        needed.append(("mailbox", settings.mailbox.password))
    if settings.smtp.mode == "send" and settings.smtp.auth == "password":
        needed.append(("smtp", settings.smtp.password))
    for section, secret in needed:
        if secret is None:
            continue
        if secret.env and not os.environ.get(secret.env):
            found.append(f"[{section}] password_env: environment variable {secret.env} "
                         "is not set")
        if secret.file and not _readable(secret.file):
            found.append(f"[{section}] password_file: {secret.file} cannot be read")
    oauth2 = settings.oauth2
    uses_oauth2 = "oauth2" in (settings.mailbox.auth, settings.smtp.auth)
    if oauth2 and uses_oauth2 and oauth2.client_secret and oauth2.client_secret.env:
        if not os.environ.get(oauth2.client_secret.env):
            found.append(f"[oauth2] client_secret_env: environment variable "
                         f"{oauth2.client_secret.env} is not set")
    if oauth2 and uses_oauth2 and oauth2.client_certificate:
        if not _readable(oauth2.client_certificate):
            found.append(f"[oauth2] client_certificate: {oauth2.client_certificate} "
                         "cannot be read")
    return found


def _writable(key: str, path: Path, *, is_file: bool) -> list[str]:
    """[] when `path` can be written, or made in a folder that can be (nothing is made)."""
    if path.exists():
        if is_file and path.is_dir():
            return [f"{key}: {path} is a folder, not a file"]
        if not is_file and not path.is_dir():
            return [f"{key}: {path} is a file, not a folder"]
        return [] if os.access(path, os.W_OK) else [f"{key}: {path} cannot be written"]
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [f"{key}: {parent} is not a folder, so {path} cannot be made"]
    if not os.access(parent, os.W_OK | os.X_OK):
        return [f"{key}: {path} cannot be made ({parent} cannot be written)"]
    return []


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


def _default(name: str) -> Path:
    from .paths import project_dir

    return project_dir(name)
