"""Admins import the HR CSV by sending it to the bot in their Teams 1:1 chat: the real botbuilder adapter over
loopback, a fake Bot Connector, a fake OneDrive serving pre-authenticated short-lived links, a real database."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text

from storage.db import create_engine
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration.teams_harness import ADMIN, TENANT, TeamsHarness, card_problem, running_teams

MEGAN = "6be4c67b-2b57-4d0e-9b0a-2e1d3c5a8f01"
GOOD = ("email,identity,level,department,manager\n"
        f",teams:{TENANT}:{MEGAN},L9,Sales,ceo@example.com\n"
        "sam@example.com,,L8,Finance,\n").encode()
BAD = b"email,level\nerin@example.com,L5\nnot-an-email,L2\n"


@dataclass
class Download:
    file_id: str
    status: int


class FakeOneDrive:
    """Serves files at links that carry their own short-lived credential (`tempauth`), as Teams hands bots."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}  # id -> content, tempauth
        self.downloads: list[Download] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.origin = ""

    async def __aenter__(self) -> FakeOneDrive:
        app = web.Application()
        app.router.add_get("/personal/{file_id}/download.aspx", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def add(self, name: str, content: bytes, *, expired: bool = False) -> dict[str, Any]:
        """The attachment Teams puts on the person's message for this file."""
        file_id = f"{next(self._ids):08d}"
        tempauth = f"tempauth-{file_id}"
        self.files[file_id] = (content, "expired" if expired else tempauth)
        stem, _, kind = name.rpartition(".")
        return {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "contentUrl": f"https://contoso-my.sharepoint.com/personal/megan_contoso_com/Documents/{name}",
            "name": name,
            "content": {"downloadUrl": f"{self.origin}/personal/{file_id}/download.aspx?tempauth={tempauth}",
                        "uniqueId": f"5a3c6a0e-0000-4000-8000-{file_id:0>12}", "fileType": kind or stem,
                        "etag": f"\"{{{file_id}}},1\""},
        }

    def downloads_of(self, attachment: dict[str, Any]) -> list[Download]:
        file_id = attachment["content"]["downloadUrl"].split("/")[-2]
        return [d for d in self.downloads if d.file_id == file_id]

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        content, tempauth = self.files.get(file_id, (b"", ""))
        ok = bool(tempauth) and request.query.get("tempauth") == tempauth and not request.headers.get("Authorization")
        self.downloads.append(Download(file_id, 200 if ok else 401))
        if not ok:
            return web.json_response({"error": {"code": "unauthenticated"}}, status=401)
        return web.Response(body=content, content_type="application/octet-stream")


@pytest.fixture
async def onedrive() -> AsyncIterator[FakeOneDrive]:
    async with FakeOneDrive() as drive:
        yield drive


@pytest.fixture
async def teams(migrated_url: str, onedrive: FakeOneDrive) -> AsyncIterator[TeamsHarness]:
    async with FakeBotConnector() as connector:
        connector.card_validator = card_problem
        async with running_teams(migrated_url, connector, FakeClock(datetime.now(UTC))) as harness:
            harness.side.bot.file_hosts = ("127.0.0.1",)  # where the fake OneDrive listens, instead of SharePoint
            yield harness
        assert connector.invalid == [], "every Adaptive Card must validate against the official 1.5 schema"


async def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(query))]
    finally:
        await engine.dispose()


async def _send(teams: TeamsHarness, *attachments: dict[str, Any], user: str = ADMIN) -> str:
    """The person sends files in their 1:1 chat with the bot; what the bot answered there, as text."""
    before = len(teams.texts_to(user))
    activity = teams._activity("message_personal_file", user)
    activity["attachments"] = [*attachments, {"contentType": "text/html", "content": "<p>import people</p>"}]
    status, _ = await teams.post(activity)
    assert status in (200, 201)
    return "\n".join(teams.texts_to(user)[before:])


async def test_an_admin_imports_in_the_chat_and_hr_values_then_win_at_sign_up(
        teams: TeamsHarness, onedrive: FakeOneDrive, migrated_url: str) -> None:
    good = onedrive.add("people.csv", GOOD)
    said = await _send(teams, good)
    assert "Imported 2 people from people.csv." in said
    assert [d.status for d in onedrive.downloads_of(good)] == [200]
    assert await _rows(migrated_url, "SELECT key, level, department FROM hr_records ORDER BY key") == [
        ("sam@example.com", "L8 Director", "Finance"), (f"teams:{TENANT}:{MEGAN}", "L9 Vice President", "Sales")]

    said = await _send(teams, onedrive.add("broken.csv", BAD))
    assert "Nothing imported from broken.csv: fix these and send it again." in said
    assert "line 3, column email: 'not-an-email' is not an email" in said
    assert len(await _rows(migrated_url, "SELECT key FROM hr_records")) == 2  # the first import stands

    await teams.join(MEGAN, level="L2 Analyst", department="Engineering")
    async with teams.bot.deps.uow() as uow:
        megan = await uow.people.by_actor(teams.actor(MEGAN))
    assert megan is not None
    assert (megan.profile.level, megan.profile.department, megan.profile.manager) == (
        "L9 Vice President", "Sales", "ceo@example.com")
    imports = "SELECT action, outcome, detail FROM audit WHERE action LIKE 'admin.%' ORDER BY id"
    assert await _rows(migrated_url, imports) == [
        ("admin.import_people", "ok", "2 people"), ("admin.import_people", "invalid", "broken.csv: 1 problem")]


async def test_a_non_admin_is_refused_and_wrong_files_get_a_clear_answer(
        teams: TeamsHarness, onedrive: FakeOneDrive, migrated_url: str) -> None:
    theirs = onedrive.add("people.csv", GOOD)
    assert "Only program admins can send me files" in await _send(teams, theirs, user=MEGAN)
    assert onedrive.downloads_of(theirs) == []  # a non-admin's file is never fetched

    photo = onedrive.add("team.png", b"\x89PNG\r\n\x1a\n")
    assert "team.png is not a CSV file, so nothing was imported." in await _send(teams, photo)
    huge = onedrive.add("everyone.csv", b"email\n" + b"someone@example.com\n" * 280_000)
    said = await _send(teams, huge)  # Teams does not say the size: the download stops past 5 MB
    assert "everyone.csv is over 5 MB; I take HR files of up to 5 MB, so nothing was imported." in said
    expired = onedrive.add("people.csv", GOOD, expired=True)
    said = await _send(teams, expired)
    assert ("I couldn't fetch people.csv from Teams (the link has expired or the bot may not read the file), "
            "so nothing was imported.") in said

    teams.side.bot.file_hosts = (".sharepoint.com",)  # as in production: a link elsewhere is not followed
    elsewhere = onedrive.add("people.csv", GOOD)
    said = await _send(teams, elsewhere)
    assert "its download link is not on SharePoint or OneDrive" in said
    assert onedrive.downloads_of(elsewhere) == [] and onedrive.downloads_of(photo) == []

    assert await _rows(migrated_url, "SELECT key FROM hr_records") == []
    assert [r[0] for r in await _rows(migrated_url, "SELECT outcome FROM audit ORDER BY id")] == [
        "denied", "invalid", "invalid", "invalid", "invalid"]
    assert json.dumps(teams.texts_to(ADMIN)).count("Imported") == 0
