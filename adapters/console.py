"""The console platform: chat with the bot in a terminal (or a script) as any person, same flows as Slack."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from conversations.events import (
    ActionTaken,
    Actor,
    Command,
    Event,
    FileShared,
    FileUnavailable,
    FormSubmitted,
    FormValue,
    MessageRef,
    SharedFile,
)
from conversations.messages import Choice, Field, Form, ImageFile, Message, Reply, TextFile

PLATFORM = "console"
WORKSPACE = "console"
MAX_FORM_ROUNDS = 5  # a form the engine keeps rejecting is cancelled after this many submissions
MAX_FORM_CHAIN = 5  # a form whose answer is another form, and so on

_log = logging.getLogger(__name__)
_USER_ID = re.compile(r"[A-Za-z0-9._-]+")
_DIGITS = re.compile(r"[0-9]+")
_CLICK = re.compile(r"(?:click\s+)?\[?([0-9]+)\]?", re.IGNORECASE)

CONSOLE_HELP = """\
Console commands:
  /as NAME        carry on as another person (e.g. /as bob)
  N or click N    click the button shown as [N] (only buttons shown to you)
  /cancel         stop filling in a form
  import-people PATH   send the bot an HR CSV, as an admin attaches it in Slack or Teams
  /quit           leave (so does the end of the input)
  # ...           a comment, ignored (for scripts)
Anything else goes to the bot, as after {command} in Slack (e.g. join, help)."""


def console_actor(user: str) -> Actor:
    """The console identity of a person named `user`."""
    return Actor(PLATFORM, WORKSPACE, user)


def console_user_id(query: str) -> str | None:
    """Read a console user from `bob`, `@bob`, `console:bob`, `console:console:bob` or `bob@console`."""
    text = query.strip()
    if "@" in text[1:]:  # an email: only the console's own domain names a console user
        name, _, domain = text.lstrip("@").rpartition("@")
        text = name if domain.lower() == PLATFORM else ""
    text = text.removeprefix("@")
    for prefix in (f"{PLATFORM}:{WORKSPACE}:", f"{PLATFORM}:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
            break
    return text if _USER_ID.fullmatch(text) else None


@dataclass(frozen=True, slots=True)
class ShownButton:
    """A button a person saw, remembered so they can click it later by its number."""

    number: int
    label: str
    action: str
    value: str
    message_ref: MessageRef


@dataclass(slots=True)
class _Shown:
    recipients: tuple[str, ...]
    buttons: tuple[int, ...]


class ConsoleMessenger:
    """The Messenger port for the console: prints messages and numbers their buttons across the session."""

    group_messages = False  # like Teams: a pair's message goes to each person

    def __init__(self, out: TextIO, *, files: Path | None = None) -> None:
        self._out = out
        self._files = files  # where attached files are saved; None prints a note only
        self._messages = 0
        self._buttons = 0
        self._shown: dict[int, _Shown] = {}  # message number → who saw it, which buttons it has
        self._clickable: dict[str, dict[int, ShownButton]] = {}  # user id → button number → button

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        """Print the message for its recipients; its buttons become clickable by them."""
        self._messages += 1
        ref = MessageRef(f"{PLATFORM}:{self._messages}")
        recipients = tuple(dict.fromkeys(actor.user_id for actor in to))
        header = f"── to {', '.join(recipients) or 'nobody'} ──"
        self._print(header, *self._render(message, ref, recipients))
        if message.file is not None:
            self._print(await self._save(message.file))
        if message.image is not None:
            self._print(await self._save_image(message.image))
        return ref

    async def _save(self, file: TextFile) -> str:
        lines = file.content.count("\n")
        if self._files is None:
            return f"(attached: {file.name}, {lines} lines)"
        path = self._files / Path(file.name).name  # a bare name: nothing escapes the folder
        await asyncio.to_thread(_write, path, file.content)
        return f"(attached: {file.name}, {lines} lines, saved as {path})"

    async def _save_image(self, image: ImageFile) -> str:
        if self._files is None:
            return f"(picture: {image.name}: {image.alt})"
        path = self._files / Path(image.name).name  # a bare name: nothing escapes the folder
        await asyncio.to_thread(_write_bytes, path, image.content)
        return f"(picture: {image.alt} Saved as {path})"

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Print the new version; the old version's buttons can no longer be clicked."""
        number = _ref_number(ref)
        shown = self._shown.get(number) if number is not None else None
        recipients: tuple[str, ...] = ()
        if shown is not None:
            recipients = shown.recipients
            for user in recipients:
                for button in shown.buttons:
                    self._clickable.get(user, {}).pop(button, None)
        self._print(f"(updated message {number if number is not None else ref})",
                    *self._render(message, ref, recipients))

    async def find_user(self, workspace: str, query: str) -> Actor | None:
        """Any plain name is a console user; emails only in the form `name@console`."""
        user = console_user_id(query)
        return console_actor(user) if user is not None else None

    def shown_button(self, user: str, number: int) -> ShownButton | None:
        """The button numbered `number`, if it was shown to `user` and is still current."""
        return self._clickable.get(user, {}).get(number)

    def has_button(self, number: int) -> bool:
        """Whether some message of this session showed a button with this number."""
        return 1 <= number <= self._buttons

    def _render(self, message: Message, ref: MessageRef, recipients: tuple[str, ...]) -> list[str]:
        lines = [message.text]
        for section in message.sections:
            lines += ["", section]
        if message.facts:
            lines.append("")
            lines += [f"{fact.label}: {fact.value}" for fact in message.facts]
        numbers: list[int] = []
        if message.buttons:
            lines.append("")
            for button in message.buttons:
                self._buttons += 1
                numbers.append(self._buttons)
                shown = ShownButton(self._buttons, button.label, button.action, button.value, ref)
                for user in recipients:
                    self._clickable.setdefault(user, {})[self._buttons] = shown
            labels = (f"[{n}] {b.label}" for n, b in zip(numbers, message.buttons, strict=True))
            lines.append("   ".join(labels))
        number = _ref_number(ref)
        if number is not None:
            self._shown[number] = _Shown(recipients, tuple(numbers))
        return lines

    def _print(self, *lines: str) -> None:
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()


def _ref_number(ref: MessageRef) -> int | None:
    head, _, number = ref.partition(":")
    return int(number) if head == PLATFORM and _DIGITS.fullmatch(number) else None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An answer the field does not accept, and why (reads after the field's label)."""

    reason: str


def parse_answer(field: Field, text: str, default: FormValue | None = None) -> FormValue | Rejected:
    """Turn a typed answer into the field's value: choice VALUES, a tuple for multi_choice."""
    text = text.strip()
    if not text:
        if default:
            return _as_kind(field, default)
        if field.required:
            return Rejected("is required")
        return () if field.kind == "multi_choice" else ""
    if field.kind == "choice" and field.choices:
        choice = _choice(field.choices, text)
        return choice.value if choice is not None else Rejected(_not_a_choice(field, text))
    if field.kind == "multi_choice" and field.choices:
        whole = _choice(field.choices, text)  # a label may itself contain a comma
        if whole is not None:
            return (whole.value,)
        values: list[str] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            choice = _choice(field.choices, part)
            if choice is None:
                return Rejected(_not_a_choice(field, part))
            values.append(choice.value)
        if not values and field.required:
            return Rejected("is required")
        return tuple(dict.fromkeys(values))
    if field.kind == "number" and not _DIGITS.fullmatch(text):
        return Rejected("must be a whole number (digits only)")
    if field.max_length is not None and len(text) > field.max_length:
        return Rejected(f"is {len(text)} characters; at most {field.max_length}")
    return text


def _as_kind(field: Field, value: FormValue) -> FormValue:
    if field.kind == "multi_choice":
        return (value,) if isinstance(value, str) else value
    return value if isinstance(value, str) else (value[0] if value else "")


def _choice(choices: tuple[Choice, ...], text: str) -> Choice | None:
    if _DIGITS.fullmatch(text):
        index = int(text)
        if 1 <= index <= len(choices):
            return choices[index - 1]
    wanted = text.casefold()
    for choice in choices:
        if wanted in (choice.value.casefold(), choice.label.casefold()):
            return choice
    return None


def _not_a_choice(field: Field, text: str) -> str:
    return f'has no choice "{text}": answer a number from 1 to {len(field.choices)} or a name'


def _shown_value(field: Field, value: FormValue) -> str:
    """A value as the person reads it: choice labels rather than values."""
    labels = {c.value: c.label for c in field.choices}
    items = (value,) if isinstance(value, str) else value
    return ", ".join(labels.get(item, item) for item in items)


def local_file(actor: Actor, typed: str) -> FileShared:
    """A file on this machine, sent to the bot as if attached in a chat; read only if the engine reads it."""
    path = Path(typed.strip().strip("\"'")).expanduser()

    async def read(limit: int) -> bytes | None:
        try:
            return await asyncio.to_thread(_read_at_most, path, limit)
        except OSError as problem:
            raise FileUnavailable(f"cannot read {path}: {problem.strerror or problem}") from None

    return FileShared(actor, (SharedFile(path.name, read),))


def _read_at_most(path: Path, limit: int) -> bytes | None:
    with path.open("rb") as file:
        data = file.read(limit + 1)
    return None if len(data) > limit else data


class _Cancelled(Exception):
    """The person typed /cancel or the input ended while a form was open."""


class ConsoleSession:
    """One terminal conversation: reads lines, dispatches events, prints what the bot answers."""

    def __init__(
        self,
        *,
        dispatch: Callable[[Event], Awaitable[Reply]],
        messenger: ConsoleMessenger,
        after_input: Callable[[], Awaitable[None]],
        user: str,
        command: str = "/mentor",
        inp: TextIO,
        out: TextIO,
        echo: bool,
    ) -> None:
        checked = console_user_id(user)
        if checked is None:
            raise ValueError(f"not a console user name: {user!r}")
        self._dispatch = dispatch
        self._messenger = messenger
        self._after_input = after_input
        self._user = checked
        self._command = command.strip()
        self._inp = inp
        self._out = out
        self._echo = echo

    @property
    def user(self) -> str:
        """Who is typing now."""
        return self._user

    @property
    def actor(self) -> Actor:
        return console_actor(self._user)

    async def run(self) -> None:
        """Chat until the input ends or the person types /quit."""
        while (line := await self._read()) is not None:
            if not await self._on_line(line):
                break

    async def _on_line(self, line: str) -> bool:
        """Act on one typed line; False ends the session."""
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        lowered = word.lower()
        if self._command and lowered == self._command.lower():
            await self._answer(Command.parse(self.actor, rest))
        elif lowered in ("/quit", "/exit"):
            return False
        elif lowered == "/as":
            self._switch_user(rest)
        elif lowered == "/help":
            self._say(CONSOLE_HELP.format(command=self._command or "the slash command"))
            await self._answer(Command(self.actor, "help"))
        elif lowered == "/cancel":
            self._say("(no form to cancel)")
        elif lowered.startswith("/"):
            self._say(f"(unknown console command {word}; type /help)")
        elif (click := _CLICK.fullmatch(line)) is not None:
            await self._click(int(click.group(1)))
        elif lowered == "import-people":
            if not rest.strip():
                self._say("(usage: import-people PATH, the HR CSV on this machine)")
            else:
                await self._answer(local_file(self.actor, rest))
        else:
            await self._answer(Command.parse(self.actor, line))
        return True

    def _switch_user(self, name: str) -> None:
        user = console_user_id(name)
        if user is None:
            self._say("(usage: /as NAME, a name of letters, digits, '.', '_' or '-')")
            return
        self._user = user
        self._say(f"(you are now {user})")

    async def _click(self, number: int) -> None:
        button = self._messenger.shown_button(self._user, number)
        if button is None:
            if self._messenger.has_button(number):
                self._say(f"(button [{number}] is not on a message shown to {self._user}, "
                          "or it was replaced)")
            else:
                self._say(f"(there is no button [{number}])")
            return
        await self._answer(ActionTaken(self.actor, button.action, button.value, button.message_ref, None))

    async def _answer(self, event: Event) -> None:
        """Dispatch, show the reply (filling in any form it opens), then let the outbox deliver."""
        reply = await self._send(event)
        if reply is not None:
            await self._show(reply, event, chain=0)
        try:
            await self._after_input()
        except Exception as error:
            self._failed("delivering messages", error)

    async def _send(self, event: Event) -> Reply | None:
        try:
            return await self._dispatch(event)
        except Exception as error:
            self._failed("handling that", error)
            return None

    async def _show(self, reply: Reply, event: Event, *, chain: int) -> None:
        for message in reply.messages:
            await self._messenger.send([self.actor], message)
        if reply.replace is not None:
            ref = event.message_ref if isinstance(event, ActionTaken | FormSubmitted) else None
            if ref is not None:
                await self._messenger.update(ref, reply.replace)
            else:
                await self._messenger.send([self.actor], reply.replace)
        if reply.form is not None:
            if chain >= MAX_FORM_CHAIN:
                self._say("(too many forms in a row; stopped)")
                return
            origin = event.message_ref if isinstance(event, ActionTaken | FormSubmitted) else None
            await self._fill(reply.form, origin, chain=chain + 1)

    async def _fill(self, form: Form, origin: MessageRef | None, *, chain: int) -> None:
        """Ask the form's fields, submit, re-ask what the engine rejects, until it accepts."""
        self._say(f"── {form.title} ──", *([form.intro] if form.intro else []),
                  "(/cancel stops; an empty answer keeps the value in [brackets])")
        values: dict[str, FormValue] = {}
        to_ask = form.fields
        try:
            for _ in range(MAX_FORM_ROUNDS):
                for field in to_ask:
                    values[field.name] = await self._ask(field, values.get(field.name, field.initial))
                submitted = FormSubmitted(self.actor, form.id, dict(values), context=form.context,
                                          message_ref=origin)
                reply = await self._send(submitted)
                if reply is None:
                    return
                if not reply.errors:
                    await self._show(reply, submitted, chain=chain)
                    return
                labels = {f.name: f.label for f in form.fields}
                self._say(*(f"  ! {labels.get(name, name)}: {error}" for name, error in reply.errors.items()))
                to_ask = tuple(f for f in form.fields if f.name in reply.errors)
                if not to_ask:
                    break  # nothing the person can answer differently
            self._say(f"(form {form.title!r} cancelled)")
        except _Cancelled:
            self._say(f"(form {form.title!r} cancelled)")

    async def _ask(self, field: Field, default: FormValue | None) -> FormValue:
        head = field.label + ("" if field.required else " (optional)")
        if default:
            head += f" [{_shown_value(field, default)}]"
        lines = [head]
        if field.hint:
            lines.append(f"  {field.hint}")
        if field.kind in ("choice", "multi_choice"):
            lines += [f"  {i}) {choice.label}" for i, choice in enumerate(field.choices, start=1)]
        if field.kind == "multi_choice":
            lines.append("  (one or more: numbers or names, separated by commas)")
        self._say(*lines)
        while True:
            line = await self._read()
            if line is None or line.lower() == "/cancel":
                raise _Cancelled
            answer = parse_answer(field, line, default)
            if not isinstance(answer, Rejected):
                return answer
            self._say(f"  ! {field.label} {answer.reason}")

    async def _read(self) -> str | None:
        """One line without its ending, or None at the end of the input."""
        self._out.write(f"{self._user}> ")
        self._out.flush()
        raw = await asyncio.to_thread(self._inp.readline)
        if not raw:
            self._out.write("\n")
            self._out.flush()
            return None
        line = raw.rstrip("\r\n")
        if self._echo:
            self._out.write(line + "\n")
            self._out.flush()
        return line.strip()

    def _failed(self, doing: str, error: Exception) -> None:
        _log.debug("console: failed %s", doing, exc_info=True)  # the trace, for whoever turns debug on
        self._say(f"(something went wrong {doing}: {type(error).__name__}: {error})")

    def _say(self, *lines: str) -> None:
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()


def _write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
