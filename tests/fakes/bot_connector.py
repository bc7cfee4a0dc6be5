"""A fake Bot Connector (REST API v3) on 127.0.0.1 that botbuilder's real ConnectorClient talks to, recording calls."""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from aiohttp import web

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ERROR_CODES = {  # what the Bot Connector answers with each status, as seen from Teams (2025-01)
    400: ("BadArgument", "The request is invalid."),
    401: ("Unauthorized", "Authorization has been denied for this request."),
    403: ("BotNotInConversationRoster", "The bot is not part of the conversation roster."),
    404: ("ConversationNotFound", "Conversation not found."),
    412: ("PreconditionFailed", "The conversation is in a state that does not allow this operation."),
    429: ("TooManyRequests", "Too many requests."),
    500: ("ServiceError", "Unknown error."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "Service unavailable."),
}

Answer = tuple[int, Any]  # HTTP status, JSON body


@dataclass(frozen=True, slots=True)
class Call:
    """One request the fake received, failed or not."""

    method: str  # "create", "send", "reply", "update", "delete", "members" or "unknown"
    http_method: str
    conversation_id: str | None
    activity_id: str | None  # the activity replied to or updated; for "send", the id the fake gave the new one
    body: dict[str, Any] | None  # the parsed JSON body
    authorization: str | None  # the Authorization header as sent
    status: int
    at: float  # time.monotonic() on arrival
    member_id: str | None = None  # for "members": the member asked about, None for the whole roster
    error: str | None = None  # the Bot Framework error code answered, if any


@dataclass(frozen=True, slots=True)
class FakeMember:
    """A person the fake tenant knows, described as a TeamsChannelAccount."""

    id: str  # the channel id, "29:..." in Teams
    aad_object_id: str
    name: str
    email: str | None = None
    tenant_id: str = "tenant-1"

    def to_teams(self) -> dict[str, Any]:
        """The member object of GET /v3/conversations/{id}/members/{memberId}, as Teams answers it."""
        given, _, surname = self.name.partition(" ")
        member: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "givenName": given,
            "surname": surname,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }
        if self.email is not None:
            member["email"] = self.email
            member["userPrincipalName"] = self.email
        return member


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: float
    code: str | None
    message: str | None


@dataclass(slots=True)
class _Ratio:
    ratio: float
    retry_after: float
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True, slots=True)
class _Route:
    kind: str
    conversation_id: str | None = None
    activity_id: str | None = None
    member_id: str | None = None
    paged: bool = False


class FakeBotConnector:
    """A Bot Connector on localhost: give incoming activities serviceUrl=fake.service_url, then assert on `calls`."""

    def __init__(self, *, expect_token: str | None = None, bot_id: str = "28:bot-app-id",
                 bot_name: str = "Mentorbot") -> None:
        self.expect_token = expect_token  # when set, calls without "Bearer <expect_token>" are answered 401
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.card_validator: Callable[[dict[str, Any]], str | None] | None = None
        self.calls: list[Call] = []
        self.invalid: list[tuple[Call, str]] = []
        self.members: dict[str, FakeMember] = {}
        self.conversations: dict[str, dict[str, Any]] = {}  # conversation id -> the create body that made it
        self._activities: dict[str, dict[str, dict[str, Any]]] = {}  # conversation id -> activity id -> activity
        self._by_members: dict[tuple[str, bool, tuple[str, ...]], str] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._ratios: dict[str, _Ratio] = {}
        self._conversation_ids = itertools.count(1)
        self._activity_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeBotConnector:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._on_request)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def service_url(self) -> str:
        """The serviceUrl incoming test activities carry; it ends with a slash, as Teams' do."""
        if self._port is None:
            raise RuntimeError("FakeBotConnector is not started; use `async with FakeBotConnector() as fake:`")
        return f"http://127.0.0.1:{self._port}/"

    # -- arranging -------------------------------------------------------------------------------------------

    def add_member(self, member_id: str, *, aad_object_id: str, name: str, email: str | None = None,
                   tenant_id: str = "tenant-1") -> FakeMember:
        """Register a person that the members endpoints will describe."""
        member = FakeMember(id=member_id, aad_object_id=aad_object_id, name=name, email=email, tenant_id=tenant_id)
        self.members[member_id] = member
        return member

    def seed_activity(self, conversation_id: str, activity: dict[str, Any]) -> str:
        """Pretend the bot already sent `activity` (e.g. a card a recorded click came from); returns its id."""
        activity_id = str(activity.get("id") or self._next_activity_id())
        self._activities.setdefault(conversation_id, {})[activity_id] = {**activity, "id": activity_id}
        return activity_id

    def fail(self, kind: str, *, times: int = 1, status: int = 429, retry_after: float = 1,
             code: str | None = None, message: str | None = None) -> None:
        """The next `times` calls of `kind` fail with `status`: 429 carries Retry-After, others an error body."""
        queue = self._failures.setdefault(kind, deque())
        queue.extend(_Failure(status=status, retry_after=retry_after, code=code, message=message)
                     for _ in range(times))

    def fail_ratio(self, kind: str, ratio: float, *, retry_after: float = 1, seed: int = 0) -> None:
        """Answer 429 to a deterministic pseudo-random fraction of the calls of `kind`; ratio 0 stops it."""
        if ratio <= 0:
            self._ratios.pop(kind, None)
            return
        self._ratios[kind] = _Ratio(ratio=ratio, retry_after=retry_after, rng=random.Random(seed))

    # -- asserting -------------------------------------------------------------------------------------------

    def calls_to(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.method == kind]

    def activities_to(self, conversation_id: str) -> list[dict[str, Any]]:
        """The activities the bot sent or replied in a conversation, in order, each as last updated."""
        return list(self._activities.get(conversation_id, {}).values())

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109 - a test-facing deadline, not a cancel scope
        """Every call of `kind` so far, once at least `count` have arrived."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(kind)) >= count)
        except TimeoutError:
            seen = [call.method for call in self.calls]
            raise TimeoutError(f"{len(self.calls_to(kind))}/{count} {kind} calls in {timeout}s; saw {seen}") from None
        return self.calls_to(kind)

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def _on_request(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        route = _route(request.method, request.rel_url.raw_path)
        body: dict[str, Any] | None = None
        if request.body_exists:
            try:
                parsed = json.loads(await request.read() or b"null")
            except json.JSONDecodeError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None
        authorization = request.headers.get("Authorization")
        headers: dict[str, str] = {}
        invalid: str | None = None
        failure = self._next_failure(route.kind)
        if self.expect_token is not None and authorization != f"Bearer {self.expect_token}":
            status, answer = 401, {"message": ERROR_CODES[401][1]}  # Bot Connector: no error envelope on 401
        elif failure is not None:
            status, answer = failure.status, _error(failure.status, failure.code, failure.message)
            if failure.status == 429:
                headers["Retry-After"] = _seconds(failure.retry_after)
        else:
            invalid = self._validate(route.kind, body)
            if invalid is not None:
                status, answer = 400, _error(400, "BadArgument", invalid)
            else:
                status, answer = self._dispatch(route, body)
        activity_id = route.activity_id
        if route.kind == "send" and status < 300:
            activity_id = str(answer["id"])
        envelope = answer.get("error") if isinstance(answer, dict) else None
        error = envelope.get("code") if isinstance(envelope, dict) else None
        call = Call(method=route.kind, http_method=request.method, conversation_id=route.conversation_id,
                    activity_id=activity_id, body=body, authorization=authorization, status=status, at=at,
                    member_id=route.member_id, error=error)
        async with self._changed:
            self.calls.append(call)
            if invalid is not None:
                self.invalid.append((call, invalid))
            self._changed.notify_all()
        if status == 204:
            return web.Response(status=204, headers=headers)
        return web.json_response(answer, status=status, headers=headers)

    def _next_failure(self, kind: str) -> _Failure | None:
        queue = self._failures.get(kind)
        if queue:
            return queue.popleft()
        ratio = self._ratios.get(kind)
        if ratio is not None and ratio.rng.random() < ratio.ratio:
            return _Failure(status=429, retry_after=ratio.retry_after, code=None, message=None)
        return None

    def _validate(self, kind: str, body: dict[str, Any] | None) -> str | None:
        """Why the channel would refuse this activity's Adaptive Cards, per `card_validator`, or None."""
        if kind not in ("send", "reply", "update") or body is None:
            return None
        if self.card_validator is None:
            return None
        for i, attachment in enumerate(body.get("attachments") or []):
            reason = _image_problem(attachment)
            if reason is not None:
                return f"attachments[{i}]: {reason}"
            if isinstance(attachment, dict) and attachment.get("contentType") == ADAPTIVE_CARD:
                content = attachment.get("content")
                if not isinstance(content, dict):
                    return f"attachments[{i}]: the card content is not a JSON object"
                reason = self.card_validator(content)
                if reason is not None:
                    return f"attachments[{i}]: {reason}"
        return None

    def _dispatch(self, route: _Route, body: dict[str, Any] | None) -> Answer:
        if route.kind == "create":
            return self._create(body or {})
        if route.kind in ("send", "reply"):
            return self._send(route, body or {})
        if route.kind == "update":
            return self._update(route, body or {})
        if route.kind == "delete":
            return self._delete(route)
        if route.kind == "members":
            return self._members(route)
        return 404, _error(404, "NotFound", "No such Bot Connector endpoint in the fake.")

    # -- endpoints -------------------------------------------------------------------------------------------

    def _next_activity_id(self) -> str:
        return str(1700000000000 + next(self._activity_ids))  # Teams: activity ids are epoch milliseconds

    def _create(self, body: dict[str, Any]) -> Answer:
        members = [m.get("id") for m in body.get("members") or [] if isinstance(m, dict) and m.get("id")]
        if not members:
            return 400, _error(400, "BadArgument", "Conversation members are required.")
        channel_data = body.get("channelData") or {}
        # botbuilder-python serializes ConversationParameters.tenant_id as "tenantID", the REST docs say "tenantId"
        tenant = body.get("tenantId") or body.get("tenantID") or (channel_data.get("tenant") or {}).get("id") or ""
        key = (str(tenant), bool(body.get("isGroup")), tuple(sorted(str(m) for m in members)))
        conversation_id = self._by_members.get(key)
        if conversation_id is None:  # Teams: the same person always gets the same 1:1 conversation
            conversation_id = f"a:conv-{next(self._conversation_ids)}"
            self._by_members[key] = conversation_id
            self.conversations[conversation_id] = body
        answer: dict[str, Any] = {"id": conversation_id, "serviceUrl": self.service_url}
        activity = body.get("activity")
        if isinstance(activity, dict):
            answer["activityId"] = self.seed_activity(conversation_id, {k: v for k, v in activity.items() if k != "id"})
        return 201, answer

    def _send(self, route: _Route, body: dict[str, Any]) -> Answer:
        assert route.conversation_id is not None
        activity_id = self._next_activity_id()
        activity = {**body, "id": activity_id}
        if route.kind == "reply":
            activity.setdefault("replyToId", route.activity_id)
        self._activities.setdefault(route.conversation_id, {})[activity_id] = activity
        return 201, {"id": activity_id}

    def _update(self, route: _Route, body: dict[str, Any]) -> Answer:
        assert route.conversation_id is not None and route.activity_id is not None
        known = self._activities.get(route.conversation_id, {})
        if route.activity_id not in known:
            return 404, _error(404, "NotFound", f"Activity {route.activity_id} not found in the conversation.")
        known[route.activity_id] = {**body, "id": route.activity_id}
        return 200, {"id": route.activity_id}

    def _delete(self, route: _Route) -> Answer:
        assert route.conversation_id is not None and route.activity_id is not None
        if self._activities.get(route.conversation_id, {}).pop(route.activity_id, None) is None:
            return 404, _error(404, "NotFound", f"Activity {route.activity_id} not found in the conversation.")
        return 200, {}

    def _members(self, route: _Route) -> Answer:
        if route.member_id is not None:
            member = self.members.get(route.member_id)
            if member is None:
                return 404, _error(404, "MemberNotFoundInConversation", "The member was not found.")
            return 200, member.to_teams()
        roster = self._roster(route.conversation_id or "")
        if route.paged:
            return 200, {"members": roster}
        return 200, roster  # GET /members answers a bare JSON array

    def _roster(self, conversation_id: str) -> list[dict[str, Any]]:
        created = self.conversations.get(conversation_id)
        if created is None:
            return [m.to_teams() for m in self.members.values()]
        ids = [m.get("id") for m in created.get("members") or [] if isinstance(m, dict)]
        return [self.members[i].to_teams() if i in self.members else {"id": i} for i in ids]


def _route(http_method: str, raw_path: str) -> _Route:
    """Which Bot Connector operation a request is; ids are percent-decoded segment by segment (they hold ':')."""
    segments = [unquote(s) for s in raw_path.strip("/").split("/") if s]  # msrest may send "//v3/..."
    if segments[:2] != ["v3", "conversations"]:
        return _Route("unknown")
    rest = segments[2:]
    if not rest:
        return _Route("create" if http_method == "POST" else "unknown")
    conversation_id, rest = rest[0], rest[1:]
    match http_method, rest:
        case "POST", ["activities"]:
            return _Route("send", conversation_id)
        case "POST", ["activities", activity_id]:
            return _Route("reply", conversation_id, activity_id)
        case "PUT", ["activities", activity_id]:
            return _Route("update", conversation_id, activity_id)
        case "DELETE", ["activities", activity_id]:
            return _Route("delete", conversation_id, activity_id)
        case "GET", ["members"]:
            return _Route("members", conversation_id)
        case "GET", ["pagedmembers"]:
            return _Route("members", conversation_id, paged=True)
        case "GET", ["members", member_id]:
            return _Route("members", conversation_id, member_id=member_id)
    return _Route("unknown", conversation_id)


def _image_problem(attachment: Any) -> str | None:
    """Why Teams would not show an inline image attachment: it needs an https URL or a base64 data: URI of its type."""
    if not isinstance(attachment, dict) or not str(attachment.get("contentType", "")).startswith("image/"):
        return None
    url = str(attachment.get("contentUrl") or "")
    if url.startswith("https://"):
        return None
    prefix = f"data:{attachment['contentType']};base64,"
    if not url.startswith(prefix):
        return f"an inline image needs an https URL or a {prefix}... URI"
    try:
        base64.b64decode(url.removeprefix(prefix), validate=True)
    except (binascii.Error, ValueError):
        return "the inline image's data: URI is not valid base64"
    return None


def _error(status: int, code: str | None, message: str | None) -> dict[str, Any]:
    default_code, default_message = ERROR_CODES.get(status, ("ServiceError", "Unknown error."))
    return {"error": {"code": code or default_code, "message": message or default_message}}


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


__all__ = ["ADAPTIVE_CARD", "Call", "FakeBotConnector", "FakeMember"]
