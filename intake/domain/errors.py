"""The service's exceptions, each saying when it is raised.

IntakeError
  SettingsError      settings or rules are wrong: exit 2, one line per problem
  OperationError     something outside us failed while running: exit 1
    MailboxError     the IMAP server or maildir could not be reached or read
      LoginError     the mailbox refused our credentials
    SendError        the SMTP server could not take a message
    StoreError       the store could not be opened or written
      StoreLockedError  another worker holds the store
  StopMessage        a pipeline stage stops one message with an outcome
"""

from __future__ import annotations


class IntakeError(Exception):
    """Base of everything the service raises on purpose."""


class SettingsError(IntakeError):
    """Bad settings or rules: carries one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class OperationError(IntakeError):
    """A server or the disk failed: the run stops with exit code 1."""


class MailboxError(OperationError):
    """The mailbox could not be reached or read."""


class LoginError(MailboxError):
    """The mailbox (or SMTP server) refused our credentials."""


class SendError(OperationError):
    """An outgoing message could not be handed to the SMTP server."""

    def __init__(self, message: str, permanent: bool = False,
                 refused: dict[str, tuple[int, str]] | None = None):
        super().__init__(message)
        self.permanent = permanent
        # Every recipient refused at RCPT: address -> (code, the server's text).
        self.refused = dict(refused or {})


class StoreError(OperationError):
    """The store could not be opened or written (disk full, read-only...)."""


class StoreLockedError(StoreError):
    """Another worker is already running on this store."""
