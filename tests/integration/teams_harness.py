"""The real bot with its Teams adapter on loopback, a fake Bot Connector, and real-shaped activities."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
from aiohttp import web

from adapters.teams.app import TeamsSide
from bot.config import AppConfig, load_config
from bot.server import build_web_app
from bot.wiring import Bot, add_teams, build_bot
from conversations.events import Actor
from conversations.ports import Clock
from conversations.settings import Admins
from tests.fakes.bot_connector import FakeBotConnector
from tests.integration.cli import APP_YAML
from tests.official_schemas import schema_path as official_schema

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "teams"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ADMIN = "0a0d0000-0000-4000-8000-00000000ad01"
BOT_ID = "28:0b3c9b8e-7a2f-4c1d-8e5a-3f6d2b1c9a07"


def payload(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


@cache
def _card_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(official_schema("adaptive-card-1.5.json").read_text())
    return jsonschema.Draft6Validator(schema)


def card_problem(card: dict[str, Any]) -> str | None:
    """Why a card would not validate against the official Adaptive Cards 1.5 schema, or None."""
    error = next(iter(_card_validator().iter_errors(card)), None)
    return None if error is None else f"{list(error.absolute_path)}: {error.message[:200]}"


def card_words(card: dict[str, Any]) -> str:
    """Everything a person reads on a card: text blocks and facts, one per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(str(node.get("text", "")))
            elif node.get("type") == "FactSet":
                out.extend(f"{f['title']}: {f['value']}" for f in node["facts"])
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body", []))
    return "\n".join(out)


def conversation_of(user: str) -> str:
    return f"a:personal-{user}"


class TeamsHarness:
    """Posts what Teams would post to the real server; reads what reached the fake connector."""

    def __init__(self, fake: FakeBotConnector, bot: Bot, side: TeamsSide, url: str, http: aiohttp.ClientSession
                 ) -> None:
        self.fake, self.bot, self.side, self.url, self.http = fake, bot, side, url, http
        self._n = 0

    def actor(self, user: str) -> Actor:
        return Actor("teams", TENANT, user)

    async def post(self, activity: dict[str, Any], *, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with self.http.post(f"{self.url}/api/messages", json=activity, headers=headers or {}) as resp:
            return resp.status, await resp.text()

    def _activity(self, name: str, user: str, **fields: Any) -> dict[str, Any]:
        self._n += 1
        activity = payload(name)
        activity.update(id=f"f:{self._n}", serviceUrl=self.fake.service_url)
        activity["from"] = {"id": f"29:{user}", "name": f"Person {user[:6]}", "aadObjectId": user}
        activity["recipient"] = {"id": BOT_ID, "name": "mentorbot"}
        if activity["conversation"].get("conversationType") == "personal":
            activity["conversation"]["id"] = conversation_of(user)
        activity["conversation"]["tenantId"] = TENANT
        activity.setdefault("channelData", {})["tenant"] = {"id": TENANT}
        activity.update(fields)
        return activity

    async def say(self, text: str, *, user: str, **kw: Any) -> tuple[int, str]:
        activity = self._activity("message_personal", user, text=text)
        activity.pop("value", None)
        return await self.post(activity, **kw)

    async def mention(self, text: str, *, user: str) -> tuple[int, str]:
        activity = self._activity("message_channel_mention", user, text=f"<at>mentorbot</at> {text}")
        return await self.post(activity)

    async def submit(self, value: dict[str, Any], *, user: str, reply_to: str) -> tuple[int, str]:
        activity = self._activity("message_card_submit", user, value=value, replyToId=reply_to)
        activity.pop("text", None)
        return await self.post(activity)

    async def installed(self, *, user: str) -> tuple[int, str]:
        return await self.post(self._activity("installation_update_add", user))

    async def uninstalled(self, *, user: str) -> tuple[int, str]:
        return await self.post(self._activity("installation_update_remove", user))

    def cards_to(self, user: str) -> list[dict[str, Any]]:
        """Every card the bot sent into this person's 1:1 chat, as it stands now."""
        out = []
        for activity in self.fake.activities_to(conversation_of(user)):
            for attachment in activity.get("attachments") or []:
                out.append({**attachment["content"], "_id": activity.get("id")})
        return out

    def texts_to(self, user: str) -> list[str]:
        texts = []
        for activity in self.fake.activities_to(conversation_of(user)):
            texts.append(json.dumps(activity, ensure_ascii=False))
        return texts

    async def join(self, user: str, **answers: Any) -> tuple[int, str]:
        """Sign up through the card, as a person would."""
        await self.say("join", user=user)
        form = next(c for c in reversed(self.cards_to(user)) if any(
            b.get("id") == "time_zone" for b in c["body"]))
        values = {"mb_form": "signup", "mb_context": "", "mb_multi": "working_days,topics_teach,topics_learn,languages",
                  "name": f"Person {user[:6]}", "role": "mentor", "level": "L2 Analyst", "department": "Engineering",
                  "time_zone": "Europe/Paris", "working_days": "mon,tue,wed", "working_hours": "09:00-17:00",
                  "topics_teach": "GenAI", "topics_learn": "", "languages": "English", "goals": "", "manager": "",
                  "email": "", **answers}
        return await self.submit(values, user=user, reply_to=form["_id"])


def teams_config(database_url: str, **env: str) -> AppConfig:
    environ = {"DATABASE_URL": database_url, "TEAMS_ALLOW_UNAUTHENTICATED": "1", **env}
    config = load_config(APP_YAML, environ)
    program = config.program.model_copy(update={"admins": Admins(teams=(ADMIN,))})
    return config.model_copy(update={"program": program})


@asynccontextmanager
async def running_teams(database_url: str, fake: FakeBotConnector, clock: Clock, **env: str
                        ) -> AsyncIterator[TeamsHarness]:
    """One bot process: the real server with the Teams adapter, on loopback."""
    config = teams_config(database_url, **env)
    bot = await build_bot(config, {}, clock=clock)
    side = add_teams(bot, config)
    assert side is not None
    await side.start()
    runner = web.AppRunner(build_web_app(ping=bot.ping, routes=side.routes()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            yield TeamsHarness(fake, bot, side, f"http://127.0.0.1:{port}", http)
    finally:
        await side.stop()
        await runner.cleanup()
        await bot.close()
