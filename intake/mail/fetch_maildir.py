"""A local maildir as the mailbox, for the demo and for trying rules without servers.

Folders are maildir++: INBOX is the maildir at settings.path, "Junk Email"
is `<path>/.Junk Email`. Each folder keeps `.intake-state.json`: a
UIDVALIDITY chosen once, and a UID for every message key, given in arrival
order and never reused, so the worker's (folder, UIDVALIDITY, UID)
bookkeeping works as with IMAP. received_at is the file's mtime (what
delivery agents set). Marking moves the file (an atomic rename) into
processed_folder, or, with none, records the UID as processed in the state
file: a message is never deleted, and its flags (\\Seen) are never changed.
"""

from __future__ import annotations

import json
import logging
import mailbox
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..config.settings_types import MailboxSettings
from ..domain.errors import MailboxError, SettingsError
from ..domain.models import RawMessage

log = logging.getLogger("intake.fetch_maildir")

STATE_FILE = ".intake-state.json"


class MaildirMailbox:
    def __init__(self, settings: MailboxSettings) -> None:
        if settings.path is None:
            raise SettingsError(["[mailbox] path: a maildir mailbox needs a path"])
        self.settings = settings
        self.root = Path(settings.path)

    def connect(self) -> None:
        if not (self.root / "cur").is_dir() or not (self.root / "new").is_dir():
            raise MailboxError(f"{self.root}: not a maildir (no cur/ and new/)")

    def close(self) -> None:
        pass

    def folders(self) -> list[str]:
        return [self.settings.folder, *self.settings.more_folders]

    # -- folders and state ---------------------------------------------------

    def _dir(self, folder: str) -> Path:
        if folder.upper() == "INBOX":
            return self.root
        return self.root / ("." + folder.replace("/", "."))

    def _maildir(self, folder: str, create: bool = False) -> mailbox.Maildir:
        path = self._dir(folder)
        if not create and not (path / "cur").is_dir():
            raise MailboxError(f"{self.root}: no folder {folder}")
        try:
            return mailbox.Maildir(path, factory=None, create=create)
        except OSError as err:
            raise MailboxError(f"{self.root}: cannot open folder {folder}: {err.strerror}") from err

    def _load(self, folder: str) -> dict:
        path = self._dir(folder) / STATE_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            # A new folder: a UIDVALIDITY from the clock, as IMAP servers do.
            return {"uidvalidity": int(time.time()), "next_uid": 1, "uids": {}, "processed": []}
        except (OSError, ValueError) as err:
            raise MailboxError(f"{path}: unreadable state: {err}") from err

    def _save(self, folder: str, state: dict) -> None:
        """Atomically: temp file, fsync, rename (a crash leaves the old or the new)."""
        directory = self._dir(folder)
        fd, tmp = tempfile.mkstemp(prefix=".intake-state.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, directory / STATE_FILE)
        except OSError as err:
            Path(tmp).unlink(missing_ok=True)
            raise MailboxError(f"{directory}: cannot save state: {err.strerror}") from err

    def _sync(self, folder: str) -> tuple[mailbox.Maildir, dict]:
        """Give every key without a UID the next ones, oldest file first."""
        box = self._maildir(folder)
        state = self._load(folder)
        uids: dict[str, int] = state["uids"]
        keys = set(box.keys())
        fresh = sorted(keys - uids.keys(), key=lambda k: (self._mtime(box, k), k))
        gone = uids.keys() - keys
        for key in fresh:
            uids[key] = state["next_uid"]
            state["next_uid"] += 1
        for key in gone:
            del uids[key]
        if gone:
            live = set(uids.values())
            state["processed"] = [uid for uid in state.get("processed", []) if uid in live]
        if fresh or gone or not (self._dir(folder) / STATE_FILE).exists():
            self._save(folder, state)
        return box, state

    @staticmethod
    def _path(box: mailbox.Maildir, key: str) -> Path:
        # Maildir keeps the key -> "cur/<name>" map private; this is the stable way in.
        return Path(box._path) / box._lookup(key)  # type: ignore[attr-defined]

    def _mtime(self, box: mailbox.Maildir, key: str) -> float:
        try:
            return self._path(box, key).stat().st_mtime
        except (OSError, KeyError):
            return 0.0

    # -- the Mailbox protocol ------------------------------------------------

    def uidvalidity(self, folder: str) -> int:
        return int(self._sync(folder)[1]["uidvalidity"])

    def uids_after(self, folder: str, last_uid: int) -> list[int]:
        _, state = self._sync(folder)
        return sorted(uid for uid in state["uids"].values() if uid > last_uid)

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[RawMessage]:
        box, state = self._sync(folder)
        by_uid = {uid: key for key, uid in state["uids"].items()}
        cap = self.settings.max_message_bytes
        for uid in sorted(uids):
            key = by_uid.get(uid)
            if key is None:
                log.warning("uid %s in %s: gone before it could be fetched", uid, folder)
                continue
            try:
                path = self._path(box, key)
                stat = path.stat()
                too_large = stat.st_size > cap
                data = _header_of(path) if too_large else path.read_bytes()
            except (OSError, KeyError) as err:
                log.warning("uid %s in %s: unreadable: %s", uid, folder, err)
                continue
            yield RawMessage(
                folder=folder,
                uidvalidity=int(state["uidvalidity"]),
                uid=uid,
                received_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                data=data,
                size=stat.st_size,
                too_large=too_large,
            )

    def received_dates(self, folder: str, uids: Sequence[int]) -> dict[int, datetime]:
        box, state = self._sync(folder)
        by_uid = {uid: key for key, uid in state["uids"].items()}
        return {uid: datetime.fromtimestamp(self._mtime(box, by_uid[uid]), tz=UTC)
                for uid in uids if uid in by_uid}

    def sizes(self, folder: str, uids: Sequence[int]) -> dict[int, int]:
        box, state = self._sync(folder)
        by_uid = {uid: key for key, uid in state["uids"].items()}
        found: dict[int, int] = {}
        for uid in uids:
            if uid in by_uid:
                try:
                    found[uid] = self._path(box, by_uid[uid]).stat().st_size
                except (OSError, KeyError):
                    continue
        return found

    def mark_processed(self, folder: str, uids: Sequence[int], move: bool = True) -> None:
        if not uids:
            return
        box, state = self._sync(folder)
        target = self.settings.processed_folder
        if not move or not target or target == folder:
            done = set(state.get("processed", [])) | set(uids)
            state["processed"] = sorted(done)
            self._save(folder, state)
            return
        dest = self._dir(target)
        self._maildir(target, create=True)
        by_uid = {uid: key for key, uid in state["uids"].items()}
        for uid in sorted(uids):
            key = by_uid.get(uid)
            if key is None:
                continue
            source = self._path(box, key)
            # Same name under cur/ keeps the key and the flags; rename is atomic.
            os.replace(source, dest / "cur" / source.name)
            log.info("uid %s in %s: moved to %s", uid, folder, target)
        self._sync(folder)

    def processed(self, folder: str) -> list[int]:
        """UIDs marked processed in place (when there is no processed_folder)."""
        return list(self._load(folder).get("processed", []))

    def wait_for_mail(self, timeout: float) -> None:
        """Until a file arrives in the main folder (new/ or cur/ changes) or timeout."""
        directory = self._dir(self.settings.folder)
        before = _stamp(directory)
        deadline = time.monotonic() + timeout
        step = max(0.05, min(1.0, self.settings.poll_seconds))
        while time.monotonic() < deadline:
            time.sleep(min(step, max(0.0, deadline - time.monotonic())))
            if _stamp(directory) != before:
                return


def _stamp(directory: Path) -> tuple[int, ...]:
    try:
        return tuple((directory / sub).stat().st_mtime_ns for sub in ("new", "cur"))
    except OSError:
        return ()


def _header_of(path: Path, limit: int = 1024 * 1024) -> bytes:
    """The header block (up to the first empty line), at most `limit` bytes."""
    lines = []
    size = 0
    with path.open("rb") as handle:
        while size < limit and (line := handle.readline(limit - size)):
            if line in (b"\n", b"\r\n"):
                break
            lines.append(line)
            size += len(line)
    return b"".join(lines)
