"""The real bot with its Slack adapter on loopback, a fake Slack Web API, and signed real-shaped requests."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from adapters.slack.app import SlackSide
from bot.config import AppConfig, load_config
from bot.server import build_web_app
from bot.wiring import Bot, add_slack, build_bot
from conversations.events import Actor
from conversations.settings import Admins
from tests.fakes.memory import FakeClock
from tests.fakes.slack_api import MESSAGE_BLOCKS_MAX, Call, FakeSlackApi, _check_blocks
from tests.integration.cli import APP_YAML

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "slack"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documentation example
TEAM = "T0001"
ADMIN = "UADMIN01"


def payload(name: str) -> dict[str, Any]:
    """A recorded payload, to be adjusted by the test."""
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))


def signature_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs every request with (v0, HMAC-SHA256 of `v0:timestamp:body`)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def blocks_problem(blocks: Any) -> str | None:
    """Why Slack would refuse these message blocks, or None: for what reaches Slack without the fake seeing it
    (a reply riding on the ack) or without it checking (a response_url post)."""
    return _check_blocks(blocks, MESSAGE_BLOCKS_MAX)


@dataclass
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackHarness:
    """Posts what Slack would post, to the real server, and lets the test read the fake's record."""

    def __init__(self, fake: FakeSlackApi, bot: Bot, side: SlackSide, url: str, http: aiohttp.ClientSession,
                 clock: FakeClock) -> None:
        self.fake, self.bot, self.side, self.url, self.http, self.clock = fake, bot, side, url, http, clock
        self._n = 0

    def actor(self, user: str) -> Actor:
        return Actor("slack", TEAM, user)

    async def post(self, body: str, content_type: str, *, headers: dict[str, str] | None = None,
                   signed: bool = True, extra: dict[str, str] | None = None) -> Answer:
        all_headers = {"Content-Type": content_type, **(signature_headers(body) if signed else {}),
                       **(headers or {}), **(extra or {})}
        async with self.http.post(f"{self.url}/slack/events", data=body.encode(), headers=all_headers) as resp:
            answer = Answer(resp.status, await resp.text())
        await self.side.listeners.drain()  # what the bot does after its ack, so tests read the end state
        return answer

    async def command(self, text: str, *, user: str = "U0STEVE", **kw: Any) -> Answer:
        self._n += 1
        form = payload("slash_command")
        form.update(text=text, user_id=user, team_id=TEAM, trigger_id=f"trigger.{self._n}",
                    response_url=self.fake.response_url(f"cmd{self._n}"))
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    async def interactive(self, body: dict[str, Any], **kw: Any) -> Answer:
        return await self.post(urlencode({"payload": json.dumps(body)}), "application/x-www-form-urlencoded", **kw)

    async def click(self, action_id: str, value: str, *, user: str = "U0STEVE", name: str = "click",
                    **kw: Any) -> Answer:
        body = payload("block_actions_message")
        self._n += 1
        body["user"].update(id=user, team_id=TEAM)
        body["team"]["id"] = TEAM
        body["trigger_id"] = f"trigger.{self._n}"
        body["response_url"] = self.fake.response_url(name)
        body["actions"] = [{**body["actions"][0], "action_id": action_id, "value": value}]
        return await self.interactive(body, **kw)

    async def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U0STEVE") -> Answer:
        """Submit a modal the bot opened, with answers filled in as Slack reports them in state.values."""
        body = payload("view_submission")
        body["user"].update(id=user, team_id=TEAM)
        body["team"]["id"] = TEAM
        state: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            element = block["element"]
            field = block["block_id"]
            answer = values.get(field)
            kind = element["type"]
            if kind in ("plain_text_input", "number_input"):
                state[field] = {field: {"type": kind, "value": answer}}
            elif kind in ("static_select", "external_select"):
                state[field] = {field: {"type": kind, "selected_option":
                                        None if answer is None else {"text": {"type": "plain_text", "text": answer},
                                                                     "value": answer}}}
            else:  # checkboxes, multi_static_select
                chosen = answer if answer is not None else [o["value"] for o in element.get("initial_options", [])]
                state[field] = {field: {"type": kind, "selected_options": [
                    {"text": {"type": "plain_text", "text": v}, "value": v} for v in chosen]}}
        body["view"].update(callback_id=view["callback_id"], private_metadata=view.get("private_metadata", ""),
                            blocks=view["blocks"], state={"values": state})
        return await self.interactive(body)

    async def event(self, name: str, *, event_id: str, user: str = "U0STEVE", retry: int | None = None,
                    **event_fields: Any) -> Answer:
        body = payload(name)
        body["team_id"] = TEAM
        body["event_id"] = event_id
        if "user" in body["event"] and isinstance(body["event"]["user"], str):
            body["event"]["user"] = user
        body["event"].update(event_fields)
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return await self.post(json.dumps(body), "application/json", headers=headers)

    def dm_channel(self, *users: str) -> str:
        """The channel the fake's conversations.open gives for a DM with one person, or the group DM of several
        with the bot (no call is recorded)."""
        _, answer = self.fake._conversations_open({"users": ",".join(users)}, None)
        return str(answer["channel"]["id"])

    def posted_to(self, *users: str) -> list[Call]:
        """Every chat.postMessage into this person's DM with the bot (or these people's group DM), in order."""
        channel = self.dm_channel(*users)
        return [c for c in self.fake.calls_to("chat.postMessage") if c.params.get("channel") == channel]

    async def join(self, user: str, *, name: str, role: str = "mentor", level: str = "L2 Analyst",
                   tz: str = "Europe/Paris", **answers: Any) -> Answer:
        """Sign up through the modal, as a person would."""
        await self.command("join", user=user)
        opened = await self.fake.wait_for("views.open", count=len(self.fake.calls_to("views.open")) or 1)
        view = opened[-1].params["view"]
        values = {"name": name, "role": role, "level": level, "department": "Engineering", "time_zone": tz,
                  "working_hours": "09:00-17:00", "topics_teach": ["GenAI"], "topics_learn": ["GenAI"],
                  "languages": ["English"], "goals": "", "manager": "", "email": "", **answers}
        return await self.submit(view, values, user=user)


def test_config(database_url: str, api_url: str, **env: str) -> AppConfig:
    environ = {"DATABASE_URL": database_url, "SLACK_BOT_TOKEN": "xoxb-test-token",
               "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url, **env}
    config = load_config(APP_YAML, environ)
    program = config.program.model_copy(update={"admins": Admins(slack=(ADMIN,))})
    return config.model_copy(update={"program": program})


@asynccontextmanager
async def slack_harness(database_url: str, clock: FakeClock, **env: str) -> AsyncIterator[SlackHarness]:
    """Start the fake Slack API and the real server on loopback; stop both afterwards."""
    async with FakeSlackApi(team_id=TEAM) as fake:
        config = test_config(database_url, fake.base_url, **env)
        bot = await build_bot(config, {}, clock=clock)
        side = add_slack(bot, config)
        assert side is not None
        side.messenger.pace_seconds = 0.02  # Slack's one message a second per channel has its own unit test
        await side.start()
        runner = web.AppRunner(build_web_app(ping=bot.ping, routes=side.routes()))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as http:
                yield SlackHarness(fake, bot, side, f"http://127.0.0.1:{port}", http, clock)
        finally:
            await side.stop()
            await runner.cleanup()
            await bot.close()
