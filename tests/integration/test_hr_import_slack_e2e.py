"""Admins import the HR CSV by sending it to the bot in a Slack DM: the real bolt app over loopback, the fake
Slack Web API serving the file only to the bot token, a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import create_engine
from tests.fakes.memory import FakeClock
from tests.integration.slack_harness import ADMIN, TEAM, SlackHarness, slack_harness

GOOD = ("\ufeffEmail,Identity,Level,Department,Manager,Location\r\n"
        f",slack:{TEAM}:U0DANA,L9,Sales,ceo@example.com,Paris\r\n"
        "sam@example.com,,l8 director,Finance,,Berlin\r\n").encode()
BAD = (b"email,level,department\n"
       b"erin@example.com,L5,Ops\n"
       b"frank@example.com,L11,Ops\n"
       b"erin@example.com,L2,Ops\n")


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(datetime.now(UTC))) as harness:
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


async def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(query))]
    finally:
        await engine.dispose()


async def _send_file(slack: SlackHarness, name: str, content: bytes, *, user: str, event_id: str,
                     retry: int | None = None, **file_fields: Any) -> dict[str, Any]:
    """A person drops a file in their DM with the bot, with the words "import people"."""
    file = {**slack.fake.add_file(name, content, user=user), **file_fields}
    answer = await slack.event("event_message_im_file_share", event_id=event_id, user=user, retry=retry,
                               files=[file], text="import people")
    assert answer.status == 200
    return file


def _dm_texts(slack: SlackHarness, user: str) -> list[str]:
    """What the bot said in this person's DM: each message's fallback text and its blocks' text."""
    said = []
    for call in slack.posted_to(user):
        blocks = " ".join(str(b.get("text", {}).get("text", "")) for b in call.params.get("blocks") or [])
        said.append(f"{call.params.get('text', '')} {blocks}")
    return said


async def test_an_admin_imports_by_dm_and_hr_values_then_win_at_sign_up(slack: SlackHarness,
                                                                       migrated_url: str) -> None:
    file = await _send_file(slack, "people.csv", GOOD, user=ADMIN, event_id="EvFILE1")
    await _send_file(slack, "people.csv", GOOD, user=ADMIN, event_id="EvFILE1", retry=1)  # Slack's retry

    downloads = slack.fake.calls_to(f"file:{file['id']}")
    assert [(d.status, d.token) for d in downloads] == [(200, "xoxb-test-token")]  # once, with the bot token
    (said,) = _dm_texts(slack, ADMIN)  # one answer, though Slack delivered the event twice
    assert "Imported 2 people from people.csv." in said
    assert await _rows(migrated_url, "SELECT key, level, department FROM hr_records ORDER BY key") == [
        ("sam@example.com", "L8 Director", "Finance"), (f"slack:{TEAM}:U0DANA", "L9 Vice President", "Sales")]
    audit = await _rows(migrated_url, "SELECT action, outcome, detail FROM audit ORDER BY id")
    assert audit == [("admin.import_people", "ok", "2 people")]

    slack.fake.add_user("U0DANA", name="Dana Diaz", email="dana@example.com")
    await slack.join("U0DANA", name="Dana Diaz", role="mentee", level="L2 Analyst", department="Support")
    async with slack.bot.deps.uow() as uow:
        dana = await uow.people.by_actor(slack.actor("U0DANA"))
    assert dana is not None
    assert (dana.profile.level, dana.profile.department, dana.profile.manager) == (
        "L9 Vice President", "Sales", "ceo@example.com")
    assert any("Set by HR: level L9 Vice President, department Sales" in t for t in _dm_texts(slack, "U0DANA"))


async def test_a_bad_file_is_reported_by_line_and_column_and_imports_nothing(slack: SlackHarness,
                                                                            migrated_url: str) -> None:
    await _send_file(slack, "people.csv", GOOD, user=ADMIN, event_id="EvFILE1")
    await _send_file(slack, "broken.csv", BAD, user=ADMIN, event_id="EvFILE2")

    said = _dm_texts(slack, ADMIN)[-1]
    assert "Nothing imported from broken.csv: fix these and send it again." in said
    assert "line 3, column level: 'L11' is not on the ladder" in said
    assert "line 4: duplicate email erin@example.com (first on line 2)" in said
    assert await _rows(migrated_url, "SELECT key FROM hr_records ORDER BY key") == [
        ("sam@example.com",), (f"slack:{TEAM}:U0DANA",)]  # the earlier import stands, untouched
    audit = await _rows(migrated_url, "SELECT outcome, detail FROM audit ORDER BY id")
    assert audit == [("ok", "2 people"), ("invalid", "broken.csv: 2 problems")]


async def test_a_non_admin_is_refused_and_their_file_is_never_downloaded(slack: SlackHarness,
                                                                        migrated_url: str) -> None:
    file = await _send_file(slack, "people.csv", GOOD, user="U0STEVE", event_id="EvFILE3")

    (said,) = _dm_texts(slack, "U0STEVE")
    assert "Only program admins can send me files" in said
    assert slack.fake.calls_to(f"file:{file['id']}") == []
    assert await _rows(migrated_url, "SELECT key FROM hr_records") == []
    assert await _rows(migrated_url, "SELECT action, outcome FROM audit") == [("admin.import_people", "denied")]


async def test_wrong_files_get_a_clear_answer_and_change_nothing(slack: SlackHarness, migrated_url: str) -> None:
    photo = await _send_file(slack, "team.png", b"\x89PNG\r\n\x1a\n", user=ADMIN, event_id="EvFILE4",
                             mimetype="image/png", filetype="png")
    huge = await _send_file(slack, "everyone.csv", b"email\n" + b"someone@example.com\n" * 280_000,
                            user=ADMIN, event_id="EvFILE5")
    latin = await _send_file(slack, "latin1.csv", "email,location\nzoe@example.com,Zürich\n".encode("latin-1"),
                             user=ADMIN, event_id="EvFILE6")
    # Slack Connect shares may carry only the file's id: the bot asks files.info for the rest
    hidden = slack.fake.add_file("people.csv", GOOD, user=ADMIN)
    await slack.event("event_message_im_file_share", event_id="EvFILE7", user=ADMIN, text="",
                      files=[{"id": hidden["id"], "file_access": "check_file_info"}])
    slack.fake.fail(f"file:{hidden['id']}", status=500)
    await slack.event("event_message_im_file_share", event_id="EvFILE8", user=ADMIN, text="",
                      files=[{"id": hidden["id"], "file_access": "check_file_info"}])
    two = [slack.fake.add_file(n, GOOD, user=ADMIN) for n in ("a.csv", "b.csv")]
    await slack.event("event_message_im_file_share", event_id="EvFILE9", user=ADMIN, files=two)

    said = _dm_texts(slack, ADMIN)
    assert len(said) == 6
    assert "team.png is not a CSV file, so nothing was imported." in said[0]
    assert "everyone.csv is 5.3 MB; I take HR files of up to 5 MB, so nothing was imported." in said[1]
    assert "latin1.csv is not UTF-8 text, so nothing was imported." in said[2]
    assert "Imported 2 people from people.csv." in said[3]
    assert ("I couldn't fetch people.csv from Slack (the download answered HTTP 500), so nothing was imported."
            in said[4])
    assert "You sent 2 files; please send one HR CSV at a time." in said[5]
    for unread in (photo, huge, *two):
        assert slack.fake.calls_to(f"file:{unread['id']}") == []  # refused before any download
    assert len(slack.fake.calls_to(f"file:{latin['id']}")) == 1
    assert len(slack.fake.calls_to("files.info")) == 2
    assert await _rows(migrated_url, "SELECT outcome FROM audit ORDER BY id") == [
        ("invalid",), ("invalid",), ("invalid",), ("ok",), ("invalid",), ("invalid",)]
