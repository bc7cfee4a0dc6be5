"""The HR CSV sent as a file: the engine's flow on memory fakes, both platforms' translators on recorded payloads,
and the capped download against a server on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.downloads import fetch_capped, host_allowed
from adapters.slack import translate as slack
from adapters.teams import translate as teams
from conversations.events import Actor, Command, FileReader, FileShared, FileUnavailable, SharedFile
from conversations.hr_import import MAX_FILE_BYTES
from tests.fakes.memory import World, text_of
from tests.fakes.slack_api import FakeSlackApi

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
BOSS = Actor("console", "console", "boss")  # a bootstrap admin of the World's settings
ALICE = Actor("console", "console", "alice")
CSV = b"email,level,department\nsam@example.com,L2,Sales\n"


def payload(platform: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / platform / f"{name}.json").read_text())
    return loaded


class Reads:
    """A file whose reads are counted; it gives `content` (or raises `failure`) as the platform would."""

    def __init__(self, content: bytes = CSV, failure: str | None = None) -> None:
        self.content, self.failure, self.limits = content, failure, list[int]()

    async def __call__(self, limit: int) -> bytes | None:
        self.limits.append(limit)
        if self.failure is not None:
            raise FileUnavailable(self.failure)
        return None if len(self.content) > limit else self.content


def shared(actor: Actor, *files: tuple[str, Reads], size: int | None = None) -> FileShared:
    return FileShared(actor, tuple(SharedFile(name, read, size) for name, read in files))


# the engine's flow

async def test_an_admins_csv_is_imported_once_read_within_the_limit() -> None:
    w = World()
    read = Reads()
    reply = await w.engine.dispatch(shared(BOSS, ("people.csv", read)))
    assert text_of(reply).startswith("Imported 1 person from people.csv.")
    assert read.limits == [MAX_FILE_BYTES]
    assert list(w.state.hr_records) == ["sam@example.com"]
    assert [(e.action, e.outcome, e.detail) for e in w.state.audit] == [("admin.import_people", "ok", "1 people")]


async def test_a_non_admins_file_is_refused_unread_and_audited() -> None:
    w = World()
    read = Reads()
    reply = await w.engine.dispatch(shared(ALICE, ("people.csv", read)))
    assert "Only program admins can send me files" in text_of(reply)
    assert read.limits == [] and w.state.hr_records == {}
    assert w.store.audit_actions() == [("admin.import_people", "denied")]


async def test_a_granted_admin_may_import_too() -> None:
    w = World(users={"alice": ALICE})
    assert "That didn't work" not in text_of(await w.say(BOSS, "admin admins add alice"))
    reply = await w.engine.dispatch(shared(ALICE, ("people.csv", Reads())))
    assert "Imported 1 person" in text_of(reply)


@pytest.mark.parametrize(("name", "read", "size", "said"), [
    ("photo.PNG", Reads(), None, "photo.PNG is not a CSV file, so nothing was imported."),
    ("big.csv", Reads(), MAX_FILE_BYTES + 1, "big.csv is 5.0 MB; I take HR files of up to 5 MB"),
    ("big.csv", Reads(b"x" * (MAX_FILE_BYTES + 1)), None, "big.csv is over 5 MB; I take HR files of up to 5 MB"),
    ("gone.csv", Reads(failure="the link has expired"), None,
     "I couldn't fetch gone.csv from the console (the link has expired), so nothing was imported."),
    ("", Reads(failure="no download link"), None,
     "I couldn't fetch the file from the console (no download link), so nothing was imported."),
    ("latin.csv", Reads("email\nzoé@example.com\n".encode("latin-1")), None, "latin.csv is not UTF-8 text"),
    ("empty.csv", Reads(b""), None, "line 1: the file needs a header row"),
])
async def test_a_file_that_cannot_be_imported_gets_a_clear_answer_and_changes_nothing(
        name: str, read: Reads, size: int | None, said: str) -> None:
    w = World()
    reply = await w.engine.dispatch(shared(BOSS, (name, read), size=size))
    assert said in text_of(reply)
    assert w.state.hr_records == {}
    assert w.store.audit_actions() == [("admin.import_people", "invalid")]
    if size is not None or (name and not name.endswith(".csv")):
        assert read.limits == []  # refused on what the platform said, before any download


async def test_every_bad_row_is_named_and_a_long_cell_is_cut_in_the_reply() -> None:
    w = World()
    reply = await w.engine.dispatch(shared(BOSS, ("hr.csv", Reads(b"email,level\nbad,L2\n" + b"x" * 500 + b",L2\n"))))
    problems = reply.messages[0].sections[0].split("\n")
    assert problems[0] == "line 2, column email: 'bad' is not an email"
    assert problems[1].startswith("line 3, column email: 500 characters; at most 254 are allowed")
    assert len(problems) == 3 and len(problems[2]) == 300 and problems[2].endswith("…")
    assert w.state.hr_records == {}


async def test_two_files_at_once_are_refused_rather_than_one_replacing_the_other() -> None:
    w = World()
    first, second = Reads(), Reads()
    reply = await w.engine.dispatch(shared(BOSS, ("a.csv", first), ("b.csv", second)))
    assert "You sent 2 files; please send one HR CSV at a time." in text_of(reply)
    assert first.limits == second.limits == [] and w.state.hr_records == {}


# Slack's translator

def _never(file: Mapping[str, Any]) -> FileReader:
    async def read(limit: int) -> bytes | None:
        raise AssertionError("the translator must not download")
    return read


def test_a_slack_dm_with_a_file_is_one_file_shared_event() -> None:
    body = payload("slack", "event_message_im_file_share")
    event = slack.to_file_shared(body, slack.files_of(body["event"]), _never)
    assert event.actor == Actor("slack", "T0001", "U2147483697")
    assert [(f.name, f.size) for f in event.files] == [("people.csv", 143)]
    (file,) = slack.files_of(body["event"])
    assert not slack.file_needs_info(file)
    assert slack.file_download_url(file) == "https://files.slack.com/files-pri/T0001-F0AB12CD34E/download/people.csv"


def test_slack_files_without_details_or_a_link_are_recognised() -> None:
    assert slack.file_needs_info({"id": "F1", "file_access": "check_file_info"})
    assert slack.file_download_url({"id": "F1", "mode": "tombstone"}) is None
    assert slack.file_download_url({"id": "F1", "mode": "hidden_by_limit", "url_private": "https://x"}) is None


# Teams' translator

def test_a_teams_file_in_the_personal_chat_is_a_file_shared_event() -> None:
    event = teams.to_event(payload("teams", "message_personal_file"), reader=_never)
    assert isinstance(event, FileShared)
    assert event.actor == Actor("teams", "72f988bf-86f1-41af-91ab-2d7cd011db47",
                                "6be4c67b-2b57-4d0e-9b0a-2e1d3c5a8f01")
    assert [(f.name, f.size) for f in event.files] == [("people.csv", None)]  # Teams does not say the size


def test_teams_files_outside_a_personal_chat_or_without_a_reader_are_not_imports() -> None:
    activity = payload("teams", "message_personal_file")
    assert teams.to_event(activity) is None  # no reader: as before files were supported
    in_channel = {**activity, "text": "status", "conversation": {**activity["conversation"],
                                                                  "conversationType": "channel"}}
    assert isinstance(teams.to_event(in_channel, reader=_never), Command)
    (attachment,) = teams.files_of(activity)
    assert str(teams.file_download_url(attachment)).startswith("https://contoso-my.sharepoint.com/")


# the download

@pytest.mark.parametrize(("url", "hosts", "allowed"), [
    ("https://files.slack.com/files-pri/T1-F1/download/a.csv", ("slack.com", ".slack.com"), True),
    ("https://evil.example/files.slack.com/a.csv", ("slack.com", ".slack.com"), False),
    ("https://files.slack.com.evil.example/a.csv", ("slack.com", ".slack.com"), False),
    ("http://files.slack.com/a.csv", ("slack.com", ".slack.com"), False),  # never a token in clear text
    ("https://contoso-my.sharepoint.com/personal/x/download.aspx", (".sharepoint.com",), True),
    ("http://127.0.0.1:8080/a.csv", ("127.0.0.1",), True),  # the tests' fakes
    ("file:///etc/passwd", ("127.0.0.1",), False),
])
def test_a_download_goes_only_to_the_platforms_hosts(url: str, hosts: tuple[str, ...], allowed: bool) -> None:
    assert host_allowed(url, hosts) is allowed


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the size shows only while reading
        await response.prepare(request)
        for _ in range(4):
            await response.write(b"x" * 1000)
        return response

    async def signin(request: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in</html>", content_type="text/html")

    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=410)

    app = web.Application()
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/signin", signin)
    app.router.add_get("/gone", gone)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_a_download_stops_past_the_limit_even_without_a_declared_length(server: str) -> None:
    async with aiohttp.ClientSession() as session:
        assert await fetch_capped(session, f"{server}/chunked", limit=3999) is None
        assert await fetch_capped(session, f"{server}/chunked", limit=4000) == b"x" * 4000


async def test_a_sign_in_page_or_an_expired_link_is_unavailable_with_a_reason(server: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FileUnavailable, match="lacks files:read"):
            await fetch_capped(session, f"{server}/signin", limit=100, web_page_means="lacks files:read")
        with pytest.raises(FileUnavailable, match="expired"):
            await fetch_capped(session, f"{server}/gone", limit=100)
        with pytest.raises(FileUnavailable, match="the download failed"):
            await fetch_capped(session, "http://127.0.0.1:9/closed", limit=100)


async def test_the_fake_slack_serves_a_shared_file_to_a_bot_token_only() -> None:
    async with FakeSlackApi() as fake, aiohttp.ClientSession() as session:
        url = fake.add_file("people.csv", CSV, user="U1")["url_private_download"]
        with pytest.raises(FileUnavailable, match="sign-in page"):  # as Slack does without files:read
            await fetch_capped(session, url, limit=100, web_page_means="a sign-in page")
        assert await fetch_capped(session, url, limit=100, headers={"Authorization": "Bearer xoxb-1"}) == CSV
        assert [c.token for c in fake.calls if c.method.startswith("file:")] == [None, "xoxb-1"]
