"""The feedback receipts' key: from FEEDBACK_KEY, or generated once into a private file apart from the data."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.feedback_key import FeedbackKeyError, key_file_for, load_feedback_key


def test_a_generated_key_is_kept_beside_the_sqlite_file_private_and_stable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mentorbot.db'}"
    first = load_feedback_key(None, None, url)
    path = tmp_path / "mentorbot.db.feedback-key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_feedback_key(None, None, url) == first and len(first) == 32


def test_feedback_key_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mentorbot.db'}"
    given = load_feedback_key("x" * 40, None, url)
    assert given == load_feedback_key("x" * 40, None, url) and len(given) == 32
    assert not (tmp_path / "mentorbot.db.feedback-key").exists()  # nothing generated when the key is given
    assert given != load_feedback_key(None, None, url)
    with pytest.raises(FeedbackKeyError, match="at least 32"):
        load_feedback_key("short", None, url)


def test_postgres_keys_live_per_database_under_data_or_where_told(tmp_path: Path) -> None:
    one = key_file_for("postgresql://u:secret@db/one", None)
    two = key_file_for("postgresql://u:secret@db/two", None)
    assert one.parent == Path("data") and one != two and "secret" not in str(one)
    assert key_file_for("postgresql://db/one", str(tmp_path / "k")) == tmp_path / "k"
