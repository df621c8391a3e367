"""Mail in and out: the mailbox (IMAP, maildir), parsing, composing replies, the outbox, SMTP
and OAuth2.
"""
