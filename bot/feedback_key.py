"""The secret that keys feedback receipts: from FEEDBACK_KEY, else a generated key kept in a file apart.

Why it matters and why apart from the database: a receipt is HMAC(key, round, person). Whoever holds the
database AND the key can tell, while a round is open, whether a given person has answered it (and on
Postgres, from row versions, which answers arrived next to their receipt). With the key elsewhere, a copy
of the database alone shows neither. Once a round closes its receipts are deleted, so the key no longer
matters for it. Several replicas must share one key: set FEEDBACK_KEY (at least 32 characters)."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import is_sqlite, normalize_url, redact

log = logging.getLogger("mentorbot")

MIN_KEY_CHARS = 32


class FeedbackKeyError(Exception):
    """The key given cannot be used; the message says what to do."""


def key_file_for(database_url: str, key_file: str | None) -> Path:
    """Where the generated key lives: FEEDBACK_KEY_FILE, beside a SQLite file, or under data/ per database."""
    if key_file:
        return Path(key_file)
    url = normalize_url(database_url)
    database = make_url(url).database
    if is_sqlite(url) and database and database != ":memory:" and not database.startswith("file:"):
        return Path(database + ".feedback-key")
    digest = hashlib.sha256(redact(url).encode()).hexdigest()[:12]
    return Path("data") / f"feedback-{digest}.key"


def load_feedback_key(given: str | None, key_file: str | None, database_url: str) -> bytes:
    """The key bytes; generates and stores one (mode 0600) the first time when FEEDBACK_KEY is not set."""
    if given:
        if len(given) < MIN_KEY_CHARS:
            raise FeedbackKeyError(f"FEEDBACK_KEY is too short: give at least {MIN_KEY_CHARS} random characters, "
                                   "e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`.")
        return hashlib.sha256(given.encode()).digest()
    path = key_file_for(database_url, key_file)
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not is_sqlite(database_url):
        log.warning("FEEDBACK_KEY is not set: feedback receipts use a key generated in %s; replicas sharing this "
                    "database need one shared FEEDBACK_KEY instead", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key.hex() + "\n")
    return key
