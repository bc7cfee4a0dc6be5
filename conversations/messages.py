"""The neutral message model: what the engine says, before any platform renders it."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ButtonStyle = Literal["default", "primary", "danger"]
FieldKind = Literal["text", "long_text", "choice", "multi_choice", "timezone", "number"]


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str  # routed by the engine, e.g. "leave.confirm"
    value: str = ""
    style: ButtonStyle = "default"


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class TextFile:
    """A file that goes with a message, e.g. a CSV of a long preview."""

    name: str
    content: str


@dataclass(frozen=True, slots=True)
class ImageFile:
    """A picture that goes with a message, e.g. a report's chart: PNG bytes and the words that describe it."""

    name: str  # e.g. "report.png"
    content: bytes
    alt: str  # what the picture shows, for screen readers and clients that cannot show it


@dataclass(frozen=True, slots=True)
class Message:
    """A message: a headline, paragraphs, label/value facts and buttons. All text is plain."""

    text: str
    sections: tuple[str, ...] = ()
    facts: tuple[Fact, ...] = ()
    buttons: tuple[Button, ...] = ()
    file: TextFile | None = None
    image: ImageFile | None = None

    def to_json(self) -> str:
        """Serialise for the outbox."""
        return json.dumps(
            {
                "text": self.text,
                "sections": list(self.sections),
                "facts": [[f.label, f.value] for f in self.facts],
                "buttons": [[b.label, b.action, b.value, b.style] for b in self.buttons],
                "file": [self.file.name, self.file.content] if self.file else None,
                "image": [self.image.name, base64.b64encode(self.image.content).decode("ascii"), self.image.alt]
                if self.image else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> Message:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            text=str(data["text"]),
            sections=tuple(str(s) for s in data.get("sections", ())),
            facts=tuple(Fact(str(a), str(b)) for a, b in data.get("facts", ())),
            buttons=tuple(Button(str(a), str(b), str(c), d) for a, b, c, d in data.get("buttons", ())),
            file=TextFile(str(data["file"][0]), str(data["file"][1])) if data.get("file") else None,
            image=ImageFile(str(data["image"][0]), base64.b64decode(data["image"][1]), str(data["image"][2]))
            if data.get("image") else None,
        )


@dataclass(frozen=True, slots=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Field:
    """One question of a form, with the limits every platform enforces the same way."""

    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    choices: tuple[Choice, ...] = ()
    max_length: int | None = None
    initial: str | tuple[str, ...] | None = None
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Form:
    """A form the person fills in: a Slack modal, a Teams card, the console's questions."""

    id: str
    title: str
    fields: tuple[Field, ...]
    submit_label: str = "Submit"
    intro: str = ""
    context: str = ""  # echoed back in FormSubmitted.context


@dataclass(frozen=True, slots=True)
class Reply:
    """What answers the request at hand, delivered straight by the adapter that received it."""

    messages: tuple[Message, ...] = ()  # private to the caller (ephemeral in Slack)
    form: Form | None = None  # open this form for the caller
    errors: Mapping[str, str] = field(default_factory=dict)  # per-field errors of a submitted form
    replace: Message | None = None  # replaces the message the click came from
    close_form: bool = True  # on a valid submission, the form closes

    @classmethod
    def say(cls, text: str, *sections: str, facts: tuple[Fact, ...] = (),
            buttons: tuple[Button, ...] = ()) -> Reply:
        return cls(messages=(Message(text, tuple(sections), facts, buttons),))


NOTHING = Reply()
