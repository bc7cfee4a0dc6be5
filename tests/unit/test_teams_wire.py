"""adapters/teams/wire.py reads and writes botbuilder's models exactly as msrest does."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import DeserializationError
from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ConversationReference, ConversationResourceResponse
from botbuilder.schema.teams import TeamsChannelData
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.teams import translate
from adapters.teams.messenger import reference_json
from adapters.teams.wire import from_wire, to_wire
from conversations.messages import Button, Choice, Fact, Field, Form, Message

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "teams"


def _payloads() -> list[Path]:
    found = sorted(PAYLOADS.glob("*.json"))
    assert len(found) >= 5
    return found


@pytest.mark.parametrize("path", _payloads(), ids=lambda p: p.stem)
def test_every_recorded_activity_reads_as_msrest_reads_it(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    fast, slow = from_wire(Activity, data), Activity().deserialize(data)
    assert fast == slow  # msrest's Model.__eq__: every attribute, nested models and additional properties
    assert isinstance(fast.timestamp, datetime.datetime) or data.get("timestamp") is None
    assert to_wire(fast) == slow.serialize()
    reference = TurnContext.get_conversation_reference(fast)
    assert from_wire(ConversationReference, json.loads(reference_json(reference))) == (
        ConversationReference().deserialize(json.loads(reference_json(reference))))


def _cards() -> list[dict[str, Any]]:
    form = Form("signup", "Sign up", (
        Field("name", "Your name", "text", required=True, max_length=80),
        Field("role", "Role", "choice", choices=(Choice("mentor", "Mentor"), Choice("mentee", "Mentee"))),
        Field("topics", "Topics", "multi_choice", choices=(Choice("genai", "GenAI"), Choice("data", "Data"))),
    ), submit_label="Save")
    message = Message("Weekly check-in: did you meet?", ("Only admins see it, as a count.",),
                      facts=(Fact("Partner", "Ada"),),
                      buttons=(Button("We met", "checkin.met", "c1", "primary"), Button("Not this week", "x", "c1")))
    return [translate.message_activity(message), translate.message_activity(Message("plain *text* <b>")),
            translate.form_activity(form), translate.form_activity(form, values={"name": "Ada"},
                                                                  errors={"name": "Too short"})]


@pytest.mark.parametrize("card", _cards())
def test_the_cards_we_send_read_as_msrest_reads_them(card: dict[str, Any]) -> None:
    fast = from_wire(Activity, card)
    assert fast == Activity().deserialize(card)
    assert to_wire(fast) == Activity().deserialize(card).serialize()
    for attachment in fast.attachments or ():
        attachment.content["mutated"] = True  # a copy, as msrest's: the card we built stays as it was
    assert "mutated" not in json.dumps(card)


def test_other_models_and_unknown_keys() -> None:
    created = {"id": "a:1", "activityId": "9", "serviceUrl": "https://x", "extra": {"k": [1, None]}}
    assert from_wire(ConversationResourceResponse, created) == ConversationResourceResponse().deserialize(created)
    assert from_wire(ConversationResourceResponse, created).additional_properties == {"extra": {"k": [1, None]}}
    channel = {"tenant": {"id": "t"}, "team": {"id": "19:x", "name": "T"}, "eventType": "teamRenamed"}
    assert from_wire(TeamsChannelData, channel) == TeamsChannelData().deserialize(channel)


def test_what_msrest_refuses_is_refused_the_same_way() -> None:
    for bad in ({"type": "message", "timestamp": "yesterday"}, {"type": "message", "from": "someone"},
                {"type": "message", "attachments": {"not": "a list"}}):
        with pytest.raises(DeserializationError):
            Activity().deserialize(bad)
        with pytest.raises(DeserializationError):
            from_wire(Activity, bad)


_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=4), inner, max_size=3), max_leaves=8)
_keys = st.sampled_from(["type", "id", "text", "timestamp", "localTimestamp", "from", "recipient", "conversation",
                         "attachments", "entities", "channelData", "value", "replyToId", "serviceUrl", "membersAdded",
                         "suggestedActions", "importance", "expiration", "textHighlights", "unknownKey"])
_values = _json | st.sampled_from(["2026-11-02T09:00:00.1234567Z", "2026-11-02T09:00:00+01:00", "bad date"]) | (
    st.fixed_dictionaries({"id": st.text(max_size=3)}, optional={"name": _json, "role": _json, "x": _json})) | (
    st.lists(st.fixed_dictionaries({"contentType": st.just("text/plain")}, optional={"content": _json}),
             max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=8))
def test_any_json_reads_as_msrest_reads_it_or_fails_as_it_fails(data: dict[str, Any]) -> None:
    try:
        slow = Activity().deserialize(data)
    except Exception as refused:
        with pytest.raises(type(refused)):
            from_wire(Activity, data)
        return
    assert from_wire(Activity, data) == slow
