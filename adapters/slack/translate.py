"""Pure translation between Slack payloads and the neutral model: payload -> event, Message/Form -> Block Kit."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from adapters.payloads import ELLIPSIS, text_or_none, truncate, value_at
from conversations.events import (
    ActionTaken,
    Actor,
    Command,
    FileReader,
    FileShared,
    FormSubmitted,
    FormValue,
    MessageRef,
    SharedFile,
)
from conversations.messages import Button, Choice, Fact, Field, Form, Message

PLATFORM = "slack"

# Slack's Block Kit limits (docs.slack.dev/reference/block-kit), all enforced here rather than by Slack's 400s.
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
ACTIONS_ELEMENTS_MAX = 25
ACTIONS_BLOCKS_MAX = 4  # 100 buttons: more in one message is an engine bug, not something to show
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTION_ID_MAX = 255
BLOCK_ID_MAX = 255
CALLBACK_ID_MAX = 255
PRIVATE_METADATA_MAX = 3000
VIEW_TITLE_MAX = 24
VIEW_BUTTON_MAX = 24
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
TEXT_INPUT_MAX = 3000  # plain_text_input max_length accepts 1..3000
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
OPTION_GROUPS_MAX = 100
OPTION_GROUP_LABEL_MAX = 75
CHECKBOXES_MAX = 10
PLACEHOLDER_MAX = 150
IMAGE_ALT_MAX = 1000  # files.getUploadURLExternal's alt_txt
FALLBACK_TEXT_MAX = 300  # Slack takes far more, but the fallback is what a notification shows
# Slack: no documented limit on a view_submission error, and it is shown as one line under the input;
# keep it as short as a placeholder so it is never cut mid-word by the client (2026-11)
FIELD_ERROR_MAX = 150
ZONE_QUERY_MIN = 2

ACTION_SEPARATOR = "|"

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


# ---------------------------------------------------------------------------
# Text


def escape_mrkdwn(text: str) -> str:
    """Make text safe inside mrkdwn: Slack asks for exactly &, < and > to be escaped as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention_user_id(text: str) -> str | None:
    """The user id in a Slack mention (`<@U123ABC|jane>` or `<@U123ABC>`), or None for anything else."""
    m = _MENTION.match(text.strip())
    return m[1] if m else None



def _fit(raw: str, limit: int) -> str:
    """Escaped mrkdwn of `raw`, cut (with an ellipsis) so that the *escaped* text fits in `limit`."""
    escaped = escape_mrkdwn(raw)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in raw:
        piece = _ESCAPES.get(ch, ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def _split(escaped: str, limit: int) -> list[str]:
    """Escaped mrkdwn in pieces of at most `limit`, cut at a line break or space when near, never inside `&amp;`."""
    pieces: list[str] = []
    rest = escaped
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut >= limit // 2:
            pieces.append(rest[:cut])
            rest = rest[cut + 1 :]
            continue
        cut = limit
        amp = rest.rfind("&", max(0, cut - 4), cut)  # the longest entity, &amp;, is five characters
        if amp != -1 and ";" not in rest[amp:cut]:
            cut = amp
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in pieces if p.strip()]


def _plain(text: str, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": emoji}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _sections(raw: str, *, bold: bool = False) -> list[dict[str, Any]]:
    """Plain text as escaped mrkdwn sections, split (not cut) at 3,000 characters; backticks stay code."""
    escaped = escape_mrkdwn(raw)
    if bold:  # mrkdwn bold does not span lines: bold each line on its own
        escaped = "\n".join(f"*{line.strip()}*" if line.strip() else "" for line in escaped.split("\n"))
    return [_section(piece) for piece in _split(escaped, SECTION_TEXT_MAX)]


def _more(hidden: int) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(f"{ELLIPSIS}and more ({hidden} not shown)")]}


# ---------------------------------------------------------------------------
# Payloads -> events




def workspace_of(body: Mapping[str, Any]) -> str:
    """The team (workspace) id a payload comes from: the person's workspace, also under Enterprise Grid."""
    # Slack: in an org-wide (Enterprise Grid) install, interactivity payloads can carry "team": null;
    # the user's own team_id is then the only workspace id (2026-11)
    for candidate in (
        value_at(body, "team_id"),
        value_at(body, "team", "id"),
        value_at(body, "user", "team_id"),
        value_at(body, "view", "team_id"),
        value_at(body, "event", "team"),
    ):
        if (found := text_or_none(candidate)) is not None:
            return found
    raise ValueError("no team id in this Slack payload")


def actor_of(body: Mapping[str, Any]) -> Actor:
    """Who caused a slash command, an interaction or an event."""
    for candidate in (
        value_at(body, "user_id"),
        value_at(body, "user", "id"),
        value_at(body, "event", "user"),
        value_at(body, "event", "user", "id"),  # a few events (user_change) carry the whole user object
    ):
        if (found := text_or_none(candidate)) is not None:
            return Actor(platform=PLATFORM, workspace=workspace_of(body), user_id=found)
    raise ValueError("no user id in this Slack payload")


def files_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The file objects a message event carries (a DM with an attachment)."""
    return [f for f in event.get("files") or () if isinstance(f, Mapping)]


def file_needs_info(file: Mapping[str, Any]) -> bool:
    # Slack: some shares carry only {"id", "file_access": "check_file_info"}; files.info has the rest (2026-11)
    return file.get("file_access") == "check_file_info" or not text_or_none(file.get("name"))


def file_download_url(file: Mapping[str, Any]) -> str | None:
    """Where the bot token fetches the file's bytes; none for a deleted or plan-hidden file."""
    if file.get("mode") in ("tombstone", "hidden_by_limit"):
        return None
    return text_or_none(file.get("url_private_download")) or text_or_none(file.get("url_private"))


def to_file_shared(body: Mapping[str, Any], files: Sequence[Mapping[str, Any]],
                   reader: Callable[[Mapping[str, Any]], FileReader]) -> FileShared:
    """A DM with files as one event; `reader` gives each file's download, run only if the engine reads it."""
    shared = []
    for file in files:
        size = file.get("size")
        shared.append(SharedFile(name=str(text_or_none(file.get("name")) or text_or_none(file.get("title")) or ""),
                                 read=reader(file), size=size if isinstance(size, int) and size >= 0 else None))
    return FileShared(actor=actor_of(body), files=tuple(shared))


def to_command(body: Mapping[str, Any]) -> Command:
    """A slash command (`/mentor join`) as a Command; the trigger id lets the reply open a modal."""
    return Command.parse(actor_of(body), str(body.get("text") or ""), trigger=text_or_none(body.get("trigger_id")))


def action_name(action_id: str) -> str:
    """The engine's action in a rendered action_id (`checkin.met|2` -> `checkin.met`)."""
    return action_id.rsplit(ACTION_SEPARATOR, 1)[0]


def message_ref_of(body: Mapping[str, Any]) -> MessageRef | None:
    """Where an interaction came from: `msg:{team}:{channel}:{ts}` for a message, `view:{id}` for a modal or Home."""
    team = workspace_of(body)
    container = body.get("container")
    kind = value_at(body, "container", "type")
    if isinstance(container, Mapping) and kind == "message":
        channel, ts = text_or_none(container.get("channel_id")), text_or_none(container.get("message_ts"))
        if channel and ts:
            return MessageRef(f"msg:{team}:{channel}:{ts}")
    if isinstance(container, Mapping) and kind == "view" and (view_id := text_or_none(container.get("view_id"))):
        return MessageRef(f"view:{view_id}")
    channel, ts = text_or_none(value_at(body, "channel", "id")), text_or_none(value_at(body, "message", "ts"))
    if channel and ts:
        return MessageRef(f"msg:{team}:{channel}:{ts}")
    if view_id := text_or_none(value_at(body, "view", "id")):
        return MessageRef(f"view:{view_id}")
    return None


def to_action_taken(body: Mapping[str, Any], action: Mapping[str, Any]) -> ActionTaken:
    """One element of a block_actions payload as a click; a select's chosen value counts as the value."""
    value = text_or_none(action.get("value")) or text_or_none(value_at(action, "selected_option", "value")) or ""
    return ActionTaken(
        actor=actor_of(body),
        action=action_name(str(action.get("action_id") or "")),
        value=value,
        message_ref=message_ref_of(body),
        trigger=text_or_none(body.get("trigger_id")),
    )


def _option_values(options: Any) -> tuple[str, ...]:
    if not isinstance(options, Sequence):
        return ()
    return tuple(str(o["value"]) for o in options if isinstance(o, Mapping) and o.get("value") is not None)


def _element_value(element: Mapping[str, Any]) -> FormValue:
    kind = element.get("type")
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        return _option_values(element.get("selected_options"))
    if kind in ("static_select", "external_select", "radio_buttons"):
        return str(value_at(element, "selected_option", "value") or "")
    if kind in ("multi_users_select",):
        return tuple(str(u) for u in element.get("selected_users") or ())
    if kind == "users_select":
        return str(element.get("selected_user") or "")
    return str(element.get("value") or "")  # plain_text_input, number_input, email/url inputs: null when empty


def to_form_submitted(body: Mapping[str, Any]) -> FormSubmitted:
    """A view_submission as a FormSubmitted: values by block_id, which is the field's name."""
    view: Mapping[str, Any] = body.get("view") or {}
    state = value_at(view, "state", "values")
    values: dict[str, FormValue] = {}
    if isinstance(state, Mapping):
        for block_id, elements in state.items():
            if isinstance(elements, Mapping):
                for element in elements.values():  # one element per input block
                    if isinstance(element, Mapping):
                        values[str(block_id)] = _element_value(element)
                        break
    return FormSubmitted(
        actor=actor_of(body),
        form=str(view.get("callback_id") or ""),
        values=values,
        context=str(view.get("private_metadata") or ""),
    )


def revoked_user_ids(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The user ids whose tokens a tokens_revoked event revokes (oauth and bot alike), without repeats."""
    tokens = value_at(body, "event", "tokens")
    found: list[str] = []
    if isinstance(tokens, Mapping):
        for ids in tokens.values():
            for user_id in ids if isinstance(ids, Sequence) and not isinstance(ids, str) else ():
                if isinstance(user_id, str) and user_id not in found:
                    found.append(user_id)
    return tuple(found)


# ---------------------------------------------------------------------------
# Message -> Block Kit


def _headline(text: str) -> list[dict[str, Any]]:
    line = text.strip()
    if not line:
        return []
    if len(line) <= HEADER_TEXT_MAX and "\n" not in line:
        return [{"type": "header", "text": _plain(line)}]
    return _sections(line, bold=True)


def _fact_text(fact: Fact) -> str:
    label = _fit(fact.label.strip(), HEADER_TEXT_MAX)
    if not label:
        return _fit(fact.value, FIELD_TEXT_MAX) or "-"
    head = f"*{label}*\n"
    return head + (_fit(fact.value, FIELD_TEXT_MAX - len(head)) or "-")


def _facts(facts: Sequence[Fact]) -> list[dict[str, Any]]:
    return [
        {"type": "section", "fields": [_mrkdwn(_fact_text(f)) for f in facts[i : i + SECTION_FIELDS_MAX]]}
        for i in range(0, len(facts), SECTION_FIELDS_MAX)
    ]


def _button(button: Button, index: int) -> dict[str, Any]:
    action_id = f"{button.action}{ACTION_SEPARATOR}{index}"
    if len(action_id) > ACTION_ID_MAX:
        raise ValueError(f"action {button.action[:40]!r}… is over Slack's {ACTION_ID_MAX} characters")
    if len(button.value) > BUTTON_VALUE_MAX:  # a cut value would route the click to the wrong thing
        raise ValueError(f"value of {button.action!r} is over Slack's {BUTTON_VALUE_MAX} characters")
    label = " ".join(button.label.split()) or button.action
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(truncate(label, BUTTON_TEXT_MAX)),
    }
    if button.value:  # Slack refuses an empty value; a missing one comes back as no value
        element["value"] = button.value
    if button.style != "default":
        element["style"] = button.style
    return element


def _actions(buttons: Sequence[Button]) -> list[dict[str, Any]]:
    elements = [_button(b, i) for i, b in enumerate(buttons)]
    return [
        {"type": "actions", "elements": elements[i : i + ACTIONS_ELEMENTS_MAX]}
        for i in range(0, len(elements), ACTIONS_ELEMENTS_MAX)
    ]


def message_blocks(message: Message) -> list[dict[str, Any]]:
    """The message as Block Kit within Slack's limits; past 50 blocks the text ends in a note, buttons stay."""
    content = _headline(message.text)
    for paragraph in message.sections:
        content.extend(_sections(paragraph))
    content.extend(_facts(message.facts))
    actions = _actions(message.buttons)
    hidden_actions = max(0, len(actions) - ACTIONS_BLOCKS_MAX)
    actions = actions[:ACTIONS_BLOCKS_MAX]
    if len(content) + len(actions) <= MESSAGE_BLOCKS_MAX and not hidden_actions:
        return content + actions
    keep = MESSAGE_BLOCKS_MAX - 1 - len(actions)
    hidden = len(content) - keep + hidden_actions if len(content) > keep else hidden_actions
    return [*content[:keep], _more(hidden), *actions]


def message_payload(message: Message) -> dict[str, Any]:
    """Arguments for chat.postMessage / chat.update: the blocks and a short notification fallback."""
    fallback = message.text.strip() or next((s.strip() for s in message.sections if s.strip()), "")
    return {"text": _fit(" ".join(fallback.split()), FALLBACK_TEXT_MAX), "blocks": message_blocks(message)}


def home_view(messages: Sequence[Message]) -> dict[str, Any]:
    """The Home tab: the messages between dividers; whole messages past Slack's 100 blocks give way to a note."""
    blocks: list[dict[str, Any]] = []
    for shown, message in enumerate(messages):
        rendered = ([{"type": "divider"}] if blocks else []) + message_blocks(message)
        room = VIEW_BLOCKS_MAX - len(blocks) - (1 if shown < len(messages) - 1 else 0)
        if len(rendered) > room:
            blocks.append(_more(len(messages) - shown))
            break
        blocks.extend(rendered)
    if not blocks:  # Slack refuses a view without blocks
        blocks = [_section("Nothing here yet.")]
    return {"type": "home", "blocks": blocks}


# ---------------------------------------------------------------------------
# Form -> modal


def _option(choice: Choice) -> dict[str, Any]:
    if not choice.value or len(choice.value) > OPTION_VALUE_MAX:  # a cut value could not be matched back
        raise ValueError(f"choice value {choice.value[:40]!r} must have 1 to {OPTION_VALUE_MAX} characters")
    label = " ".join(choice.label.split()) or choice.value
    return {"text": _plain(truncate(label, OPTION_TEXT_MAX)), "value": choice.value}


def _zone_option(zone: str) -> dict[str, Any]:
    return {"text": _plain(truncate(zone.replace("_", " "), OPTION_TEXT_MAX)), "value": zone}


def _options(choices: Sequence[Choice]) -> dict[str, Any]:
    """`options`, or `option_groups` of 100 when there are more than Slack's 100 options."""
    options = [_option(c) for c in choices]
    if len(options) <= OPTIONS_MAX:
        return {"options": options}
    if len(options) > OPTIONS_MAX * OPTION_GROUPS_MAX:
        raise ValueError(f"{len(options)} choices: Slack shows at most {OPTIONS_MAX * OPTION_GROUPS_MAX}")
    groups = []
    for i in range(0, len(options), OPTIONS_MAX):
        chunk = options[i : i + OPTIONS_MAX]
        first, last = chunk[0]["text"]["text"], chunk[-1]["text"]["text"]
        label = first if first == last else f"{truncate(first, 35)} – {truncate(last, 35)}"
        groups.append({"label": _plain(truncate(label, OPTION_GROUP_LABEL_MAX)), "options": chunk})
    return {"option_groups": groups}


def _initial(field: Field, defaults: Mapping[str, str]) -> str | tuple[str, ...] | None:
    if field.initial not in (None, "", ()):
        return field.initial
    fallback = defaults.get(field.name)
    if not fallback and field.kind == "timezone":
        fallback = defaults.get("time_zone")
    return fallback or None


def _as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _as_text(value: str | tuple[str, ...] | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else ", ".join(value)


def _text_input(field: Field, initial: str | tuple[str, ...] | None, *, multiline: bool) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": field.name}
    if multiline:
        element["multiline"] = True
    limit = TEXT_INPUT_MAX
    if field.max_length is not None and field.max_length > 0:
        limit = min(field.max_length, TEXT_INPUT_MAX)
        element["max_length"] = limit
    if text := _as_text(initial):
        element["initial_value"] = truncate(text, limit)
    return element


def _element(field: Field, initial: str | tuple[str, ...] | None) -> dict[str, Any]:
    if field.kind in ("choice", "multi_choice") and not field.choices:
        return _text_input(field, initial, multiline=False)  # nothing to pick from: let them type it
    if field.kind == "choice":
        element: dict[str, Any] = {"type": "static_select", "action_id": field.name,
                                   "placeholder": _plain("Choose one"), **_options(field.choices)}
        wanted = _as_tuple(initial)[:1]
        match = next((c for c in field.choices if wanted and c.value == wanted[0]), None)
        if match is not None:
            element["initial_option"] = _option(match)
        return element
    if field.kind == "multi_choice":
        if len(field.choices) <= CHECKBOXES_MAX:
            element = {"type": "checkboxes", "action_id": field.name, **_options(field.choices)}
        else:
            element = {"type": "multi_static_select", "action_id": field.name,
                       "placeholder": _plain("Choose any"), **_options(field.choices)}
        wanted_many = set(_as_tuple(initial))
        chosen = [_option(c) for c in field.choices if c.value in wanted_many]
        if chosen:  # Slack refuses an empty initial_options
            element["initial_options"] = chosen
        return element
    if field.kind == "timezone":
        element = {"type": "external_select", "action_id": field.name, "min_query_length": ZONE_QUERY_MIN,
                   "placeholder": _plain("Type a city, e.g. Paris")}
        zone = _as_text(initial).strip()
        if zone and len(zone) <= OPTION_VALUE_MAX:
            element["initial_option"] = _zone_option(zone)
        return element
    if field.kind == "number":
        element = {"type": "number_input", "action_id": field.name, "is_decimal_allowed": False}
        number = _as_text(initial).strip()
        if re.fullmatch(r"-?\d+", number):
            element["initial_value"] = number
        return element
    return _text_input(field, initial, multiline=field.kind == "long_text")


def _input_block(field: Field, defaults: Mapping[str, str]) -> dict[str, Any]:
    if not field.name or len(field.name) > BLOCK_ID_MAX:
        raise ValueError(f"field name {field.name[:40]!r} must have 1 to {BLOCK_ID_MAX} characters")
    block: dict[str, Any] = {
        "type": "input",
        "block_id": field.name,
        "label": _plain(truncate(" ".join(field.label.split()) or field.name, INPUT_LABEL_MAX)),
        "optional": not field.required,
        "element": _element(field, _initial(field, defaults)),
    }
    if field.hint.strip():
        block["hint"] = _plain(truncate(field.hint.strip(), INPUT_HINT_MAX))
    return block


def form_view(form: Form, *, defaults: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The form as a modal for views.open; `defaults` prefill fields the form leaves empty (by field name)."""
    if not form.id or len(form.id) > CALLBACK_ID_MAX:
        raise ValueError(f"form id {form.id[:40]!r} must have 1 to {CALLBACK_ID_MAX} characters")
    if len(form.context) > PRIVATE_METADATA_MAX:  # a cut context would come back corrupt
        raise ValueError(f"form context is {len(form.context)} characters, over Slack's {PRIVATE_METADATA_MAX}")
    inputs = [_input_block(f, defaults or {}) for f in form.fields]
    if len(inputs) > VIEW_BLOCKS_MAX:
        raise ValueError(f"{len(inputs)} fields: a Slack modal holds at most {VIEW_BLOCKS_MAX} blocks")
    intro = _sections(form.intro)[: VIEW_BLOCKS_MAX - len(inputs)] if form.intro.strip() else []
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": form.id,
        "title": _plain(truncate(" ".join(form.title.split()), VIEW_TITLE_MAX) or "Form"),
        "submit": _plain(truncate(" ".join(form.submit_label.split()), VIEW_BUTTON_MAX) or "Submit"),
        "close": _plain("Cancel"),
        "blocks": [*intro, *inputs] or [_section(ELLIPSIS)],  # Slack refuses a view without blocks
    }
    if form.context:
        view["private_metadata"] = form.context
    return view


def field_errors(form_errors: Mapping[str, str]) -> dict[str, Any]:
    """The ack that keeps a modal open and shows each error under its input (keyed by block_id)."""
    return {
        "response_action": "errors",
        "errors": {name: truncate(" ".join(text.split()), FIELD_ERROR_MAX) for name, text in form_errors.items()},
    }


# ---------------------------------------------------------------------------
# Time zone typeahead


def _zone_rank(zone: str, needle: str) -> int | None:
    lower = zone.lower()
    if needle not in lower:
        return None
    city = lower.rsplit("/", 1)[-1]
    if city.startswith(needle):
        return 0
    if any(part.startswith(needle) for part in re.split(r"[/_-]", lower)):
        return 1
    return 2


def time_zone_options(query: str, zones: Sequence[str], *, limit: int = OPTIONS_MAX) -> dict[str, Any]:
    """The block_suggestion answer for the time zone select: zones containing the query, city prefixes first."""
    needle = "_".join(query.strip().lower().split())
    ranked: list[tuple[int, str]] = []
    for zone in zones:
        rank = _zone_rank(zone, needle) if needle else 0
        if rank is not None and len(zone) <= OPTION_VALUE_MAX:
            ranked.append((rank, zone))
    ranked.sort()
    return {"options": [_zone_option(zone) for _, zone in ranked[: max(0, min(limit, OPTIONS_MAX))]]}
