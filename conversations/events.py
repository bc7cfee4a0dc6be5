"""Neutral events the adapters hand to the engine; no SDK object crosses this line."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NewType

MessageRef = NewType("MessageRef", str)  # opaque: the adapter knows how to find the message again

FormValue = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused an event, in the platform's own terms."""

    platform: str  # "slack" | "teams" | "console"
    workspace: str  # Slack team id, Teams tenant id, "console"
    user_id: str  # platform-native, opaque to the core

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Command:
    """A typed command: `/mentor join` in Slack, `join` to the bot in Teams or the console."""

    actor: Actor
    name: str
    args: tuple[str, ...] = ()
    trigger: str | None = None  # Slack's trigger id, to open a form within 3 s
    text: str = field(default="", compare=False)  # the whole command as typed, for free text quotes must not reshape

    @classmethod
    def parse(cls, actor: Actor, text: str, *, trigger: str | None = None) -> Command:
        """Split the text after the command word; quotes group words (`open "Spring 27"`)."""
        try:
            words = shlex.split(text.strip())
        except ValueError:  # an unbalanced quote: fall back to plain words
            words = text.strip().replace('"', " ").replace("'", " ").split()
        if not words:
            return cls(actor=actor, name="help", trigger=trigger, text=text.strip())
        return cls(actor=actor, name=words[0].lower(), args=tuple(words[1:]), trigger=trigger, text=text.strip())

    def rest(self, skip: int) -> str:
        """The text as typed after the command word and `skip` more words: `admin reply K7 don't "x"` with
        skip=2 gives `don't "x"`, where args would have lost the apostrophe and the quotes."""
        parts = self.text.split(None, skip + 1)
        if not self.text or len(parts) != skip + 2:
            return " ".join(self.args[skip:])
        rest = parts[-1].strip()
        for quote in ('"', "'", "“"):  # one pair of quotes around the whole text only groups it
            closing = "”" if quote == "“" else quote
            if len(rest) >= 2 and rest[0] == quote and rest[-1] == closing and closing not in rest[1:-1]:
                return rest[1:-1].strip()
        return rest


@dataclass(frozen=True, slots=True)
class ActionTaken:
    """A button click."""

    actor: Actor
    action: str  # e.g. "leave.confirm"
    value: str = ""
    message_ref: MessageRef | None = None  # lets the adapter update the message the click came from
    trigger: str | None = None


@dataclass(frozen=True, slots=True)
class FormSubmitted:
    """A filled form: a Slack modal, a Teams card, the console's questions."""

    actor: Actor
    form: str  # the Form's id, e.g. "signup"
    values: Mapping[str, FormValue] = field(default_factory=dict)
    context: str = ""  # the Form's context, echoed back
    message_ref: MessageRef | None = None


@dataclass(frozen=True, slots=True)
class Installed:
    """The app was installed for, or first reached by, a person; the adapter stored their address."""

    actor: Actor


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The platform says a person can no longer be reached (uninstalled, deactivated)."""

    actor: Actor
    reason: str


@dataclass(frozen=True, slots=True)
class HomeOpened:
    """The person opened the app's home (Slack's App Home tab); the reply is what it shows."""

    actor: Actor


@dataclass(frozen=True, slots=True)
class WorkspaceRemoved:
    """The app was uninstalled from a whole workspace, or its tokens were revoked."""

    platform: str
    workspace: str
    reason: str


class FileUnavailable(Exception):
    """The platform would not hand over a shared file (an outage, an expired link, a missing scope)."""


FileReader = Callable[[int], Awaitable[bytes | None]]  # the bytes, at most `limit` of them; None when larger


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file as the platform announced it; the adapter fetches its bytes only when the engine reads it."""

    name: str
    read: FileReader = field(repr=False, compare=False)  # raises FileUnavailable when the platform fails
    size: int | None = None  # bytes, when the platform says so before the download


@dataclass(frozen=True, slots=True)
class FileShared:
    """A person sent the bot files in their direct chat with it (Slack DM, Teams 1:1, the console)."""

    actor: Actor
    files: tuple[SharedFile, ...]


Event = (Command | ActionTaken | FormSubmitted | Installed | Unreachable | HomeOpened | WorkspaceRemoved
         | FileShared)
