"""The store's schema, as numbered migrations applied once each, in order (store.py)."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "001-initial",
        """
        CREATE TABLE mailbox_state (
            folder TEXT PRIMARY KEY,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL
        );
        CREATE TABLE reference_counters (
            year INTEGER PRIMARY KEY,
            last INTEGER NOT NULL
        );
        CREATE TABLE intakes (
            id INTEGER PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,
            message_id TEXT,
            sender TEXT,
            reply_to TEXT,
            received_at TEXT NOT NULL,
            last_message_at TEXT NOT NULL,
            status TEXT NOT NULL,
            missing TEXT NOT NULL DEFAULT '[]',
            invalid TEXT NOT NULL DEFAULT '[]',
            cc_missing TEXT NOT NULL DEFAULT '[]',
            findings TEXT NOT NULL DEFAULT '[]',
            fields TEXT NOT NULL DEFAULT '{}',
            field_sources TEXT NOT NULL DEFAULT '{}',
            recipients TEXT NOT NULL DEFAULT '[]',
            priority TEXT NOT NULL DEFAULT 'normal',
            urgent_because TEXT NOT NULL DEFAULT '[]',
            age_band TEXT,
            source TEXT NOT NULL DEFAULT 'none',
            review_reason TEXT,
            folder TEXT,
            machine_reason TEXT,
            reminders_sent INTEGER NOT NULL DEFAULT 0,
            last_reminder_at TEXT,
            bounced INTEGER NOT NULL DEFAULT 0,
            closed_at TEXT,
            close_reason TEXT,
            purged_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX intakes_status ON intakes(status);
        CREATE INDEX intakes_received ON intakes(received_at);
        CREATE INDEX intakes_message_id ON intakes(message_id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            uid INTEGER NOT NULL,
            message_id TEXT,
            content_hash TEXT NOT NULL,
            sender TEXT,
            received_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT,
            intake_id INTEGER REFERENCES intakes(id),
            raw BLOB,
            marked INTEGER NOT NULL DEFAULT 0,
            UNIQUE (folder, uidvalidity, uid)
        );
        CREATE INDEX messages_message_id ON messages(message_id);
        CREATE INDEX messages_hash ON messages(content_hash);
        CREATE INDEX messages_unmarked ON messages(folder, marked);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            intake_id INTEGER REFERENCES intakes(id),
            kind TEXT NOT NULL,
            recipients TEXT NOT NULL,
            message_id TEXT NOT NULL UNIQUE,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            intake_id INTEGER,
            message_row INTEGER,
            event TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_intake ON audit(intake_id);
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        CREATE TABLE digests (
            day TEXT PRIMARY KEY,
            sent_at TEXT NOT NULL,
            outbox_id INTEGER
        );
        """,
    ),
    (
        # A message some recipients refused is split into rows that share its
        # Message-ID (outbox.py): message_id is no longer unique.
        "002-outbox-split-rows",
        """
        CREATE TABLE outbox_new (
            id INTEGER PRIMARY KEY,
            intake_id INTEGER REFERENCES intakes(id),
            kind TEXT NOT NULL,
            recipients TEXT NOT NULL,
            message_id TEXT NOT NULL,
            raw BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        INSERT INTO outbox_new SELECT id, intake_id, kind, recipients, message_id, raw, status,
            attempts, last_error, next_attempt_at, created_at, sent_at FROM outbox;
        DROP TABLE outbox;
        ALTER TABLE outbox_new RENAME TO outbox;
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE INDEX outbox_message_id ON outbox(message_id);
        """,
    ),
    (
        # The [smtp] mode a message was queued in: one queued in a shadow trial is
        # never sent by a later send-mode run (outbox.py). NULL (older rows): send.
        "i12-outbox-queued-in",
        "ALTER TABLE outbox ADD COLUMN queued_in TEXT;",
    ),
    (
        # Issue 17: two intakes about the same individual (intake/store/links.py). After a purge
        # of either, strength, rule and fields are erased: only the two intakes remain.
        "i17-links",
        """
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            earlier_id INTEGER NOT NULL REFERENCES intakes(id),
            later_id INTEGER NOT NULL REFERENCES intakes(id),
            strength TEXT,
            rule TEXT,
            fields TEXT,
            found_at TEXT NOT NULL,
            UNIQUE (earlier_id, later_id)
        );
        CREATE INDEX links_later ON links(later_id);
        """,
    ),
    (
        # Issue 17: the MASH's screening clock, one row an intake (intake/store/screening_clock.py).
        "i17-screening",
        """
        CREATE TABLE screening (
            intake_id INTEGER PRIMARY KEY REFERENCES intakes(id),
            due_at TEXT NOT NULL,
            working_hours REAL NOT NULL,
            screened_at TEXT,
            screened_by TEXT,
            outcome TEXT,
            stopped_by TEXT,
            overdue_alerted_at TEXT
        );
        CREATE INDEX screening_due ON screening(due_at);
        """,
    ),
    (
        # Each time the mailbox or SMTP kept failing (service_state.py): health, the
        # down/recovered messages to the MASH, and the digest's line.
        "i12-outages",
        """
        CREATE TABLE outages (
            id INTEGER PRIMARY KEY,
            component TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            error TEXT,
            alerted INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX outages_open ON outages(component, ended_at);
        """,
    ),
    (
        # Notes a MASH worker adds on the web page (intake/web); purge erases their text.
        "i16-notes",
        """
        CREATE TABLE notes (
            id INTEGER PRIMARY KEY,
            intake_id INTEGER NOT NULL REFERENCES intakes(id),
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT
        );
        CREATE INDEX notes_intake ON notes(intake_id);
        """,
    ),
    (
        # issue 14: who sent each message (RFC 8601, trusted servers only), the
        # referrer's address as first received (only it or the sender may correct),
        # every earlier version of an intake's answers, and corrections waiting for a
        # person (an intake in manual review leaves it only when someone accepts).
        "i14-sender-auth",
        """
        ALTER TABLE messages ADD COLUMN sender_auth TEXT;
        ALTER TABLE intakes ADD COLUMN sender_auth TEXT;
        ALTER TABLE intakes ADD COLUMN first_referrer_email TEXT;
        UPDATE intakes SET first_referrer_email =
            lower(trim(json_extract(fields, '$.referrer_email')));
        CREATE TABLE answer_versions (
            id INTEGER PRIMARY KEY,
            intake_id INTEGER NOT NULL REFERENCES intakes(id),
            at TEXT NOT NULL,
            message_row INTEGER,
            accepted_by TEXT,
            fields_before TEXT NOT NULL DEFAULT '{}',
            changed_keys TEXT NOT NULL DEFAULT '[]',
            status_before TEXT,
            status_after TEXT
        );
        CREATE INDEX answer_versions_intake ON answer_versions(intake_id);
        CREATE TABLE proposals (
            id INTEGER PRIMARY KEY,
            intake_id INTEGER NOT NULL REFERENCES intakes(id),
            message_row INTEGER,
            created_at TEXT NOT NULL,
            proposed_fields TEXT NOT NULL DEFAULT '{}',
            proposed_sources TEXT NOT NULL DEFAULT '{}',
            source TEXT NOT NULL DEFAULT 'none',
            status TEXT NOT NULL DEFAULT 'waiting',
            decided_at TEXT,
            decided_by TEXT
        );
        CREATE INDEX proposals_intake ON proposals(intake_id, status);
        CREATE TABLE notices (
            kind TEXT PRIMARY KEY,
            at TEXT NOT NULL
        );
        """,
    ),
    (
        # issue 14: manual-review alerts held back in a burst, sent together (bursts.py).
        "i14-alert-batch",
        """
        CREATE TABLE alert_batch (
            id INTEGER PRIMARY KEY,
            intake_id INTEGER NOT NULL REFERENCES intakes(id),
            at TEXT NOT NULL,
            outbox_id INTEGER
        );
        CREATE INDEX alert_batch_waiting ON alert_batch(outbox_id);
        """,
    ),
    (
        # issue 15: findings are codes, said in today's wording when shown; sentences stored
        # before are read back to codes by coded_findings (finding_codes.py, registered by
        # database.py); one that maps to none stays as it is.
        "i15-finding-codes",
        """
        UPDATE intakes SET findings = coded_findings(findings)
            WHERE findings LIKE '%"message"%';
        """,
    ),
)


def statements(sql: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out, current = [], ""
    for line in sql.strip().splitlines():
        current += line + "\n"
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out
