"""A picture with a message, on every platform: a Slack file upload, a Teams card image, a file on the console."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.console import ConsoleMessenger
from adapters.slack import messenger as slack_messenger
from adapters.slack.messenger import SlackMessenger
from adapters.teams import translate as teams
from conversations.events import Actor
from conversations.messages import Fact, ImageFile, Message
from tests.fakes.memory import FakeClock, MemoryUnitOfWorkFactory
from tests.fakes.slack_api import FakeSlackApi
from tests.unit.test_teams_translate import assert_teams_accepts_card

ANN = Actor("slack", "T0001", "U0ANN")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png(width: int = 4, height: int = 3, padding: int = 0) -> bytes:
    """A real (tiny) PNG, with `padding` bytes of an ancillary chunk to make it as large as a test needs."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(out, format="PNG")
    raw = out.getvalue()
    if not padding:
        return raw
    chunk = b"tEXt" + b"pad\x00" + b"x" * padding
    extra = struct.pack(">I", len(chunk) - 4) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return raw[:33] + extra + raw[33:]  # after the IHDR chunk


def chart_message(image_bytes: bytes, sections: int = 2) -> Message:
    return Message("Report for 'Spring 2027' (running)",
                   tuple(f"Round {i}\nEveryone: 12 answers, safety 4.1/5" for i in range(1, sections + 1)),
                   (Fact("Signed up", "12"), Fact("Meeting rate", "75 % (9 of 12) check-ins")),
                   image=ImageFile("report-spring-2027.png", image_bytes, "Meeting rate per round: 75 %."))


def test_a_message_with_a_picture_survives_the_outbox() -> None:
    message = chart_message(png())
    back = Message.from_json(message.to_json())
    assert back == message
    assert back.image is not None and back.image.content.startswith(PNG_MAGIC)


# Slack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api
        assert api.invalid == []


async def test_slack_gets_the_picture_as_a_file_upload_in_three_steps(fake: FakeSlackApi,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_messenger, "CHANNEL_PACE_SECONDS", 0.0)
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)

    async def client_for(workspace: str) -> AsyncWebClient:
        return client

    messenger = SlackMessenger(client_for=client_for, uow=MemoryUnitOfWorkFactory(),
                               clock=FakeClock(datetime(2027, 1, 1, tzinfo=UTC)))
    picture = png()
    await messenger.send([ANN], chart_message(picture))
    methods = [c.method.split(":")[0] for c in fake.calls]
    assert methods == ["conversations.open", "chat.postMessage", "files.getUploadURLExternal", "upload",
                       "files.completeUploadExternal"]
    [ask] = fake.calls_to("files.getUploadURLExternal")
    assert ask.params["filename"] == "report-spring-2027.png"
    assert int(ask.params["length"]) == len(picture)
    assert ask.params["alt_txt"] == "Meeting rate per round: 75 %."
    assert list(fake.uploads.values()) == [picture]
    [done] = fake.calls_to("files.completeUploadExternal")
    assert done.params["channel_id"] == fake.calls_to("chat.postMessage")[0].params["channel"]


# Teams


def test_a_small_picture_goes_inside_the_card_under_the_headline() -> None:
    picture = png()
    activity = teams.message_activity(chart_message(picture))
    [attachment] = activity["attachments"]
    card = attachment["content"]
    assert_teams_accepts_card(card)
    image = card["body"][1]
    assert image["type"] == "Image" and image["altText"] == "Meeting rate per round: 75 %."
    assert image["url"] == "data:image/png;base64," + base64.b64encode(picture).decode()
    assert card["body"][0]["text"].startswith("Report for")


def test_a_picture_too_big_for_the_card_goes_beside_it_as_an_inline_image() -> None:
    picture = png(padding=30_000)
    activity = teams.message_activity(chart_message(picture))
    card_part, image_part = activity["attachments"]
    assert_teams_accepts_card(card_part["content"])
    assert not any(node.get("type") == "Image" for node in card_part["content"]["body"])
    assert image_part == {"contentType": "image/png", "name": "report-spring-2027.png",
                          "contentUrl": "data:image/png;base64," + base64.b64encode(picture).decode()}


def test_a_one_line_message_with_a_picture_is_still_a_card() -> None:
    activity = teams.message_activity(Message("Chart", image=ImageFile("c.png", png(), "a chart")))
    assert activity["attachments"][0]["content"]["body"][1]["type"] == "Image"


# Console


async def test_the_console_saves_the_picture_and_says_where(tmp_path: Path) -> None:
    out = io.StringIO()
    picture = png()
    await ConsoleMessenger(out, files=tmp_path / "exports").send([Actor("console", "console", "boss")],
                                                                 chart_message(picture))
    saved = tmp_path / "exports" / "report-spring-2027.png"
    assert saved.read_bytes() == picture
    assert f"Saved as {saved}" in out.getvalue()
    assert "Meeting rate per round: 75 %." in out.getvalue()


async def test_a_picture_name_cannot_escape_the_exports_folder(tmp_path: Path) -> None:
    out = io.StringIO()
    image = ImageFile("../../etc/evil.png", png(), "x")
    await ConsoleMessenger(out, files=tmp_path / "exports").send([Actor("console", "console", "boss")],
                                                                 Message("x", image=image))
    assert (tmp_path / "exports" / "evil.png").exists()
    assert not (tmp_path / "etc").exists()


def test_the_fake_connector_refuses_an_inline_image_teams_could_not_show() -> None:
    from tests.fakes.bot_connector import _image_problem

    good = teams.image_attachment(ImageFile("c.png", png(), "a chart"))
    assert _image_problem(good) is None
    assert _image_problem({**good, "contentUrl": "data:image/png;base64,@@not base64@@"}) is not None
    assert _image_problem({**good, "contentUrl": "http://example.com/c.png"}) is not None
    assert _image_problem({"contentType": "image/png", "contentUrl": "https://example.com/c.png"}) is None
