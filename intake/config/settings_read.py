"""How one settings value is read and checked: the section reader and the checks
settings.py gives it. Each problem is one line, `[section] key: what is wrong`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from . import settings_keys

MISSING = object()


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SectionReader:
    """Reads one section, collecting problems instead of stopping at the first."""

    def __init__(self, data: dict[str, Any], section: str, problems: list[str]):
        self.section = section
        self.problems = problems
        raw = data.get(section, {})
        if not isinstance(raw, dict):
            self.fail("", "must be a table")
            raw = {}
        self.data = raw
        self.asked: set[str] = set()
        settings_keys.opened(self)  # what it reads is what is known (settings_keys.py)

    def fail(self, key: str, why: str) -> None:
        self.problems.append(f"[{self.section}] {key}: {why}" if key else f"[{self.section}] {why}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = MISSING,
            check: Callable[[Any], str | None] | None = None) -> Any:
        self.asked.add(key)
        if key not in self.data:
            if default is MISSING:
                self.fail(key, "missing")
            return None if default is MISSING else default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(key, f"must be {names}, not {value!r}")
            return None if default is MISSING else default
        if check:
            why = check(value)
            if why:
                self.fail(key, why)
                return None if default is MISSING else default
        return value


def one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}, not {v!r}"


def port_number(value: int) -> str | None:
    return None if 0 < value < 65536 else f"not a port number: {value}"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be more than 0"


def address(value: str) -> str | None:
    match = re.search(r"<([^<>]+)>\s*$", value)
    try:
        validate_email(match.group(1) if match else value, check_deliverability=False)
    except EmailNotValidError as err:
        return f"not an email address ({err})"
    return None


def addresses(value: list) -> str | None:
    if not value:
        return "must name at least one address"
    for item in value:
        if not isinstance(item, str) or address(item):
            return f"not an email address: {item!r}"
    return None


def hh_mm(value: str) -> str | None:
    return None if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value) else "must be HH:MM"


def timezone_name(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {value!r}"
    return None


def resolve(base: Path, value: str | None) -> Path | None:
    return (base / value).resolve() if value else None


def loopback_url(url: str) -> bool:
    match = re.match(r"http://(\[[^\]]+\]|[^:/]+)", url)
    return bool(match) and is_loopback(match.group(1))
