"""Is a referral about someone already referred? Pure: two sets of form answers in,
a match (strength, rule, the fields that agreed) or None out.

The rules (which fields, how close) are rules/matching.toml; see the comments
there. Nothing here reads the store: intake/store/links.py does.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import DamerauLevenshtein

from ..config.paths import project_dir
from .check import parse_date
from .errors import SettingsError

KINDS = ("date", "name", "forename", "close", "swapped")
STRENGTHS = ("same", "possible")
FORENAMES, SURNAME = "subject_forenames", "subject_surname"


@dataclass(frozen=True)
class MatchRule:
    id: str
    strength: str
    compare: tuple[tuple[str, str], ...]  # (field, kind), all must agree


@dataclass(frozen=True)
class MatchRules:
    rules: tuple[MatchRule, ...]
    close_min_letters: int = 5
    close_max_edits: int = 1
    raise_within_days: int = 365
    raise_strengths: tuple[str, ...] = STRENGTHS
    fold: tuple[tuple[str, str], ...] = ()  # letters with no decomposition: ("ł", "l")

    @property
    def date_in_every_rule(self) -> str | None:
        """The field every rule compares as a date (the date of birth), if there is one."""
        common = set.intersection(*({key for key, kind in rule.compare if kind == "date"}
                                    for rule in self.rules)) if self.rules else set()
        return min(common) if common else None

    @property
    def fields(self) -> tuple[str, ...]:
        """Every form field a rule reads (swapped reads both names)."""
        keys = {key for rule in self.rules for key, _ in rule.compare}
        if any(kind == "swapped" for rule in self.rules for _, kind in rule.compare):
            keys |= {FORENAMES, SURNAME}
        return tuple(sorted(keys))


@dataclass(frozen=True)
class Match:
    strength: str  # same | possible
    rule: str
    fields: tuple[str, ...]  # the fields that agreed, e.g. ("subject_dob", "subject_surname")


# -- comparing ---------------------------------------------------------------


def normalise_name(text: str | None, fold: tuple[tuple[str, str], ...] = ()) -> str:
    """Lower case letters and digits only, diacritics dropped: "O'Brien" -> "obrien",
    "Zoë" -> "zoe", "Smith-Jones" -> "smithjones"; `fold` maps letters that have no
    decomposition ("ł" -> "l")."""
    decomposed = unicodedata.normalize("NFKD", str(text or "").casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    for letter, plainer in fold:
        plain = plain.replace(letter, plainer)
    return "".join(ch for ch in plain if ch.isalnum())


def first_forename(text: str | None, fold: tuple[tuple[str, str], ...] = ()) -> str:
    words = str(text or "").replace("-", " ").split()
    return normalise_name(words[0], fold) if words else ""


def _date(text: str | None) -> date | None:
    return parse_date(str(text or ""))


def _agrees(kind: str, key: str, a: Mapping[str, str], b: Mapping[str, str],
            rules: MatchRules) -> bool:
    if kind == "date":
        born = _date(a.get(key))
        return born is not None and born == _date(b.get(key))
    fold = rules.fold
    if kind == "name":
        name = normalise_name(a.get(key), fold)
        return bool(name) and name == normalise_name(b.get(key), fold)
    if kind == "forename":
        full_a, full_b = normalise_name(a.get(key), fold), normalise_name(b.get(key), fold)
        first_a = first_forename(a.get(key), fold)
        return bool(first_a) and (first_a == first_forename(b.get(key), fold)
                                  or full_a == full_b)
    if kind == "close":
        name_a, name_b = normalise_name(a.get(key), fold), normalise_name(b.get(key), fold)
        if not name_a or not name_b:
            return False
        if min(len(name_a), len(name_b)) < rules.close_min_letters:
            return name_a == name_b
        return DamerauLevenshtein.distance(name_a, name_b) <= rules.close_max_edits
    if kind == "swapped":  # forename and surname the other way round
        a_first, b_first = (first_forename(x.get(FORENAMES), fold) for x in (a, b))
        a_last, b_last = (normalise_name(x.get(SURNAME), fold) for x in (a, b))
        return bool(a_first and a_last) and a_first == b_last and a_last == b_first
    raise ValueError(f"unknown comparison {kind!r}")


def match(new: Mapping[str, str], earlier: Mapping[str, str], rules: MatchRules) -> Match | None:
    """The first rule whose comparisons all agree, or None: no match."""
    for rule in rules.rules:
        if all(_agrees(kind, key, new, earlier, rules) for key, kind in rule.compare):
            agreed = []
            for key, kind in rule.compare:
                agreed += [FORENAMES, SURNAME] if kind == "swapped" else [key]
            return Match(rule.strength, rule.id, tuple(dict.fromkeys(agreed)))
    return None


# -- the rules file ----------------------------------------------------------


@lru_cache(maxsize=8)
def load_match_rules(directory: Path | None = None) -> MatchRules:
    """rules/matching.toml, checked; SettingsError listing each problem."""
    directory = directory or project_dir("rules")
    path = Path(directory) / "matching.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise SettingsError([f"[rules] matching.toml: file not found in {directory}"]) from err
    except tomllib.TOMLDecodeError as err:
        raise SettingsError([f"[rules] matching.toml: not valid TOML ({err})"]) from err
    problems, rules = [], []
    for index, spec in enumerate(data.get("rule", [])):
        name = spec.get("id") or f"rule {index + 1}"
        compare = spec.get("compare")
        if spec.get("strength") not in STRENGTHS:
            problems.append(f"[rules] matching.toml {name}: strength must be same or possible")
        if not isinstance(compare, dict) or not compare:
            problems.append(f"[rules] matching.toml {name}: compare names no field")
            continue
        for key, kind in compare.items():
            if kind not in KINDS:
                problems.append(f"[rules] matching.toml {name}: {key}: unknown comparison "
                                f"{kind!r} (one of {', '.join(KINDS)})")
        rules.append(MatchRule(name, str(spec.get("strength")), tuple(compare.items())))
    strengths = tuple(data.get("raise_strengths", STRENGTHS))
    if any(s not in STRENGTHS for s in strengths):
        problems.append("[rules] matching.toml raise_strengths: only same and possible")
    if problems:
        raise SettingsError(problems)
    return MatchRules(
        rules=tuple(rules),
        close_min_letters=int(data.get("close_min_letters", 5)),
        close_max_edits=int(data.get("close_max_edits", 1)),
        raise_within_days=int(data.get("raise_within_days", 365)),
        raise_strengths=strengths,
        fold=tuple((str(k).casefold(), str(v).casefold())
                   for k, v in data.get("fold", {}).items()),
    )
