"""A fake Slack Web API on 127.0.0.1 that slack_sdk's real clients talk to, recording calls and checking Block Kit."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import itertools
import json
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import WSMsgType, web
from slack_sdk.models.blocks import Block
from slack_sdk.models.blocks.block_elements import BlockElement
from slack_sdk.models.views import View

JSON_FIELDS = frozenset({"blocks", "view", "attachments", "files", "metadata", "unfurls", "user_auth_blocks"})
MESSAGE_BLOCKS_MAX = 50  # Slack: a message holds at most 50 blocks
VIEW_BLOCKS_MAX = 100  # Slack: a modal or Home tab holds at most 100 blocks
SECTION_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
OPTIONS_MAX = 100
MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral"})
VIEW_METHODS = frozenset({"views.open", "views.update", "views.publish", "views.push"})

Answer = tuple[int, dict[str, Any]]  # HTTP status, JSON body


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received, failed or not."""

    method: str  # a Web API method, or "response_url:<name>" / "upload:<file id>"
    params: dict[str, Any]  # query, form and JSON body merged; JSON-string fields such as blocks decoded
    token: str | None
    at: float  # time.monotonic() on arrival
    status: int = 200  # the HTTP status answered
    error: str | None = None  # the Slack error code answered, if any


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A member of the fake workspace, as users.info and users.lookupByEmail describe them."""

    id: str
    name: str
    email: str | None = None
    tz: str = "Europe/Paris"
    team_id: str = "T0001"
    deleted: bool = False

    def to_slack(self) -> dict[str, Any]:
        """The `user` object of users.info, shaped as Slack documents it."""
        try:
            offset = datetime.now(ZoneInfo(self.tz)).utcoffset()
        except ZoneInfoNotFoundError:
            offset = None
        profile: dict[str, Any] = {
            "real_name": self.name,
            "real_name_normalized": self.name,
            "display_name": self.name.split()[0] if self.name else "",
            "display_name_normalized": self.name.split()[0] if self.name else "",
        }
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name.lower().replace(" ", "."),
            "real_name": self.name,
            "deleted": self.deleted,
            "is_bot": False,
            "is_admin": False,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
        }


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: float
    error: str | None


@dataclass(slots=True)
class _Ratio:
    ratio: float
    retry_after: float
    rng: random.Random = field(default_factory=random.Random)


class FakeSlackApi:
    """A Slack workspace on localhost: point AsyncWebClient(base_url=fake.base_url) at it, then assert on `calls`."""

    def __init__(self, *, team_id: str = "T0001", team_name: str = "Mentorbot Test", app_id: str = "A1",
                 bot_user_id: str = "UBOT", bot_id: str = "B0001", installer_id: str = "U0ADMIN",
                 validate: bool = True) -> None:
        self.validate = validate  # benchmarks turn the Block Kit checks off: they measure the bot, not the fake
        self.team_id = team_id
        self.team_name = team_name
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.installer_id = installer_id
        self.calls: list[Call] = []
        self.invalid: list[tuple[Call, str]] = []
        self.users: dict[str, FakeUser] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> the message as it stands
        self.views: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}  # what people shared: file object, content
        self.acks: list[dict[str, Any]] = []
        self._failures: dict[str, deque[_Failure]] = {}
        self._ratios: dict[str, _Ratio] = {}
        self._ts = itertools.count(100, 100)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._methods: dict[str, Callable[[dict[str, Any], str | None], Answer]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "oauth.v2.access": self._oauth_v2_access,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
        }

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeSlackApi:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._on_api)
        app.router.add_post("/response/{name}", self._on_response_url)
        app.router.add_post("/upload/{file_id}", self._on_upload)
        app.router.add_get("/files-pri/{ref}/download/{name}", self._on_file_download)
        app.router.add_get("/socket", self._on_socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close the sockets and the server."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def origin(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlackApi is not started; use `async with FakeSlackApi() as fake:`")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """What AsyncWebClient(base_url=...) wants: it must end with a slash."""
        return f"{self.origin}/api/"

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/socket"

    def response_url(self, name: str) -> str:
        """A response_url whose POSTs are recorded as Call(method=f"response_url:{name}")."""
        return f"{self.origin}/response/{name}"

    # -- arranging -------------------------------------------------------------------------------------------

    def add_user(self, user_id: str, *, name: str, email: str | None = None, tz: str = "Europe/Paris",
                 team_id: str = "T0001", deleted: bool = False) -> FakeUser:
        """Register a member that users.info and users.lookupByEmail will find."""
        user = FakeUser(id=user_id, name=name, email=email, tz=tz, team_id=team_id, deleted=deleted)
        self.users[user_id] = user
        return user

    def add_file(self, name: str, content: bytes, *, user: str, mimetype: str = "text/csv",
                 filetype: str = "csv") -> dict[str, Any]:
        """A file a person shared, as the `files` of a message event carry it; its url_private_download serves
        the content to a bot token only."""
        file_id = f"F{next(self._ids):010d}"
        private = f"{self.origin}/files-pri/{self.team_id}-{file_id}/{name}"
        file = {
            "id": file_id, "created": 1700000900, "timestamp": 1700000900, "name": name, "title": name,
            "mimetype": mimetype, "filetype": filetype, "pretty_type": filetype.upper(), "user": user,
            "user_team": self.team_id, "editable": False, "size": len(content), "mode": "hosted",
            "is_external": False, "external_type": "", "is_public": False, "public_url_shared": False,
            "display_as_bot": False, "username": "", "url_private": private,
            "url_private_download": f"{self.origin}/files-pri/{self.team_id}-{file_id}/download/{name}",
            "permalink": f"https://mentorbot-test.slack.com/files/{user}/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-0a1b2c3d4e",
            "is_starred": False, "has_rich_preview": False, "file_access": "visible",
        }
        self.files[file_id] = (file, content)
        return dict(file)

    def fail(self, method: str, *, times: int = 1, status: int = 429, retry_after: float = 1,
             error: str | None = None) -> None:
        """The next `times` calls to `method` fail: HTTP 429 (rate limited), another HTTP status, or an error code."""
        queue = self._failures.setdefault(method, deque())
        queue.extend(_Failure(status=status, retry_after=retry_after, error=error) for _ in range(times))

    def fail_ratio(self, method: str, ratio: float, *, retry_after: float = 1, seed: int = 0) -> None:
        """Rate-limit a deterministic pseudo-random fraction of the calls to `method`; ratio 0 stops it."""
        if ratio <= 0:
            self._ratios.pop(method, None)
            return
        self._ratios[method] = _Ratio(ratio=ratio, retry_after=retry_after, rng=random.Random(seed))

    # -- asserting -------------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109 - a test-facing deadline, not a cancel scope
        """Every call to `method` so far, once at least `count` have arrived."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            seen = [call.method for call in self.calls]
            raise TimeoutError(f"{len(self.calls_to(method))}/{count} calls to {method} in {timeout}s; "
                               f"saw {seen}") from None
        return self.calls_to(method)

    async def socket_send(self, envelope: dict[str, Any], *, timeout: float = 5.0) -> str:  # noqa: ASYNC109 - a test-facing deadline, not a cancel scope
        """Push a Socket Mode envelope to the newest connected client; returns its envelope_id."""
        envelope = dict(envelope)
        envelope.setdefault("envelope_id", f"env-{next(self._ids)}")
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: any(not ws.closed for ws in self._sockets))
        except TimeoutError:
            raise TimeoutError(f"no Socket Mode client connected in {timeout}s") from None
        ws = [ws for ws in self._sockets if not ws.closed][-1]
        await ws.send_json(envelope)
        return str(envelope["envelope_id"])

    async def socket_acks(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109 - a test-facing deadline, not a cancel scope
        """Every ack the clients sent so far, once at least `count` have arrived."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.acks) >= count)
        except TimeoutError:
            raise TimeoutError(f"{len(self.acks)}/{count} Socket Mode acks in {timeout}s") from None
        return list(self.acks)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the clients to reconnect, as Slack does every few hours, then close their sockets."""
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json({"type": "disconnect", "reason": reason,
                                    "debug_info": {"host": "applink-fake"}})
                await ws.close()

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _on_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params, token = await _read_params(request)
        return await self._answer(method, params, token, lambda: self._dispatch(method, params, token))

    async def _on_response_url(self, request: web.Request) -> web.StreamResponse:
        params, token = await _read_params(request)
        method = f"response_url:{request.match_info['name']}"

        def answer() -> Answer:
            reason = _check_blocks(params.get("blocks"), MESSAGE_BLOCKS_MAX) if "blocks" in params else None
            if reason is not None:
                return 200, {"ok": False, "error": "invalid_blocks", "_invalid": reason}
            return 200, {"ok": True}

        return await self._answer(method, params, token, answer)

    async def _on_upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        body = await request.read()
        self.uploads[file_id] = body
        # Slack: the upload URL answers text/plain "OK - <bytes>", not JSON (2025-01)
        return await self._answer(f"upload:{file_id}", {"size": len(body)}, None,
                                  lambda: (200, {"ok": True, "_text": f"OK - {len(body)}"}))

    async def _on_file_download(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["ref"].rpartition("-")[2]
        _, token = await _read_params(request)
        stored = self.files.get(file_id)
        failure = self._next_failure(f"file:{file_id}")
        status = failure.status if failure is not None else 200 if stored is not None else 404
        await self._record(Call(method=f"file:{file_id}", params={}, token=token, at=time.monotonic(),
                                status=status), None)
        if status != 200 or stored is None:
            return web.Response(status=status, text="File not found" if stored is None else "fatal_error")
        if not token or not token.startswith("xoxb-"):
            # Slack: without a bot token that may read the file (files:read), the download link answers a
            # sign-in page with status 200, not an error (2026-11)
            return web.Response(text="<!DOCTYPE html><html><title>Slack</title><body>Sign in</body></html>",
                                content_type="text/html")
        file, content = stored
        return web.Response(body=content, content_type=str(file["mimetype"]))

    async def _answer(self, method: str, params: dict[str, Any], token: str | None,
                      compute: Callable[[], Answer]) -> web.StreamResponse:
        at = time.monotonic()
        failure = self._next_failure(method)
        headers: dict[str, str] = {}
        if failure is not None and failure.error is None:
            status = failure.status
            body: dict[str, Any] = {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}
            if status == 429:
                headers["Retry-After"] = _seconds(failure.retry_after)
        elif failure is not None:
            status, body = 200, {"ok": False, "error": failure.error}
        else:
            status, body = compute()
        reason = body.pop("_invalid", None)
        text = body.pop("_text", None)
        call = Call(method=method, params=params, token=token, at=at, status=status,
                    error=None if body.get("ok", True) else body.get("error"))
        await self._record(call, reason)
        if text is not None:
            return web.Response(status=status, text=text, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    def _next_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if queue:
            return queue.popleft()
        ratio = self._ratios.get(method)
        if ratio is not None and ratio.rng.random() < ratio.ratio:
            return _Failure(status=429, retry_after=ratio.retry_after, error=None)
        return None

    async def _record(self, call: Call, invalid: str | None) -> None:
        async with self._changed:
            self.calls.append(call)
            if invalid is not None:
                self.invalid.append((call, invalid))
            self._changed.notify_all()

    def _dispatch(self, method: str, params: dict[str, Any], token: str | None) -> Answer:
        handler = self._methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}
        reason = _validate(method, params) if self.validate else None
        if reason is not None:
            error = "no_text" if reason == "no_text" else "invalid_blocks"
            return 200, {"ok": False, "error": error, "_invalid": reason}
        return handler(params, token)

    # -- Socket Mode ----------------------------------------------------------------------------------------

    async def _on_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_json({
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        })
        async with self._changed:
            self._sockets.append(ws)
            self._changed.notify_all()
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    ack = json.loads(message.data)
                except json.JSONDecodeError:
                    continue
                if isinstance(ack, dict) and "envelope_id" in ack:
                    async with self._changed:
                        self.acks.append(ack)
                        self._changed.notify_all()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    # -- methods ---------------------------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any], token: str | None) -> Answer:
        if not token:
            return 200, {"ok": False, "error": "not_authed"}
        return 200, {"ok": True, "url": "https://mentorbot-test.slack.com/", "team": self.team_name,
                     "user": "mentorbot", "team_id": self.team_id, "user_id": self.bot_user_id,
                     "bot_id": self.bot_id, "is_enterprise_install": False}

    def _users_info(self, params: dict[str, Any], token: str | None) -> Answer:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return 200, {"ok": False, "error": "user_not_found"}
        return 200, {"ok": True, "user": user.to_slack()}

    def _users_lookup_by_email(self, params: dict[str, Any], token: str | None) -> Answer:
        email = str(params.get("email", "")).lower()
        for user in self.users.values():
            if user.email is not None and user.email.lower() == email:
                return 200, {"ok": True, "user": user.to_slack()}
        return 200, {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, params: dict[str, Any], token: str | None) -> Answer:
        if params.get("channel"):
            return 200, {"ok": True, "channel": {"id": str(params["channel"])}}
        users = sorted({u.strip() for u in str(params.get("users", "")).split(",") if u.strip()})
        if not users:
            return 200, {"ok": False, "error": "users_list_not_supplied"}
        if len(users) > 8:
            return 200, {"ok": False, "error": "too_many_users"}
        prefix = "D" if len(users) == 1 else "G"
        digest = hashlib.sha1(",".join(users).encode()).hexdigest()[:10].upper()
        return 200, {"ok": True, "channel": {"id": f"{prefix}{digest}"}}

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1700000000 + n // 1_000_000}.{n % 1_000_000:06d}"

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id,
                                   "app_id": self.app_id, "team": self.team_id, "ts": ts,
                                   "text": params.get("text", "")}
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in params:
                message[key] = params[key]
        return message

    def _chat_post_message(self, params: dict[str, Any], token: str | None) -> Answer:
        channel = str(params.get("channel") or "")
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}
        ts = self._next_ts()
        message = self._message(params, ts)
        self.messages[(channel, ts)] = message
        return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, params: dict[str, Any], token: str | None) -> Answer:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}
        if not ts:
            return 200, {"ok": False, "error": "message_not_found"}
        message = self._message(params, ts)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self.messages[(channel, ts)] = message
        return 200, {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _chat_delete(self, params: dict[str, Any], token: str | None) -> Answer:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        if self.messages.pop((channel, ts), None) is None:
            return 200, {"ok": False, "error": "message_not_found"}
        return 200, {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, params: dict[str, Any], token: str | None) -> Answer:
        if not params.get("channel"):
            return 200, {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return 200, {"ok": False, "error": "user_not_in_channel"}
        return 200, {"ok": True, "message_ts": self._next_ts()}

    def _store_view(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "hash": f"1700000000.{next(self._ids):08d}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            **view,
        }
        stored["id"] = view_id
        self.views[view_id] = stored
        return stored

    def _new_view_id(self) -> str:
        return f"V{next(self._ids):010d}"

    def _views_open(self, params: dict[str, Any], token: str | None) -> Answer:
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            return 200, {"ok": False, "error": "invalid_arguments"}
        return 200, {"ok": True, "view": self._store_view(params["view"], self._new_view_id())}

    def _views_update(self, params: dict[str, Any], token: str | None) -> Answer:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((v["id"] for v in self.views.values() if v.get("external_id") == params["external_id"]),
                           None)
            if view_id is None:
                return 200, {"ok": False, "error": "not_found"}
        if not view_id:
            return 200, {"ok": False, "error": "invalid_arguments"}
        return 200, {"ok": True, "view": self._store_view(params["view"], str(view_id))}

    def _views_publish(self, params: dict[str, Any], token: str | None) -> Answer:
        if not params.get("user_id"):
            return 200, {"ok": False, "error": "invalid_arguments"}
        return 200, {"ok": True, "view": self._store_view(params["view"], self._new_view_id())}

    def _oauth_v2_access(self, params: dict[str, Any], token: str | None) -> Answer:
        if not params.get("client_id") or not params.get("client_secret"):
            return 200, {"ok": False, "error": "invalid_client_id"}
        if not params.get("code"):
            return 200, {"ok": False, "error": "invalid_code"}
        return 200, {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": self.installer_id},
            "scope": "chat:write,commands,im:write,mpim:write,users:read,users:read.email",
            "token_type": "bot",
            "access_token": f"xoxb-fake-{self.team_id}-{next(self._ids)}",
            "bot_user_id": self.bot_user_id,
            "team": {"id": self.team_id, "name": self.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any], token: str | None) -> Answer:
        if not token or not token.startswith("xapp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}
        return 200, {"ok": True, "url": self.socket_url}

    def _files_get_upload_url(self, params: dict[str, Any], token: str | None) -> Answer:
        if not params.get("filename") or not params.get("length"):
            return 200, {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):010d}"
        return 200, {"ok": True, "upload_url": f"{self.origin}/upload/{file_id}", "file_id": file_id}

    def _files_info(self, params: dict[str, Any], token: str | None) -> Answer:
        stored = self.files.get(str(params.get("file", "")))
        if stored is None:
            return 200, {"ok": False, "error": "file_not_found"}
        return 200, {"ok": True, "file": dict(stored[0]), "comments": [], "response_metadata": {"next_cursor": ""}}

    def _files_complete_upload(self, params: dict[str, Any], token: str | None) -> Answer:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            return 200, {"ok": False, "error": "invalid_arguments"}
        done = []
        for item in files:
            file_id = item.get("id") if isinstance(item, dict) else None
            if file_id not in self.uploads:
                return 200, {"ok": False, "error": "file_not_found"}
            done.append({"id": file_id, "title": item.get("title") or file_id, "name": item.get("title") or file_id,
                         "size": len(self.uploads[file_id]), "user": self.bot_user_id})
        return 200, {"ok": True, "files": done}


# -- request parsing ---------------------------------------------------------------------------------------------

async def _read_params(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Merge what slack_sdk may send: query string (params=), form or multipart body (data=, files=), JSON (json=)."""
    params: dict[str, Any] = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = value.file.read()
                else:
                    params[key] = value if isinstance(value, str) else bytes(value)
    for key in JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            with contextlib.suppress(json.JSONDecodeError):  # left as sent: validation will name it
                params[key] = json.loads(params[key])
    token = params.pop("token", None)
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        token = authorization.removeprefix("Bearer ").strip()
    elif authorization.startswith("Basic "):
        # slack_sdk: oauth.v2.access sends client_id/client_secret as HTTP basic auth (2025-01)
        try:
            client_id, _, secret = base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
        params.setdefault("client_id", client_id)
        params.setdefault("client_secret", secret)
    return params, token


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# -- Block Kit validation -------------------------------------------------------------------------------------

def _validate(method: str, params: dict[str, Any]) -> str | None:
    """Why Slack would refuse this payload's Block Kit, or None."""
    if method in MESSAGE_METHODS:
        if "blocks" in params:
            reason = _check_blocks(params["blocks"], MESSAGE_BLOCKS_MAX)
            if reason is not None:
                return reason
            if method == "chat.postMessage" and not params.get("text"):
                return "text is required with blocks, as the notification fallback"
        if method == "chat.postMessage" and not any(params.get(k) for k in ("text", "blocks", "attachments")):
            return "no_text"
    if method in VIEW_METHODS:
        return _check_view(params.get("view"))
    return None


def _check_view(view: Any) -> str | None:
    if not isinstance(view, dict):
        return f"view must be a JSON object, got {type(view).__name__}"
    blocks = view.get("blocks", [])
    if isinstance(blocks, list) and len(blocks) > VIEW_BLOCKS_MAX:
        return f"{len(blocks)} blocks, over the limit of {VIEW_BLOCKS_MAX}"
    try:
        View(**view).validate_json()
    except Exception as e:  # the SDK raises SlackObjectFormationError, TypeError or KeyError on bad input
        return f"view: {e}"
    return _check_blocks(blocks, VIEW_BLOCKS_MAX)


def _check_blocks(blocks: Any, limit: int) -> str | None:
    if not isinstance(blocks, list):
        return f"blocks must be a JSON array, got {type(blocks).__name__}"
    if len(blocks) > limit:
        return f"{len(blocks)} blocks, over the limit of {limit}"
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            return f"blocks[{i}] is not an object"
        try:
            parsed = Block.parse(block)
            if parsed is None:
                return f"blocks[{i}]: unknown block type {block.get('type')!r}"
            parsed.validate_json()
        except Exception as e:  # the SDK raises SlackObjectFormationError, TypeError or KeyError on bad input
            return f"blocks[{i}] ({block.get('type')}): {e}"
        reason = _check_block_limits(block) or _check_elements(block)
        if reason is not None:
            return f"blocks[{i}] ({block.get('type')}): {reason}"
    return None


def _check_block_limits(block: dict[str, Any]) -> str | None:
    """Slack's limits, checked here whether or not slack_sdk's validators cover them."""
    if block.get("type") == "section":
        text = _text_of(block.get("text"))
        if len(text) > SECTION_TEXT_MAX:
            return f"section text is {len(text)} characters, over {SECTION_TEXT_MAX}"
    for node in _walk(block):
        if node.get("type") == "button":
            text = _text_of(node.get("text"))
            if len(text) > BUTTON_TEXT_MAX:
                return f"button text is {len(text)} characters, over {BUTTON_TEXT_MAX}"
        for key in ("options", "option_groups"):
            options = node.get(key)
            if isinstance(options, list) and len(options) > OPTIONS_MAX:
                return f"{len(options)} {key}, over {OPTIONS_MAX}"
    return None


def _check_elements(block: dict[str, Any]) -> str | None:
    """slack_sdk validates a block but not the elements inside it: validate each interactive element too."""
    elements: list[Any] = []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            elements.append(block[key])
    if block.get("type") == "actions" and isinstance(block.get("elements"), list):
        elements.extend(block["elements"])
    for element in elements:
        if not isinstance(element, dict):
            return "an element is not an object"
        try:
            parsed = BlockElement.parse(element)
            if parsed is None:
                return f"unknown element type {element.get('type')!r}"
            parsed.validate_json()
        except Exception as e:  # as above
            return f"{element.get('type')}: {e}"
    return None


def _walk(node: Any) -> Iterable[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _text_of(text: Any) -> str:
    if isinstance(text, dict):
        return str(text.get("text", ""))
    return text if isinstance(text, str) else ""


__all__ = ["Call", "FakeSlackApi", "FakeUser"]
