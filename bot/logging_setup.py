"""Process logging: plain text or one JSON object a line (LOG_FORMAT), with secrets scrubbed from both."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from bot.config import AppConfig

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
REDACTED = "***"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIN_SECRET_LENGTH = 6  # shorter values ("1", "yes") would blank out ordinary words

# user:password@ in any URL-looking text (a DSN in a driver's error, a proxy URL)
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)
# Slack tokens have a recognisable shape even when they are not ours (a pasted one in an error)
_SLACK_TOKEN = re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}")


class Redactor:
    """Replaces known secret values, URL passwords and Slack-shaped tokens with ***."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # A secret may also appear JSON-escaped (a quote or backslash in it) in a JSON line.
        values |= {json.dumps(s)[1:-1] for s in values}
        self._secrets = sorted(values, key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _URL_PASSWORD.sub(rf"\1{REDACTED}\3", text)
        return _SLACK_TOKEN.sub(REDACTED, text)


class _RedactingFormatter(logging.Formatter):
    """Formats with `inner`, then scrubs the whole line, exception text included."""

    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(self._inner.format(record))


class _UtcJsonFormatter(JsonFormatter):
    """time (ISO 8601, UTC), level, logger, message, and `exception` when there is one."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def build_formatter(log_format: LogFormat, redact: Redactor) -> logging.Formatter:
    """The formatter for `log_format`, scrubbing secrets."""
    inner: logging.Formatter
    if log_format == "json":
        inner = _UtcJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "exception"},
            json_ensure_ascii=False)
    else:
        inner = logging.Formatter(TEXT_FORMAT)
    return _RedactingFormatter(inner, redact)


def secret_values(config: AppConfig) -> list[str]:
    """Every credential the process holds, and the database password: what a log line must never show."""
    values = [getattr(config.secrets, f.name) for f in fields(config.secrets)]
    with suppress(ArgumentError):  # an unparseable URL: the URL-password pattern still covers it
        values.append(make_url(config.database_url).password)
    return [v for v in values if isinstance(v, str) and v]


def configure_logging(*, level: str, log_format: LogFormat, secrets: Iterable[str | None] = (),
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to `stream` (stderr) in `log_format`; replaces any handler set before."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(build_formatter(log_format, Redactor(secrets)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic announces its plugins at INFO when first imported, which is after this for lazily loaded verbs.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))
    return handler
