"""Work on a schedule or on request: reminders, the digest, purge, retry, reread."""
