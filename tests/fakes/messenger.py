"""A platform that records what it was asked to send, and fails on request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from conversations.events import Actor, MessageRef
from conversations.messages import Message
from conversations.ports import DeliveryError


class FakeMessenger:
    """Satisfies conversations.ports.Messenger; `sent` is the transcript of delivered messages."""

    def __init__(self, users: dict[str, Actor] | None = None, *, group_messages: bool = False) -> None:
        self.group_messages = group_messages
        self.sent: list[tuple[tuple[Actor, ...], Message]] = []
        self.updated: list[tuple[MessageRef, Message]] = []
        self.attempts = 0  # every call to send, failed or not
        self.users: dict[str, Actor] = dict(users or {})
        self._failures: list[Exception] = []

    def fail_next(self, times: int = 1, reason: str = "platform is down", *, permanent: bool = False,
                  retry_after: float | None = None) -> None:
        """The next `times` sends raise this DeliveryError."""
        self.fail_next_with(DeliveryError(reason, permanent=permanent, retry_after=retry_after), times)

    def fail_next_with(self, error: Exception, times: int = 1) -> None:
        """The next `times` sends raise `error`, like an adapter with a bug or an outage."""
        self._failures.extend([error] * times)

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        self.attempts += 1
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append((tuple(to), message))
        return MessageRef(f"msg-{len(self.sent)}")

    async def update(self, ref: MessageRef, message: Message) -> None:
        self.updated.append((ref, message))

    async def find_user(self, workspace: str, query: str) -> Actor | None:
        actor = self.users.get(query.strip())
        return actor if actor is not None and actor.workspace == workspace else None

    def to(self, actor: Actor) -> list[Message]:
        """What was delivered to one person, in order."""
        return [message for recipients, message in self.sent if actor in recipients]

    def texts_to(self, actor: Actor) -> list[str]:
        return [m.text for m in self.to(actor)]


if TYPE_CHECKING:  # mypy proves the fake satisfies the port
    from conversations.ports import Messenger

    def _fits(messenger: FakeMessenger) -> None:
        _messenger: Messenger = messenger
