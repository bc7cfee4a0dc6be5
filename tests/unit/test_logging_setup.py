"""Log lines: one JSON object per line in json mode, plain text otherwise, secrets scrubbed in both."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import configure_logging

TOKEN = "xoxb-1234567890-abcdefghij"
PASSWORD = 'pa"ss\\word'  # needs JSON escaping: must be scrubbed in its escaped form too


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _log_some(stream: io.StringIO) -> list[str]:
    log = logging.getLogger("mentorbot.test")
    log.info("connecting with %s to postgresql://bot:%s@db/mentorbot", TOKEN, PASSWORD)
    log.debug("not shown at INFO")
    try:
        raise ConnectionError(f"refused: token={TOKEN}")
    except ConnectionError:
        log.exception("Slack said no for %s", "alice")
    return stream.getvalue().splitlines()


def test_json_lines_carry_time_level_logger_message_and_exception(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", log_format="json", secrets=[TOKEN, PASSWORD], stream=stream)
    lines = _log_some(stream)

    records = [json.loads(line) for line in lines]  # every line is one whole JSON object
    assert len(records) == 2
    first, second = records
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "mentorbot.test"
    assert first["time"].endswith("+00:00")
    assert first["message"] == "connecting with *** to postgresql://bot:***@db/mentorbot"
    assert second["level"] == "ERROR" and second["message"] == "Slack said no for alice"
    assert "Traceback (most recent call last)" in second["exception"]
    assert "ConnectionError: refused: token=***" in second["exception"]
    text = stream.getvalue()
    assert TOKEN not in text and "pa" + '\\"' + "ss" not in text and "word@" not in text


def test_text_mode_is_one_plain_line_with_secrets_scrubbed(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", log_format="text", secrets=[TOKEN, PASSWORD], stream=stream)
    lines = _log_some(stream)

    assert lines[0].endswith(" INFO mentorbot.test: connecting with *** to postgresql://bot:***@db/mentorbot")
    assert lines[1].endswith(" ERROR mentorbot.test: Slack said no for alice")
    assert lines[2] == "Traceback (most recent call last):"
    assert TOKEN not in stream.getvalue() and PASSWORD not in stream.getvalue()


def test_a_slack_shaped_token_that_is_not_ours_is_scrubbed_too(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", log_format="json", secrets=[], stream=stream)
    logging.getLogger("x").warning("pasted xapp-1-A0123-4567-abcdef in a message")
    assert json.loads(stream.getvalue())["message"] == "pasted *** in a message"
