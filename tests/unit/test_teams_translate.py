"""Teams' recorded activities become neutral events, and every Message and Form renders as a card Teams accepts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from botbuilder.schema import Activity

from adapters import payloads
from adapters.teams import translate
from conversations.events import ActionTaken, Actor, Command, FormSubmitted, Installed, MessageRef, Unreachable
from conversations.messages import Button, Choice, Fact, Field, Form, Message
from conversations.profiles import signup_form, validate_profile
from conversations.settings import ProgramSettings
from tests.official_schemas import schema_path as official_schema

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "tests" / "payloads" / "teams"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
MEGAN = Actor("teams", TENANT, "6be4c67b-2b57-4d0e-9b0a-2e1d3c5a8f01")
NAMES = ("message_personal", "message_channel_mention", "message_card_submit", "conversation_update_bot_added",
         "installation_update_add", "installation_update_remove")


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def program_settings() -> ProgramSettings:
    """The project's own app.yaml program section, with ${VAR:-default} taken at its default."""
    program = yaml.safe_load((ROOT / "app.yaml").read_text(encoding="utf-8"))["program"]

    def expand(node: Any) -> Any:
        if isinstance(node, str):
            return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", node)
        if isinstance(node, dict):
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return ProgramSettings.model_validate(expand(program))


# ---------------------------------------------------------------------------
# What Teams would accept: the official Adaptive Card 1.5 schema, and the size limit


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft6Validator:
    schema = json.loads(official_schema("adaptive-card-1.5.json").read_text(encoding="utf-8"))
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def assert_teams_accepts_card(card: dict[str, Any]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(card)]
    assert not errors, errors
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5" and card["body"]
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert translate.card_bytes(card) <= translate.MAX_CARD_BYTES
    assert len(card.get("actions", [])) <= 6
    for node in _walk(card):
        if node.get("type") == "ActionSet":
            assert 1 <= len(node["actions"]) <= 6
        if node.get("type") == "TextBlock":
            assert node["text"] and node["wrap"] is True
        if node.get("type") == "Action.Submit":
            assert node["title"].strip() and len(node["title"]) <= 50 and isinstance(node["data"], dict)
        if node.get("type") == "Input.ChoiceSet" and "value" in node:
            allowed = {c["value"] for c in node["choices"]}
            assert set(node["value"].split(",") if node.get("isMultiSelect") else [node["value"]]) <= allowed


def assert_teams_accepts_activity(activity: dict[str, Any]) -> None:
    assert activity["type"] == "message"
    Activity().deserialize(activity)  # the SDK reads it
    if "attachments" not in activity:
        assert activity["textFormat"] == "plain" and activity["text"]
        return
    (attachment,) = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert_teams_accepts_card(attachment["content"])


def card(message: Message) -> dict[str, Any]:
    out = translate.message_card(message)
    assert_teams_accepts_card(out)
    return out


def texts(card_: dict[str, Any]) -> list[str]:
    return [b["text"] for b in card_["body"] if b["type"] == "TextBlock"]


def signup(**kwargs: Any) -> Form:
    return signup_form(program_settings(), **kwargs)


def form(form_: Form, **kwargs: Any) -> dict[str, Any]:
    out = translate.form_card(form_, **kwargs)
    assert_teams_accepts_card(out)
    assert_teams_accepts_activity(translate.form_activity(form_, **kwargs))
    return out


def inputs(card_: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["id"]: b for b in card_["body"] if b["type"].startswith("Input.")}


# ---------------------------------------------------------------------------
# Activities -> events


@pytest.mark.parametrize("name", NAMES)
def test_every_recorded_activity_is_real_shaped_and_survives_the_sdk(name: str) -> None:
    activity = payload(name)
    assert activity["channelId"] == "msteams" and activity["serviceUrl"] == "https://smba.trafficmanager.net/emea/"
    assert activity["from"]["id"].startswith("29:1") and activity["recipient"]["id"].startswith("28:")
    assert activity["channelData"]["tenant"]["id"] == activity["conversation"]["tenantId"] == TENANT
    sdk = Activity().deserialize(activity).serialize()  # what the listener hands the translator
    assert translate.to_event(sdk) == translate.to_event(activity)


def test_a_personal_message_is_a_command() -> None:
    activity = payload("message_personal")
    assert translate.is_personal(activity)
    assert translate.to_event(activity) == Command(MEGAN, "status")


def test_a_channel_mention_of_the_bot_is_not_part_of_the_command() -> None:
    activity = payload("message_channel_mention")
    assert not translate.is_personal(activity)
    assert translate.to_event(activity) == Command(MEGAN, "status")


@pytest.mark.parametrize(("text", "name", "args"), [
    ("<p><at>mentorbot</at>&nbsp;cohort open &quot;Spring 27&quot;</p>", "cohort", ("open", "Spring 27")),
    ("/mentor join", "join", ()),
    ("/MENTOR   Status ", "status", ()),
    ("<at>Mentor Bot</at> /mentor leave", "leave", ()),
    ("/mentorship", "/mentorship", ()),  # only the whole command word is dropped
    ("<at>mentorbot</at>", "help", ()),
    ("<div>pause&nbsp;2</div>\n", "pause", ("2",)),
])
def test_command_text_drops_mentions_html_and_the_command_word(text: str, name: str, args: tuple[str, ...]) -> None:
    activity = {**payload("message_channel_mention"), "text": text}
    assert translate.to_event(activity) == Command(MEGAN, name, args)


def test_the_command_word_is_the_programs() -> None:
    activity = {**payload("message_personal"), "text": "/buddy join"}
    assert translate.to_event(activity, command="/buddy") == Command(MEGAN, "join")


def test_a_message_without_text_is_nothing_for_the_engine() -> None:
    assert translate.to_event({**payload("message_personal"), "text": "  "}) is None
    assert translate.to_event({k: v for k, v in payload("message_personal").items() if k != "text"}) is None


def test_a_card_submit_is_a_filled_form_naming_the_card_it_came_from() -> None:
    event = translate.to_event(payload("message_card_submit"))
    assert event == FormSubmitted(
        actor=MEGAN,
        form="signup",
        values={
            "name": "Megan <b>Bowen</b>",  # what the person typed: escaping is for output
            "role": "mentee", "level": "L8 Director", "department": "R&D", "time_zone": "Europe/Paris",
            "working_days": ("mon", "tue", "thu"), "working_hours": "09:00-17:00",
            "topics_teach": (),  # left empty, so Teams left it out
            "topics_learn": ("GenAI", "Prompting & AI assistants"), "languages": ("English", "French"),
            "goals": "Learn how my team uses AI.\nAnd TikTok.", "manager": "", "email": "",
        },
        context="cohort=spring-27",
        message_ref=MessageRef(f"teams:{TENANT}:{MEGAN.user_id}:1762157900324"),
    )


def test_a_submitted_signup_card_is_a_valid_profile() -> None:
    event = translate.to_event(payload("message_card_submit"))
    assert isinstance(event, FormSubmitted)
    profile = validate_profile(event.values, program_settings())
    assert not isinstance(profile, dict), profile
    assert profile.working_days == ("mon", "tue", "thu") and profile.languages == ("English", "French")


def test_a_button_click_is_an_action_on_the_card_it_came_from() -> None:
    activity = {**payload("message_card_submit"), "value": {"mb_action": "checkin.met", "mb_value": "ck_42"}}
    assert translate.to_event(activity) == ActionTaken(
        MEGAN, "checkin.met", "ck_42", MessageRef(f"teams:{TENANT}:{MEGAN.user_id}:1762157900324"))


def test_a_click_without_reply_to_id_has_no_message_ref() -> None:
    activity = {k: v for k, v in payload("message_card_submit").items() if k not in ("replyToId", "channelData")}
    activity["conversation"] = {**activity["conversation"]}
    activity["value"] = {"mb_action": "profile.edit"}
    assert translate.to_event(activity) == ActionTaken(MEGAN, "profile.edit", "", None)


def test_a_submit_from_a_card_that_is_not_ours_is_ignored() -> None:
    assert translate.to_event({**payload("message_card_submit"), "value": {"action": "x"}}) is None


def test_numbers_and_toggles_come_back_as_text() -> None:
    activity = {**payload("message_card_submit"), "value": {"mb_form": "f", "sessions": 2, "ok": True, "x": {}}}
    event = translate.to_event(activity)
    assert isinstance(event, FormSubmitted)
    assert event.values == {"sessions": "2", "ok": "true"} and event.context == ""


def test_adding_the_bot_to_a_personal_chat_installs_it_for_that_person() -> None:
    assert translate.to_event(payload("conversation_update_bot_added")) == Installed(MEGAN)


def test_someone_else_joining_a_team_is_nothing_for_the_engine() -> None:
    activity = {**payload("conversation_update_bot_added"), "membersAdded": [{"id": "29:1other"}],
                "conversation": {"conversationType": "channel", "tenantId": TENANT, "id": "19:x@thread.tacv2"}}
    assert translate.to_event(activity) is None
    assert translate.to_event({**activity, "membersAdded": []}) is None


@pytest.mark.parametrize("action", ["add", "add-upgrade"])
def test_an_installation_is_installed(action: str) -> None:
    assert translate.to_event({**payload("installation_update_add"), "action": action}) == Installed(MEGAN)


@pytest.mark.parametrize("action", ["remove", "remove-upgrade"])
def test_an_uninstall_makes_the_person_unreachable(action: str) -> None:
    activity = {**payload("installation_update_remove"), "action": action}
    assert translate.to_event(activity) == Unreachable(MEGAN, "uninstalled")


def test_removing_the_app_from_a_team_does_not_make_the_remover_unreachable() -> None:
    activity = {**payload("installation_update_remove"),
                "conversation": {"conversationType": "channel", "tenantId": TENANT, "id": "19:x@thread.tacv2"}}
    assert translate.to_event(activity) is None


def test_other_activities_are_nothing_for_the_engine() -> None:
    for kind in ("typing", "messageReaction", "invoke", "messageUpdate"):
        assert translate.to_event({**payload("message_personal"), "type": kind}) is None
    assert translate.to_event({**payload("installation_update_add"), "action": "something-new"}) is None


def test_the_tenant_comes_from_channel_data_when_the_conversation_lacks_it() -> None:
    activity = payload("message_personal")
    activity["conversation"] = {"conversationType": "personal", "id": "a:1x"}
    assert translate.tenant_of(activity) == TENANT
    with pytest.raises(ValueError, match="no tenant id"):
        translate.tenant_of({**activity, "channelData": {}})


def test_the_teams_id_stands_in_when_there_is_no_aad_object_id() -> None:
    activity = {**payload("message_personal"), "from": {"id": "29:1guest", "name": "Guest"}}
    assert translate.actor_of(activity) == Actor("teams", TENANT, "29:1guest")
    with pytest.raises(ValueError, match="no user id"):
        translate.actor_of({**activity, "from": {}})


# ---------------------------------------------------------------------------
# Text


@pytest.mark.parametrize(("raw", "escaped"), [
    ("**bold** _it_ ~~gone~~", r"\*\*bold\*\* \_it\_ \~\~gone\~\~"),
    ("[click](https://evil.example)", r"\[click\](https://evil.example)"),
    ("# Big\n> quote", "\\# Big\n\\> quote"),
    ("- item\n+ item\n  1. first\n2) second", "\\- item\n\\+ item\n  1\\. first\n2\\) second"),
    ("a - b, 1.5 and 3. x", "a - b, 1.5 and 3. x"),  # markers only count at the start of a line
    ("`code` <at>x</at> back\\slash", r"\`code\` \<at\>x\</at\> back\\slash"),
])
def test_escaping_shows_user_text_literally(raw: str, escaped: str) -> None:
    assert translate.escape_markdown(raw) == escaped


def test_truncate_cuts_with_an_ellipsis_only_when_needed() -> None:
    assert payloads.truncate("short", 5) == "short"
    assert payloads.truncate("longer text", 8) == "longer…"
    assert payloads.truncate("abc", 0) == ""


def test_card_bytes_counts_compact_utf8() -> None:
    assert translate.card_bytes({"a": "é"}) == len('{"a":"é"}'.encode()) == 10


# ---------------------------------------------------------------------------
# Message -> Adaptive Card


def test_a_short_message_has_a_headline_sections_facts_and_buttons() -> None:
    message = Message("Your profile", ("Type `status` to see your pair.",), facts=(Fact("Role", "mentor"),),
                      buttons=(Button("Edit", "profile.edit"), Button("Leave", "leave.ask", "p1", "danger"),
                               Button("Save", "profile.save", style="primary")))
    out = card(message)
    headline, section, facts = out["body"]
    assert headline == {"type": "TextBlock", "text": "Your profile", "wrap": True, "weight": "Bolder", "size": "Medium"}
    assert section == {"type": "TextBlock", "text": "Type **status** to see your pair.", "wrap": True}
    assert facts == {"type": "FactSet", "facts": [{"title": "Role", "value": "mentor"}]}
    edit, leave, save = out["actions"]
    assert edit == {"type": "Action.Submit", "title": "Edit", "data": {"mb_action": "profile.edit", "mb_value": ""}}
    assert (leave["style"], leave["data"]) == ("destructive", {"mb_action": "leave.ask", "mb_value": "p1"})
    assert save["style"] == "positive"


def test_a_click_on_a_rendered_button_comes_back_as_its_action() -> None:
    out = card(Message("Met?", buttons=(Button("Yes", "checkin.met", "ck_1"),)))
    activity = {**payload("message_card_submit"), "value": out["actions"][0]["data"]}
    event = translate.to_event(activity)
    assert isinstance(event, ActionTaken) and (event.action, event.value) == ("checkin.met", "ck_1")


def test_user_text_cannot_format_link_or_list() -> None:
    out = card(Message("Hi **all**", ("Goals: [click](https://evil.example) & <b>more</b>\n- not a list",),
                       facts=(Fact("Name", "_Ana_"),)))
    assert texts(out) == ["Hi \\*\\*all\\*\\*",
                          "Goals: \\[click\\](https://evil.example) & \\<b\\>more\\</b\\>\n\n\\- not a list"]
    assert out["body"][-1]["facts"] == [{"title": "Name", "value": "\\_Ana\\_"}]


def test_line_breaks_survive_teams_markdown() -> None:
    out = card(Message("Report", ("one\ntwo\n\n\nthree",)))
    assert texts(out)[1] == "one\n\ntwo\n\nthree"


def test_a_long_fact_value_is_cut_with_an_ellipsis() -> None:
    out = card(Message("Goals", facts=(Fact("Goals", "g*" * 3000), Fact("", " "))))
    first, second = out["body"][-1]["facts"]
    assert len(first["value"]) <= 1000 and first["value"].endswith("…") and first["value"].startswith("g\\*")
    assert not first["value"][:-1].endswith("\\")  # never half an escape
    assert second == {"title": "-", "value": "-"}


def test_an_overlong_section_is_cut_with_an_ellipsis() -> None:
    out = card(Message("Blob", ("y" * 7000,)))
    assert texts(out)[1] == "y" * 3999 + "…"


def test_six_buttons_fit_the_action_bar_and_more_go_in_rows_of_six() -> None:
    buttons = tuple(Button(f"Pick {i}", "admin.pick", f"p{i}") for i in range(20))
    out = card(Message("Pick one", buttons=buttons))
    assert [a["data"]["mb_value"] for a in out["actions"]] == [f"p{i}" for i in range(6)]
    rows = [b for b in out["body"] if b["type"] == "ActionSet"]
    assert [len(r["actions"]) for r in rows] == [6, 6, 2]
    assert rows[-1]["actions"][-1]["data"] == {"mb_action": "admin.pick", "mb_value": "p19"}


def test_a_long_button_label_is_cut_and_an_oversize_value_is_a_bug() -> None:
    out = card(Message("Long", buttons=(Button("b" * 80, "x.y"),)))
    assert len(out["actions"][0]["title"]) == 50 and out["actions"][0]["title"].endswith("…")
    with pytest.raises(ValueError, match="1000"):
        translate.message_card(Message("x", buttons=(Button("Go", "go", "v" * 1001),)))
    with pytest.raises(ValueError, match="255"):
        translate.message_card(Message("x", buttons=(Button("Go", "a" * 256),)))


def test_a_huge_message_stays_under_the_limit_with_a_note_and_keeps_its_buttons() -> None:
    message = Message("Many", tuple(f"Paragraph {i} " + "x" * 3000 for i in range(40)),
                      facts=tuple(Fact(f"Label {i}", "v" * 900) for i in range(100)),
                      buttons=tuple(Button(f"B{i}", "admin.ok", str(i)) for i in range(8)))
    out = card(message)
    assert translate.card_bytes(out) <= translate.MAX_CARD_BYTES
    assert out["body"][-2]["text"].startswith("…and more (")
    assert [b["type"] for b in out["body"][-1:]] == ["ActionSet"] and len(out["actions"]) == 6
    shown = len([b for b in out["body"] if b["type"] == "TextBlock"]) - 2  # headline and note
    assert out["body"][-2]["text"] == f"…and more ({140 - shown} not shown)"


def test_facts_are_dropped_from_the_end_first() -> None:
    facts = tuple(Fact(f"Label {i}", "é" * 900) for i in range(40))  # two bytes a character
    out = card(Message("Facts", ("Intro",), facts=facts))
    (fact_set,) = [b for b in out["body"] if b["type"] == "FactSet"]
    assert texts(out)[1] == "Intro" and fact_set["facts"][0]["title"] == "Label 0"
    assert texts(out)[-1] == f"…and more ({40 - len(fact_set['facts'])} not shown)"


def test_escapes_and_multibyte_text_count_toward_the_size() -> None:
    out = card(Message("*" * 2000, ("🙂" * 5000, "\\" * 5000, "<" * 5000) * 10))
    assert translate.card_bytes(out) <= translate.MAX_CARD_BYTES - 1000
    assert len(out["body"][0]["text"]) <= 500


def test_an_empty_message_is_still_a_card() -> None:
    assert card(Message(""))["body"] == [{"type": "TextBlock", "text": "…", "wrap": True}]


def test_one_plain_line_goes_as_text_anything_richer_as_a_card() -> None:
    plain = translate.message_activity(Message("You are signed up *for real*."))
    assert plain == {"type": "message", "text": "You are signed up *for real*.", "textFormat": "plain"}
    assert_teams_accepts_activity(plain)
    for message in (Message("a\nb"), Message("a", ("b",)), Message("a", facts=(Fact("x", "y"),)),
                    Message("a", buttons=(Button("Go", "go"),))):
        activity = translate.message_activity(message)
        assert_teams_accepts_activity(activity)
        assert activity["attachments"] == [translate.card_attachment(translate.message_card(message))]


def test_a_card_attachment_names_the_adaptive_card_type() -> None:
    assert translate.card_attachment({"x": 1}) == {"contentType": "application/vnd.microsoft.card.adaptive",
                                                   "content": {"x": 1}}


# ---------------------------------------------------------------------------
# Form -> Adaptive Card


def test_the_real_signup_card_fits_with_a_type_ahead_of_canonical_zones() -> None:
    out = form(signup(tz_hint="Europe/Paris"))
    assert translate.card_bytes(out) <= translate.MAX_CARD_BYTES - 1000
    zone = inputs(out)["time_zone"]
    assert (zone["type"], zone["style"], zone["value"]) == ("Input.ChoiceSet", "compact", "Europe/Paris")
    values = [c["value"] for c in zone["choices"]]
    assert all(c["title"] == c["value"] for c in zone["choices"])
    assert {"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Europe/Kyiv"} <= set(values)
    for legacy in ("US/Eastern", "Etc/GMT+5", "Asia/Calcutta", "Europe/Kiev", "GMT", "EST5EDT"):
        assert legacy not in values
    assert not any(v.startswith(("posix/", "right/")) for v in values)


def test_the_signup_card_renders_each_kind_of_field() -> None:
    out = form(signup())
    assert texts(out)[:2] == ["Join reverse mentoring", out["body"][1]["text"]]
    by_id = inputs(out)
    assert list(by_id) == [f.name for f in signup().fields]
    name = by_id["name"]
    assert (name["type"], name["label"], name["isRequired"], name["maxLength"]) == ("Input.Text", "Your name", True, 80)
    assert name["errorMessage"] == "“Your name” is required."
    assert by_id["goals"]["isMultiline"] is True and by_id["goals"]["isRequired"] is False
    assert by_id["role"]["style"] == "compact" and by_id["role"]["choices"][0] == {
        "title": "Mentor (I teach a senior leader)", "value": "mentor"}
    days = by_id["working_days"]
    assert (days["isMultiSelect"], days["style"], days["value"]) == (True, "expanded", "mon,tue,wed,thu,fri")
    assert (by_id["topics_teach"]["style"], by_id["languages"]["style"]) == ("compact", "expanded")
    assert by_id["working_hours"]["placeholder"] == "Local time, like 09:00-17:00"
    assert by_id["topics_teach"]["label"] == "Topics you can teach (Mentors: pick at least one)"
    (submit,) = out["actions"]
    assert submit == {"type": "Action.Submit", "title": "Join", "style": "positive",
                      "data": {"mb_form": "signup", "mb_context": "",
                               "mb_multi": "working_days,topics_teach,topics_learn,languages"}}


def test_submitted_values_stay_and_each_error_shows_under_its_input() -> None:
    submitted = translate.to_event(payload("message_card_submit"))
    assert isinstance(submitted, FormSubmitted)
    values = {**submitted.values, "time_zone": "Mars/Olympus", "working_hours": "9 to 5"}
    errors = validate_profile(values, program_settings())
    assert isinstance(errors, dict) and {"time_zone", "working_hours"} <= set(errors)
    errors["not_a_field"] = "Something *else* went wrong."
    out = form(signup(), values=values, errors=errors)
    body = out["body"]
    by_id = inputs(out)
    assert by_id["name"]["value"] == "Megan <b>Bowen</b>"  # an input value is not markdown: kept as typed
    assert by_id["topics_learn"]["value"] == "GenAI,Prompting & AI assistants"
    assert by_id["working_hours"]["value"] == "9 to 5"
    assert by_id["time_zone"]["value"] == "Mars/Olympus" and by_id["time_zone"]["style"] == "compact"
    assert by_id["time_zone"]["choices"][0] == {"title": "Mars/Olympus", "value": "Mars/Olympus"}
    for name in ("time_zone", "working_hours"):
        after = body[body.index(by_id[name]) + 1]
        assert after["type"] == "TextBlock" and after["color"] == "Attention" and after["isSubtle"] is False
        assert after["text"] == translate.escape_markdown(errors[name])
    assert body[2]["text"] == "Something \\*else\\* went wrong."  # an error for no field shows after the intro


def test_a_legacy_zone_someone_has_stays_selectable() -> None:
    zone = inputs(form(signup(tz_hint="US/Eastern")))["time_zone"]
    assert zone["value"] == "US/Eastern" and zone["choices"][0]["value"] == "US/Eastern"


def test_a_submitted_form_card_round_trips_through_to_event() -> None:
    out = form(signup(tz_hint="Europe/Paris"))
    data = {**out["actions"][0]["data"], "name": "Ana", "working_days": "mon,fri", "topics_teach": "GenAI"}
    event = translate.to_event({**payload("message_card_submit"), "value": data})
    assert isinstance(event, FormSubmitted) and event.form == "signup"
    assert event.values["working_days"] == ("mon", "fri") and event.values["topics_teach"] == ("GenAI",)
    assert event.values["name"] == "Ana" and event.values["languages"] == ()


def test_other_field_kinds_render_as_the_matching_inputs() -> None:
    many = tuple(Choice(f"c{i}", f"Choice {i}") for i in range(8))
    test_form = Form("prefs", "Preferences", (
        Field("count", "How many", "number", initial="3", hint="A whole number"),
        Field("ratio", "Ratio", "number", required=False, initial="0.5"),
        Field("odd", "Odd", "number", required=False, initial="lots"),
        Field("many", "Many", "multi_choice", choices=many, initial=("c1", "c7", "gone")),
        Field("free", "Free", "choice"),  # nothing to choose from: typed instead
        Field("pick", "Pick", "choice", choices=many[:2], initial="c9"),
    ), context="x=1")
    by_id = inputs(form(test_form))
    assert (by_id["count"]["type"], by_id["count"]["value"], by_id["count"]["placeholder"]) == (
        "Input.Number", 3, "A whole number")
    assert by_id["ratio"]["value"] == 0.5 and "value" not in by_id["odd"]
    assert (by_id["many"]["style"], by_id["many"]["value"]) == ("compact", "c1,c7")
    assert by_id["free"]["type"] == "Input.Text"
    assert "value" not in by_id["pick"]  # a value not among the choices is not selected
    assert translate.form_card(test_form)["actions"][0]["data"]["mb_multi"] == "many"


def test_a_choice_value_with_a_comma_is_a_bug() -> None:
    bad = Form("f", "F", (Field("x", "X", "multi_choice", choices=(Choice("a,b", "A and B"),)),))
    with pytest.raises(ValueError, match="comma"):
        translate.form_card(bad)


def test_huge_values_and_errors_stay_under_the_limit() -> None:
    fields = tuple(Field(f"f{i}", f"Field {i}", "long_text") for i in range(12))
    huge = Form("big", "Big", fields, intro="intro " * 2000)
    values = {f.name: "v" * 20_000 for f in fields}
    errors = {f.name: "e" * 5000 for f in fields}
    out = form(huge, values=values, errors=errors)
    assert translate.card_bytes(out) <= translate.MAX_CARD_BYTES
    assert all(len(i["value"]) == 500 and i["value"].endswith("…") for i in inputs(out).values())


def test_the_zone_list_gives_way_to_a_text_input_when_the_form_is_too_big() -> None:
    fields = (*signup().fields, *(Field(f"n{i}", "Note", "long_text", required=False) for i in range(6)))
    crowded = Form("signup", "Join", fields)
    values = {f"n{i}": "x" * 1000 for i in range(6)}
    zone = inputs(form(crowded, values={**values, "time_zone": "Europe/Paris"}))["time_zone"]
    assert zone["type"] == "Input.Text" and zone["value"] == "Europe/Paris"


def test_a_form_that_cannot_fit_at_all_is_a_bug() -> None:
    fields = tuple(Field(f"f{i}", "L" * 200, "choice", choices=tuple(Choice(f"c{j}", "t" * 150) for j in range(50)))
                   for i in range(10))
    with pytest.raises(ValueError, match="does not fit"):
        translate.form_card(Form("big", "Big", fields))


def test_the_signup_card_validates_exactly_as_sent() -> None:
    out = translate.form_card(signup())
    assert validator().is_valid(out)
    zone = next(n for n in _walk(out) if n.get("id") == "time_zone")
    assert zone["style"] == "compact"  # "filtered" would fail the published 1.5 schema


def test_the_schema_check_catches_what_teams_would_refuse() -> None:
    good = translate.message_card(Message("Hi", buttons=(Button("Go", "go", style="primary"),)))
    assert validator().is_valid(good)
    for broken in ({**good, "body": [{"type": "TextBlock", "text": "x", "colour": "red"}]},
                   {**good, "actions": [{**good["actions"][0], "style": "primary"}]},
                   {**good, "body": [{"type": "Input.Text", "label": "no id"}]}):
        assert not validator().is_valid(broken)
