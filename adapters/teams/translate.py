"""Pure translation between Teams activities and the neutral model: activity -> event, Message/Form -> Adaptive Card."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from adapters.payloads import ELLIPSIS, text_or_none, truncate, value_at
from conversations.events import (
    ActionTaken,
    Actor,
    Command,
    Event,
    FileReader,
    FileShared,
    FormSubmitted,
    FormValue,
    Installed,
    MessageRef,
    SharedFile,
    Unreachable,
)
from conversations.messages import Button, Choice, Fact, Field, Form, ImageFile, Message
from conversations.profiles import time_zones

PLATFORM = "teams"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
FILE_CONTENT_TYPE = "application/vnd.microsoft.teams.file.download.info"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"  # the highest level Teams renders
# Teams: a message with a card is refused past about 28 KB, envelope included (2026-11)
MAX_CARD_BYTES = 28_000
IMAGE_TYPE = "image/png"
IMAGE_ALT_MAX = 1_000
ENVELOPE_BYTES = 1_000  # room left for what the SDK wraps around the card: ids, serviceUrl, conversation

# Teams: only the first 6 actions of a card's action bar are shown; more go in ActionSets in the body (2026-11)
ACTIONS_MAX = 6
# Our own limits, so one long text cannot crowd out the rest of a card.
HEADLINE_MAX = 500
SECTION_TEXT_MAX = 4_000
FACT_TITLE_MAX = 100
FACT_VALUE_MAX = 1_000
ACTION_TITLE_MAX = 50
ACTION_NAME_MAX = 255
ACTION_VALUE_MAX = 1_000  # a cut value would route the click to the wrong thing: longer is a bug
PLAIN_TEXT_MAX = 4_000
FORM_INTRO_MAX = 2_000
INPUT_LABEL_MAX = 200
INPUT_PLACEHOLDER_MAX = 150
INPUT_VALUE_MAX = 4_000
INPUT_VALUE_SHORT = 500  # what a typed value keeps when a form with every value in full is too big
CHOICE_TITLE_MAX = 150
ERROR_TEXT_MAX = 300
EXPANDED_CHOICES_MAX = 7  # more checkboxes than this make a form scroll: use a dropdown

FORM_KEY = "mb_form"
CONTEXT_KEY = "mb_context"
MULTI_KEY = "mb_multi"
ACTION_KEY = "mb_action"
VALUE_KEY = "mb_value"
_OUR_KEYS = frozenset({FORM_KEY, CONTEXT_KEY, MULTI_KEY, ACTION_KEY, VALUE_KEY})

_STYLES = {"primary": "positive", "danger": "destructive"}
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_~\[\]<>#])")
_BULLET = re.compile(r"(?m)^([ \t]*)([-+])(?=\s|$)")
_NUMBERED = re.compile(r"(?m)^([ \t]*\d+)([.)])(?=\s|$)")
_CODE = re.compile(r"`([^`\n]+)`")
_AT_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_LEGACY_ZONE_PREFIXES = ("Etc/", "US/", "Canada/", "Brazil/", "Chile/", "Mexico/", "SystemV/", "posix/", "right/")


# ---------------------------------------------------------------------------
# Text


def escape_markdown(text: str) -> str:
    """User text shown literally in a TextBlock: no bold, links, headings, quotes or lists it did not mean."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    escaped = _BULLET.sub(r"\1\\\2", escaped)
    return _NUMBERED.sub(r"\1\\\2", escaped)



def _paragraphs(markdown: str) -> str:
    # Teams: a single \n in a TextBlock outside a list is not a line break, only \n\n is (2026-11)
    return re.sub(r"\n+", "\n\n", markdown.replace("\r\n", "\n").strip("\n"))


def _section_markdown(raw: str) -> str:
    """Engine text as escaped markdown; `status` in backticks turns bold, as Teams cards have no inline code."""
    out: list[str] = []
    last = 0
    for m in _CODE.finditer(raw):
        out.append(escape_markdown(raw[last : m.start()]))
        out.append(f"**{escape_markdown(m[1].strip())}**" if m[1].strip() else escape_markdown(m[0]))
        last = m.end()
    out.append(escape_markdown(raw[last:]))
    return _paragraphs("".join(out))


def _line_markdown(raw: str) -> str:
    return _paragraphs(escape_markdown(raw))


def _fit(raw: str, limit: int, render: Callable[[str], str] = escape_markdown) -> str:
    """render(raw), or render of the longest prefix that fits in `limit` characters with an ellipsis."""
    whole = render(raw)
    if len(whole) <= limit:
        return whole
    if limit <= 0:
        return ""
    low, high = 0, len(raw)  # the longest prefix whose rendering, plus the ellipsis, fits
    while low < high:
        mid = (low + high + 1) // 2
        if len(render(raw[:mid].rstrip())) + 1 <= limit:
            low = mid
        else:
            high = mid - 1
    return render(raw[:low].rstrip()) + ELLIPSIS


def _one_line(text: str) -> str:
    return " ".join(text.split())


def card_bytes(card: Mapping[str, Any]) -> int:
    """How many bytes the card weighs on the wire, as Teams counts them: compact UTF-8 JSON."""
    return len(json.dumps(card, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


# ---------------------------------------------------------------------------
# Activities -> events




def tenant_of(activity: Mapping[str, Any]) -> str:
    """The Microsoft 365 tenant an activity comes from: the workspace of everyone in it."""
    candidates = (value_at(activity, "conversation", "tenantId"), value_at(activity, "channelData", "tenant", "id"))
    for candidate in candidates:
        if (found := text_or_none(candidate)) is not None:
            return found
    raise ValueError("no tenant id in this Teams activity")


def actor_of(activity: Mapping[str, Any]) -> Actor:
    """Who sent an activity: the AAD object id, stable across chats and apps, else the Teams user id."""
    for candidate in (value_at(activity, "from", "aadObjectId"), value_at(activity, "from", "id")):
        if (found := text_or_none(candidate)) is not None:
            return Actor(platform=PLATFORM, workspace=tenant_of(activity), user_id=found)
    raise ValueError("no user id in this Teams activity")


def is_personal(activity: Mapping[str, Any]) -> bool:
    """Whether the activity comes from a 1:1 chat with the bot (not a channel or a group chat)."""
    return value_at(activity, "conversation", "conversationType") == "personal"


def message_ref_of(activity: Mapping[str, Any]) -> MessageRef | None:
    """The card a click came from, `teams:{tenant}:{user}:{activity id}`, when Teams says which."""
    reply_to = (text_or_none(activity.get("replyToId"))
                or text_or_none(value_at(activity, "channelData", "legacy", "replyToId")))
    if reply_to is None:
        return None
    actor = actor_of(activity)
    return MessageRef(f"{PLATFORM}:{actor.workspace}:{actor.user_id}:{reply_to}")


def command_text(activity: Mapping[str, Any], *, command: str = "/mentor") -> str:
    """What a person wrote to the bot, without mentions, the HTML Teams adds, or a leading command word."""
    text = str(activity.get("text") or "")
    for entity in activity.get("entities") or ():
        shown = text_or_none(entity.get("text")) if isinstance(entity, Mapping) else None
        if shown and entity.get("type") == "mention":
            text = text.replace(shown, " ")
    # Teams: channel messages arrive as HTML (<p>, <div>, &nbsp;) around an <at>name</at> mention (2026-11)
    text = _AT_MENTION.sub(" ", text)
    text = html.unescape(_TAG.sub(" ", text)).replace("\xa0", " ")
    words = text.strip()
    if command and words.lower().split(maxsplit=1)[:1] == [command.lower()]:
        words = words[len(command) :]
    return words.strip()


def _form_values(value: Mapping[str, Any]) -> dict[str, FormValue]:
    multi = {name.strip() for name in str(value.get(MULTI_KEY) or "").split(",") if name.strip()}
    values: dict[str, FormValue] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or key in _OUR_KEYS or key == "msteams":
            continue
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, str | int | float):
            text = str(raw)
        else:
            continue
        values[key] = tuple(p.strip() for p in text.split(",") if p.strip()) if key in multi else text
    for name in multi:
        # Teams: an input left empty is left out of the submitted data altogether (2026-11)
        values.setdefault(name, ())
    return values


def _to_submit(activity: Mapping[str, Any], value: Mapping[str, Any]) -> Event | None:
    actor = actor_of(activity)
    if (form := text_or_none(value.get(FORM_KEY))) is not None:
        return FormSubmitted(actor=actor, form=form, values=_form_values(value),
                             context=str(value.get(CONTEXT_KEY) or ""), message_ref=message_ref_of(activity))
    if (action := text_or_none(value.get(ACTION_KEY))) is not None:
        return ActionTaken(actor=actor, action=action, value=str(value.get(VALUE_KEY) or ""),
                           message_ref=message_ref_of(activity))
    return None  # a card that is not ours


def _bot_added(activity: Mapping[str, Any]) -> bool:
    bot_id = value_at(activity, "recipient", "id")
    members = activity.get("membersAdded") or ()
    ids = [m.get("id") for m in members if isinstance(m, Mapping)]
    return bool(ids) and (bot_id in ids or is_personal(activity))


def files_of(activity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The files a person sent in a 1:1 chat: attachments with a pre-authenticated, short-lived downloadUrl."""
    # Teams: bots receive files only in personal chats and only with supportsFiles in the manifest (2026-11)
    if not is_personal(activity):
        return []
    return [a for a in activity.get("attachments") or ()
            if isinstance(a, Mapping) and a.get("contentType") == FILE_CONTENT_TYPE]


def file_download_url(attachment: Mapping[str, Any]) -> str | None:
    return text_or_none(value_at(attachment, "content", "downloadUrl"))


def _to_file_shared(activity: Mapping[str, Any], files: Sequence[Mapping[str, Any]],
                    reader: Callable[[Mapping[str, Any]], FileReader]) -> FileShared:
    shared = []
    for attachment in files:
        name = text_or_none(attachment.get("name")) or ""
        file_type = text_or_none(value_at(attachment, "content", "fileType"))
        if file_type and "." not in name:  # Teams names the file with its extension; fileType is the fallback
            name = f"{name or 'file'}.{file_type}"
        shared.append(SharedFile(name=name, read=reader(attachment)))  # Teams does not say the size
    return FileShared(actor=actor_of(activity), files=tuple(shared))


def to_event(activity: Mapping[str, Any], *, command: str = "/mentor",
             reader: Callable[[Mapping[str, Any]], FileReader] | None = None) -> Event | None:
    """An incoming activity as a neutral event, or None for traffic the engine has no use for; files sent in a
    1:1 chat become FileShared when `reader` can fetch them."""
    kind = activity.get("type")
    if kind == "message":
        value = activity.get("value")
        if isinstance(value, Mapping):  # an Action.Submit from one of our cards
            return _to_submit(activity, value)
        if reader is not None and (files := files_of(activity)):
            return _to_file_shared(activity, files, reader)
        if not str(activity.get("text") or "").strip():
            return None  # a file, a sticker, an edit of nothing
        return Command.parse(actor_of(activity), command_text(activity, command=command))
    if kind == "conversationUpdate":
        return Installed(actor_of(activity)) if _bot_added(activity) else None
    if kind == "installationUpdate":
        # Teams: an app upgrade sends "add-upgrade" / "remove-upgrade" instead of "add" / "remove" (2026-11)
        action = activity.get("action")
        if action in ("add", "add-upgrade"):
            return Installed(actor_of(activity))
        if action in ("remove", "remove-upgrade") and is_personal(activity):
            return Unreachable(actor_of(activity), "uninstalled")
        return None  # removed from a team or a group chat: the person may still have the app
    return None


# ---------------------------------------------------------------------------
# Message -> Adaptive Card


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": CARD_SCHEMA, "version": CARD_VERSION,
                            "body": body or [_text_block(ELLIPSIS)]}
    if actions:
        card["actions"] = actions
    return card


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _headline(raw: str) -> list[dict[str, Any]]:
    line = raw.strip()
    if not line:
        return []
    return [_text_block(_fit(line, HEADLINE_MAX, _line_markdown), weight="Bolder", size="Medium")]


def _more(hidden: int) -> dict[str, Any]:
    return _text_block(f"{ELLIPSIS}and more ({hidden} not shown)", isSubtle=True)


def _fact(fact: Fact) -> dict[str, Any]:
    return {"title": _fit(_one_line(fact.label), FACT_TITLE_MAX) or "-",
            "value": _fit(fact.value.strip(), FACT_VALUE_MAX, _line_markdown) or "-"}


def _action(button: Button) -> dict[str, Any]:
    if not button.action or len(button.action) > ACTION_NAME_MAX:
        raise ValueError(f"action {button.action[:40]!r} must have 1 to {ACTION_NAME_MAX} characters")
    if len(button.value) > ACTION_VALUE_MAX:
        raise ValueError(f"value of {button.action!r} is over {ACTION_VALUE_MAX} characters")
    action: dict[str, Any] = {
        "type": "Action.Submit",
        "title": truncate(_one_line(button.label) or button.action, ACTION_TITLE_MAX),
        "data": {ACTION_KEY: button.action, VALUE_KEY: button.value},
    }
    if button.style in _STYLES:
        action["style"] = _STYLES[button.style]
    return action


def _actions(buttons: Sequence[Button]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The action bar's first 6 buttons, and ActionSet rows of 6 for the rest."""
    actions = [_action(b) for b in buttons]
    rows = [{"type": "ActionSet", "actions": actions[i : i + ACTIONS_MAX]}
            for i in range(ACTIONS_MAX, len(actions), ACTIONS_MAX)]
    return actions[:ACTIONS_MAX], rows


def _assemble(head: list[dict[str, Any]], units: Sequence[tuple[str, dict[str, Any]]], hidden: int,
              rows: list[dict[str, Any]], top: list[dict[str, Any]]) -> dict[str, Any]:
    body = list(head)
    facts: list[dict[str, Any]] = []
    for kind, node in units:
        if kind == "fact":
            facts.append(node)
            continue
        if facts:
            body.append({"type": "FactSet", "facts": facts})
            facts = []
        body.append(node)
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    if hidden:
        body.append(_more(hidden))
    return _card([*body, *rows], top)


def message_card(message: Message) -> dict[str, Any]:
    """The message as an Adaptive Card within Teams' size limit; what does not fit ends in a note, buttons stay."""
    head = _headline(message.text)
    units: list[tuple[str, dict[str, Any]]] = [
        ("block", _text_block(_fit(s.strip(), SECTION_TEXT_MAX, _section_markdown)))
        for s in message.sections if s.strip()
    ]
    units.extend(("fact", _fact(f)) for f in message.facts)
    if message.file is not None:
        # Teams: a bot can attach a file in a 1:1 chat only after the person accepts a consent card (2026-11)
        rows_in_file = message.file.content.count("\n")
        units.append(("block", _text_block(_fit(f"The full list ({message.file.name}, {rows_in_file} lines) cannot be "
                                                "attached in Teams; the console and Slack receive it as a file.",
                                                SECTION_TEXT_MAX, _section_markdown))))
    top, rows = _actions(message.buttons)
    budget = MAX_CARD_BYTES - ENVELOPE_BYTES
    card = _assemble(head, units, 0, rows, top)
    if card_bytes(card) <= budget:
        return card
    base = card_bytes(_assemble(head, [], len(units), rows, top)) + len('{"type":"FactSet","facts":[]},')
    if base > budget:
        raise ValueError(f"{len(message.buttons)} buttons do not fit in a Teams card")
    keep, used = 0, base
    for _, node in units:  # a first guess from each part's own size, then the exact check below
        used += card_bytes(node) + 1
        if used > budget:
            break
        keep += 1
    card = _assemble(head, units[:keep], len(units) - keep, rows, top)
    while card_bytes(card) > budget and keep > 0:
        keep -= 1
        card = _assemble(head, units[:keep], len(units) - keep, rows, top)
    return card


def card_attachment(card: Mapping[str, Any]) -> dict[str, Any]:
    """A card as a Bot Framework attachment."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def data_uri(image: ImageFile) -> str:
    return f"data:{IMAGE_TYPE};base64,{base64.b64encode(image.content).decode('ascii')}"


def image_attachment(image: ImageFile) -> dict[str, Any]:
    """An inline image: Teams renders an image/* attachment as a picture in the chat, not as a file."""
    return {"contentType": IMAGE_TYPE, "contentUrl": data_uri(image), "name": image.name}


def _with_image(card: dict[str, Any], image: ImageFile) -> dict[str, Any]:
    """The card with the picture right under its headline."""
    element = {"type": "Image", "url": data_uri(image), "altText": truncate(image.alt, IMAGE_ALT_MAX),
               "size": "Stretch"}
    body = list(card["body"])
    at = 1 if body and body[0].get("weight") == "Bolder" else 0
    return {**card, "body": [*body[:at], element, *body[at:]]}


def message_activity(message: Message) -> dict[str, Any]:
    """A message activity: one plain line goes as text, anything richer as a card.

    A picture goes inside the card (an Image with a data: URI) when the card stays within Teams' size
    limit; otherwise beside it, as an inline image attachment, which Teams does not count against the
    message limit (2026-11).
    """
    text = message.text.strip()
    if text and "\n" not in text and not (message.sections or message.facts or message.buttons or message.file
                                           or message.image):
        return {"type": "message", "text": truncate(text, PLAIN_TEXT_MAX), "textFormat": "plain"}
    card = message_card(message)
    if message.image is None:
        return {"type": "message", "attachments": [card_attachment(card)]}
    with_image = _with_image(card, message.image)
    if card_bytes(with_image) <= MAX_CARD_BYTES - ENVELOPE_BYTES:
        return {"type": "message", "attachments": [card_attachment(with_image)]}
    return {"type": "message", "attachments": [card_attachment(card), image_attachment(message.image)]}


# ---------------------------------------------------------------------------
# Form -> Adaptive Card


@lru_cache(maxsize=1)
def _canonical_zones() -> frozenset[str]:
    """The zones tzdb itself defines (its `Z` lines), not the links it keeps for old names like Asia/Calcutta."""
    try:
        source = resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return frozenset()
    return frozenset(line.split()[1] for line in source.splitlines() if line.startswith("Z "))


@lru_cache(maxsize=1)
def card_time_zones() -> tuple[str, ...]:
    """The time zones a person picks from in a card: canonical IANA names, no aliases or legacy names."""
    canonical = _canonical_zones()
    return tuple(
        z for z in time_zones()
        if z == "UTC" or ("/" in z and not z.startswith(_LEGACY_ZONE_PREFIXES) and (not canonical or z in canonical))
    )


def _current(field: Field, values: Mapping[str, FormValue]) -> tuple[str, ...]:
    raw: FormValue | None = values.get(field.name, field.initial)
    if raw is None:
        return ()
    items = (raw,) if isinstance(raw, str) else raw
    if field.kind == "multi_choice":
        items = tuple(p for item in items for p in item.split(","))
    return tuple(i.strip() for i in items if i.strip()) if field.kind != "long_text" else tuple(items)


def _choice(choice: Choice) -> dict[str, Any]:
    if not choice.value or "," in choice.value:  # Teams returns a multi-select as "a,b": a comma would split it
        raise ValueError(f"choice value {choice.value[:40]!r} must be non-empty and have no comma")
    return {"title": truncate(_one_line(choice.label) or choice.value, CHOICE_TITLE_MAX), "value": choice.value}


def _text_input(field: Field, current: tuple[str, ...], *, multiline: bool = False,
                value_max: int = INPUT_VALUE_MAX) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "Input.Text"}
    limit = value_max
    if field.max_length is not None and field.max_length > 0:
        limit = min(limit, field.max_length)
        element["maxLength"] = field.max_length
    if multiline:
        element["isMultiline"] = True
    if text := ", ".join(current) if not multiline else "\n".join(current):
        element["value"] = truncate(text, limit)
    return element


def _choice_set(choices: list[dict[str, Any]], current: tuple[str, ...], **options: Any) -> dict[str, Any]:
    known = {c["value"] for c in choices}
    element: dict[str, Any] = {"type": "Input.ChoiceSet", "choices": choices, **options}
    if chosen := [v for v in current if v in known]:
        element["value"] = ",".join(chosen) if options.get("isMultiSelect") else chosen[0]
    return element


def _zone_input(current: tuple[str, ...], *, typeahead: bool) -> dict[str, Any]:
    zone = current[0] if current else ""
    if not typeahead:  # the engine checks a typed zone and suggests close ones
        return {"type": "Input.Text", "maxLength": 64, **({"value": truncate(zone, 64)} if zone else {})}
    zones = list(card_time_zones())
    if zone and zone not in zones and "," not in zone and len(zone) <= 64:
        zones.insert(0, zone)  # an alias or a legacy name someone already has stays selectable
    # Teams: style "filtered" would give type-ahead, but the published Adaptive Cards 1.5 schema allows only
    # compact|expanded, and cards must validate against it; a compact list is what every Teams client renders (2026-11)
    return _choice_set([{"title": z, "value": z} for z in zones], current[:1], style="compact")


def _element(field: Field, current: tuple[str, ...], *, typeahead: bool, value_max: int) -> dict[str, Any]:
    if field.kind in ("choice", "multi_choice") and not field.choices:
        return _text_input(field, current, value_max=value_max)  # nothing to pick from: let them type it
    if field.kind == "choice":
        return _choice_set([_choice(c) for c in field.choices], current, style="compact")
    if field.kind == "multi_choice":
        style = "expanded" if len(field.choices) <= EXPANDED_CHOICES_MAX else "compact"
        return _choice_set([_choice(c) for c in field.choices], current, isMultiSelect=True, style=style)
    if field.kind == "timezone":
        return _zone_input(current, typeahead=typeahead)
    if field.kind == "number":
        element: dict[str, Any] = {"type": "Input.Number"}
        number = current[0] if current else ""
        if re.fullmatch(r"-?\d+", number):
            element["value"] = int(number)
        elif re.fullmatch(r"-?\d+\.\d+", number):
            element["value"] = float(number)
        return element
    return _text_input(field, current, multiline=field.kind == "long_text", value_max=value_max)


def _input(field: Field, values: Mapping[str, FormValue], *, typeahead: bool, value_max: int) -> dict[str, Any]:
    if not field.name or field.name in _OUR_KEYS or field.name == "msteams":
        raise ValueError(f"field name {field.name!r} is empty or reserved")
    label = truncate(_one_line(field.label) or field.name, INPUT_LABEL_MAX)
    element = _element(field, _current(field, values), typeahead=typeahead, value_max=value_max)
    element = {"type": element.pop("type"), "id": field.name, "label": label, "isRequired": field.required,
               **element}
    if field.required:
        element["errorMessage"] = truncate(f"“{label}” is required.", ERROR_TEXT_MAX)
    hint = _one_line(field.hint)
    dropdown = element.get("style") in ("compact", "filtered") and not element.get("isMultiSelect")
    if hint and (element["type"] in ("Input.Text", "Input.Number") or dropdown):
        element["placeholder"] = truncate(hint, INPUT_PLACEHOLDER_MAX)
    elif hint:  # checkboxes show no placeholder: the hint goes with the label
        element["label"] = truncate(f"{label} ({hint})", INPUT_LABEL_MAX)
    return element


def _error(text: str) -> dict[str, Any]:
    return _text_block(_fit(_one_line(text), ERROR_TEXT_MAX), color="Attention", isSubtle=False)


def _form_card(form: Form, values: Mapping[str, FormValue], errors: Mapping[str, str], *,
               typeahead: bool, value_max: int) -> dict[str, Any]:
    body: list[dict[str, Any]] = _headline(form.title)
    if form.intro.strip():
        body.append(_text_block(_fit(form.intro.strip(), FORM_INTRO_MAX, _section_markdown)))
    names = {f.name for f in form.fields}
    body.extend(_error(text) for name, text in errors.items() if name not in names and text.strip())
    for field in form.fields:
        body.append(_input(field, values, typeahead=typeahead, value_max=value_max))
        if (error := errors.get(field.name, "")).strip():
            body.append(_error(error))
    multi = ",".join(f.name for f in form.fields if f.kind == "multi_choice" and f.choices)
    submit = {
        "type": "Action.Submit",
        "title": truncate(_one_line(form.submit_label) or "Submit", ACTION_TITLE_MAX),
        "style": "positive",
        "data": {FORM_KEY: form.id, CONTEXT_KEY: form.context, MULTI_KEY: multi},
    }
    return _card(body, [submit])


def form_card(form: Form, *, values: Mapping[str, FormValue] | None = None,
              errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The form as a card; submitted `values` stay in the inputs and each error shows under its input."""
    if not form.id:
        raise ValueError("a form needs an id to be routed back")
    budget = MAX_CARD_BYTES - ENVELOPE_BYTES
    # Each try gives up a little more: the zone list for a text input the engine checks, then long typed values.
    for typeahead, value_max in ((True, INPUT_VALUE_MAX), (False, INPUT_VALUE_MAX), (False, INPUT_VALUE_SHORT)):
        card = _form_card(form, values or {}, errors or {}, typeahead=typeahead, value_max=value_max)
        if card_bytes(card) <= budget:
            return card
    raise ValueError(f"form {form.id!r} with {len(form.fields)} fields does not fit in a Teams card")


def form_activity(form: Form, *, values: Mapping[str, FormValue] | None = None,
                  errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A message activity carrying the form's card."""
    return {"type": "message", "attachments": [card_attachment(form_card(form, values=values, errors=errors))]}
