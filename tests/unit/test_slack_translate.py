"""Slack's recorded payloads become neutral events, and every Message and Form renders as Block Kit Slack accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.blocks.block_elements import BlockElement
from slack_sdk.models.views import View

from adapters import payloads
from adapters.slack import translate
from conversations.events import ActionTaken, Actor, Command, FormSubmitted, MessageRef
from conversations.messages import Button, Choice, Fact, Field, Form, Message
from conversations.model import Profile
from conversations.profiles import profile_facts, signup_form, time_zones
from conversations.settings import ProgramSettings

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "slack"
STEVE = Actor("slack", "T0001", "U2147483697")


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    return data


# ---------------------------------------------------------------------------
# What Slack would accept: slack_sdk's validators plus the limits they leave out


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    found = [block[key] for key in ("accessory", "element") if isinstance(block.get(key), dict)]
    if block.get("type") == "actions":
        found.extend(block["elements"])
    return found


def _options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    if "option_groups" in element:
        assert len(element["option_groups"]) <= 100
        for group in element["option_groups"]:
            assert 1 <= len(group["label"]["text"]) <= 75
            assert 1 <= len(group["options"]) <= 100
        return [o for g in element["option_groups"] for o in g["options"]]
    options: list[dict[str, Any]] = element.get("options", [])
    return options


def assert_slack_accepts_blocks(blocks: list[dict[str, Any]], limit: int) -> None:
    assert 1 <= len(blocks) <= limit
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
        for element in _elements(block):
            parsed_element = BlockElement.parse(element)
            assert parsed_element is not None, element
            parsed_element.validate_json()
        kind = block["type"]
        if kind == "section":
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= 3000 and block["text"]["text"].strip()
            for field in block.get("fields", []):
                assert 1 <= len(field["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        if kind == "header":
            assert 1 <= len(block["text"]["text"]) <= 150
        if kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
        if kind == "input":
            assert len(block["block_id"]) <= 255 and len(block["label"]["text"]) <= 2000
        for node in _walk(block):
            if node.get("type") == "button":
                assert 1 <= len(node["text"]["text"]) <= 75
                assert len(node.get("value", "")) <= 2000 and len(node["action_id"]) <= 255
                assert node.get("style") in (None, "primary", "danger")
            if node.get("type") == "checkboxes":
                assert 1 <= len(node["options"]) <= 10
            if node.get("type") == "plain_text_input" and "max_length" in node:
                assert 1 <= node["max_length"] <= 3000
                assert len(node.get("initial_value", "")) <= node["max_length"]
            if node.get("type") in ("static_select", "multi_static_select", "checkboxes"):
                options = _options_of(node)
                assert options and len(options) <= 100 * 100
                assert "option_groups" in node or len(options) <= 100
                for option in options:
                    assert 1 <= len(option["text"]["text"]) <= 75 and 1 <= len(option["value"]) <= 150
                allowed = [json.dumps(o, sort_keys=True) for o in options]
                for chosen in [node["initial_option"]] if "initial_option" in node else node.get("initial_options", []):
                    assert json.dumps(chosen, sort_keys=True) in allowed  # Slack wants an exact copy


def assert_slack_accepts_message(payload_: dict[str, Any]) -> None:
    assert 1 <= len(payload_["text"]) <= 300
    assert_slack_accepts_blocks(payload_["blocks"], 50)


def assert_slack_accepts_view(view: dict[str, Any]) -> None:
    View(**view).validate_json()
    if view["type"] == "modal":
        assert 1 <= len(view["title"]["text"]) <= 24 and 1 <= len(view["submit"]["text"]) <= 24
        assert len(view.get("private_metadata", "")) <= 3000
    assert_slack_accepts_blocks(view["blocks"], 100)


def rendered(message: Message) -> dict[str, Any]:
    out = translate.message_payload(message)
    assert_slack_accepts_message(out)
    return out


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


# ---------------------------------------------------------------------------
# Payloads -> events


def test_a_slash_command_becomes_a_command_with_its_trigger() -> None:
    body = payload("slash_command")
    assert translate.to_command(body) == Command(STEVE, "join", (), trigger=body["trigger_id"])


def test_a_slash_command_keeps_quoted_words_and_mentions_together() -> None:
    command = translate.to_command(payload("slash_command_quoted"))
    assert (command.name, command.args) == ("cohort", ("open", "Spring 27", "<@U0ADMIN2|dana>"))
    assert translate.mention_user_id(command.args[-1]) == "U0ADMIN2"


def test_an_empty_slash_command_asks_for_help() -> None:
    body = {**payload("slash_command"), "text": "   "}
    assert translate.to_command(body).name == "help"


def test_a_button_click_in_a_message_names_the_action_and_the_message() -> None:
    body = payload("block_actions_message")
    event = translate.to_action_taken(body, body["actions"][0])
    assert event == ActionTaken(STEVE, "checkin.met", "ck_42", MessageRef("msg:T0001:D2147483705:1700000000.000200"),
                                trigger=body["trigger_id"])


def test_a_button_click_in_the_home_tab_refers_to_the_view() -> None:
    body = payload("block_actions_home")
    event = translate.to_action_taken(body, body["actions"][0])
    assert (event.actor, event.action, event.value) == (STEVE, "profile.edit", "")
    assert event.message_ref == MessageRef("view:V0HOME01")
    assert event.trigger == body["trigger_id"]


def test_only_the_last_separator_is_the_button_index() -> None:
    body = payload("block_actions_message")
    action = {**body["actions"][0], "action_id": "admin.pick|T1|3"}
    assert translate.to_action_taken(body, action).action == "admin.pick|T1"


def test_a_select_in_a_message_counts_its_choice_as_the_value() -> None:
    body = payload("block_actions_message")
    action = {"type": "static_select", "action_id": "pause.weeks|0", "block_id": "x",
              "selected_option": {"text": {"type": "plain_text", "text": "2 weeks"}, "value": "2"}}
    assert translate.to_action_taken(body, action).value == "2"


def test_a_modal_submission_reads_every_kind_of_input_by_field_name() -> None:
    event = translate.to_form_submitted(payload("view_submission"))
    assert event == FormSubmitted(
        actor=STEVE,
        form="signup",
        values={
            "name": "Steve <Ops> & Co",  # what the person typed, not escaped: escaping is for output
            "role": "mentor",
            "time_zone": "America/New_York",
            "working_days": ("mon", "wed"),
            "topics_teach": ("AI tools", "Accessibility"),
            "goals": "",  # Slack sends null for an empty optional input
            "sessions": "2",
        },
        context="cohort=spring-27",
    )


def test_an_org_wide_install_without_a_team_uses_the_persons_own_team() -> None:
    event = translate.to_form_submitted(payload("view_submission_org_install"))
    assert event.actor == Actor("slack", "T0002", "W0000042")
    assert event.values == {"name": "", "role": ""}  # nothing chosen in the select: null selected_option
    assert event.context == ""


def test_events_name_the_person_and_the_workspace() -> None:
    assert translate.actor_of(payload("event_app_home_opened")) == STEVE
    assert translate.actor_of(payload("event_message_im")) == STEVE


def test_workspace_wide_events_have_a_workspace_but_no_person() -> None:
    for name in ("event_app_uninstalled", "event_tokens_revoked"):
        body = payload(name)
        assert translate.workspace_of(body) == "T0001"
        with pytest.raises(ValueError, match="no user id"):
            translate.actor_of(body)


def test_a_token_revocation_lists_each_revoked_user_once() -> None:
    assert translate.revoked_user_ids(payload("event_tokens_revoked")) == ("U2147483697", "U0BOT0001")
    assert translate.revoked_user_ids(payload("event_app_uninstalled")) == ()


def test_a_url_verification_is_not_mistaken_for_anyones_event() -> None:
    body = payload("url_verification")
    assert body["type"] == "url_verification" and body["challenge"]
    with pytest.raises(ValueError, match="no team id"):
        translate.workspace_of(body)


def test_the_time_zone_typeahead_answers_the_recorded_suggestion() -> None:
    body = payload("block_suggestion_time_zone")
    assert (body["action_id"], body["block_id"]) == ("time_zone", "time_zone")
    answer = translate.time_zone_options(body["value"], time_zones())
    assert answer["options"][0] == {"text": {"type": "plain_text", "text": "America/New York", "emoji": True},
                                    "value": "America/New_York"}


# ---------------------------------------------------------------------------
# Text


def test_escaping_turns_user_text_into_entities() -> None:
    assert translate.escape_mrkdwn("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert translate.escape_mrkdwn("&amp;") == "&amp;amp;"  # already-escaped text is shown as typed


@pytest.mark.parametrize(("text", "user_id"), [
    ("<@U123ABC|jane>", "U123ABC"), ("<@U123ABC>", "U123ABC"), (" <@W0000042> ", "W0000042"),
    ("@jane", None), ("U123ABC", None), ("<#C123|general>", None), ("<@U123ABC> hi", None), ("", None),
])
def test_a_mention_gives_its_user_id(text: str, user_id: str | None) -> None:
    assert translate.mention_user_id(text) == user_id


def test_truncate_cuts_with_an_ellipsis_only_when_needed() -> None:
    assert payloads.truncate("short", 5) == "short"
    assert payloads.truncate("longer text", 8) == "longer…"
    assert len(payloads.truncate("x" * 100, 75)) == 75
    assert payloads.truncate("abc", 0) == ""


# ---------------------------------------------------------------------------
# Message -> Block Kit


def test_a_short_message_has_a_header_sections_facts_and_buttons() -> None:
    message = Message("Your profile", ("Type `status` to see your pair.",), facts=(Fact("Role", "mentor"),),
                      buttons=(Button("Edit", "profile.edit"), Button("Leave", "leave.ask", "p1", "danger")))
    out = rendered(message)
    assert out["text"] == "Your profile"
    header, section, facts, actions = out["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Your profile", "emoji": True}}
    assert section["text"] == {"type": "mrkdwn", "text": "Type `status` to see your pair."}  # backticks stay code
    assert facts["fields"] == [{"type": "mrkdwn", "text": "*Role*\nmentor"}]
    edit, leave = actions["elements"]
    assert (edit["action_id"], "value" in edit, "style" in edit) == ("profile.edit|0", False, False)
    assert (leave["action_id"], leave["value"], leave["style"]) == ("leave.ask|1", "p1", "danger")


def test_user_text_cannot_ping_a_channel_or_inject_links() -> None:
    out = rendered(Message("Hi <!here>", ("Goals: <https://evil.example|click> & more\nsecond line",),
                           facts=(Fact("Name", "<@U999>"),)))
    assert out["text"] == "Hi &lt;!here&gt;"
    assert texts(out["blocks"]) == ["Goals: &lt;https://evil.example|click&gt; &amp; more\nsecond line"]
    assert out["blocks"][-1]["fields"][0]["text"] == "*Name*\n&lt;@U999&gt;"
    assert out["blocks"][0]["text"]["text"] == "Hi <!here>"  # a header is plain_text: shown literally


def test_a_headline_over_150_characters_becomes_a_bold_section() -> None:
    assert rendered(Message("h" * 150))["blocks"][0]["type"] == "header"
    out = rendered(Message("h" * 151))
    assert out["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn", "text": f"*{'h' * 151}*"}}
    assert len(out["text"]) == 151


def test_the_fallback_text_stays_short() -> None:
    out = rendered(Message("word " * 200))
    assert len(out["text"]) <= 300 and out["text"].endswith("…")
    out = rendered(Message("&" * 200))  # escaping triples the length; the cut counts the escaped text
    assert len(out["text"]) <= 300 and out["text"].startswith("&amp;") and out["text"].endswith("&amp;…")


def test_an_overlong_section_is_split_at_line_breaks_not_cut() -> None:
    paragraph = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # ~10,000 characters
    out = rendered(Message("Report", (paragraph,)))
    pieces = texts(out["blocks"])
    assert len(pieces) == 4 and all(len(p) <= 3000 for p in pieces)
    assert "\n".join(pieces) == paragraph  # nothing lost, every cut at a line break


def test_a_split_never_breaks_an_entity_apart() -> None:
    out = rendered(Message("Ampersands", ("&" * 2000 + "<" * 1000,)))  # 14,000 characters once escaped
    pieces = texts(out["blocks"])
    assert "".join(pieces) == translate.escape_mrkdwn("&" * 2000 + "<" * 1000)
    assert all(p.startswith("&") and p.endswith(";") for p in pieces)


def test_a_single_unbroken_word_longer_than_a_section_is_split_too() -> None:
    out = rendered(Message("Blob", ("y" * 7000,)))
    assert [len(p) for p in texts(out["blocks"])] == [3000, 3000, 1000]


def test_sixty_facts_fill_six_sections_of_ten_fields() -> None:
    facts = tuple(Fact(f"Label {i}", f"value {i}") for i in range(60))
    out = rendered(Message("Facts", facts=facts))
    sections = [b for b in out["blocks"] if "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10] * 6


def test_a_long_fact_value_is_cut_at_2000_characters_with_an_ellipsis() -> None:
    out = rendered(Message("Goals", facts=(Fact("Goals", "g&" * 3000),)))
    field = out["blocks"][-1]["fields"][0]["text"]
    assert len(field) <= 2000 and field.startswith("*Goals*\ng&amp;") and field.endswith("…")
    assert "&amp…" not in field and not field[:-1].endswith("&")


def test_thirty_buttons_need_two_actions_blocks_with_unique_ids() -> None:
    body = payload("block_actions_message")
    buttons = tuple(Button(f"Pick {i}", "admin.pick", f"p{i}") for i in range(30))
    out = rendered(Message("Pick one", buttons=buttons))
    actions = [b for b in out["blocks"] if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    elements = [e for a in actions for e in a["elements"]]
    assert len({e["action_id"] for e in elements}) == 30
    clicks = [translate.to_action_taken(body, {**e, "type": "button"}) for e in elements]
    assert {(c.action, c.value) for c in clicks} == {("admin.pick", f"p{i}") for i in range(30)}


def test_an_80_character_button_label_is_cut_to_75() -> None:
    out = rendered(Message("Long", buttons=(Button("b" * 80, "x.y"),)))
    text = out["blocks"][-1]["elements"][0]["text"]["text"]
    assert len(text) == 75 and text.endswith("…")


def test_a_button_value_or_action_slack_would_refuse_is_a_bug_not_a_cut() -> None:
    with pytest.raises(ValueError, match="2000"):
        translate.message_payload(Message("x", buttons=(Button("Go", "go", "v" * 2001),)))
    with pytest.raises(ValueError, match="255"):
        translate.message_payload(Message("x", buttons=(Button("Go", "a" * 254),)))


def test_seventy_sections_stop_at_fifty_blocks_with_a_note() -> None:
    out = rendered(Message("Many", tuple(f"Paragraph {i}" for i in range(70))))
    blocks = out["blocks"]
    assert len(blocks) == 50
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "…and more (22 not shown)"}]}
    assert texts(blocks)[-1] == "Paragraph 47"


def test_a_message_cut_at_fifty_blocks_keeps_its_buttons() -> None:
    message = Message("Many", tuple(f"Paragraph {i}" for i in range(70)), buttons=(Button("Approve all", "admin.ok"),))
    blocks = rendered(message)["blocks"]
    assert len(blocks) == 50
    assert [b["type"] for b in blocks[-2:]] == ["context", "actions"]
    assert blocks[-2]["elements"][0]["text"] == "…and more (23 not shown)"


def test_a_profile_as_facts_renders() -> None:
    profile = Profile(name="Ana <dev>", role="mentor", level="L3", department="R&D", time_zone="Europe/Paris",
                      working_days=("mon", "tue"), work_start="09:00", work_end="17:00", topics_teach=("GenAI",),
                      topics_learn=(), languages=("English",), goals="x" * 3000, manager="", email="")
    out = rendered(Message("Your profile", facts=profile_facts(profile)))
    fields = [f["text"] for b in out["blocks"] if "fields" in b for f in b["fields"]]
    assert "*Name*\nAna &lt;dev&gt;" in fields and "*Department*\nR&amp;D" in fields


# ---------------------------------------------------------------------------
# Form -> modal


def signup(**kwargs: Any) -> Form:
    return signup_form(ProgramSettings(topics=("GenAI", "Social media", "Gen Z workplace")), **kwargs)


def by_block(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_the_signup_form_is_a_modal_slack_accepts() -> None:
    view = translate.form_view(signup(name_hint="Steve"), defaults={"time_zone": "Europe/Paris"})
    assert_slack_accepts_view(view)
    assert (view["callback_id"], view["close"]["text"]) == ("signup", "Cancel")
    assert view["title"]["text"] == "Join reverse mentoring"  # 22 characters: fits Slack's 24
    inputs = by_block(view)
    assert list(inputs) == [f.name for f in signup().fields]
    assert all(b["element"]["action_id"] == name for name, b in inputs.items())
    assert inputs["name"]["element"] == {"type": "plain_text_input", "action_id": "name", "max_length": 80,
                                         "initial_value": "Steve"}
    assert inputs["role"]["element"]["type"] == "static_select" and "initial_option" not in inputs["role"]["element"]
    assert inputs["time_zone"]["element"]["initial_option"]["value"] == "Europe/Paris"
    assert inputs["time_zone"]["element"]["min_query_length"] == 2
    assert inputs["working_days"]["element"]["type"] == "checkboxes"
    assert [o["value"] for o in inputs["working_days"]["element"]["initial_options"]] == ["mon", "tue", "wed", "thu",
                                                                                          "fri"]
    assert inputs["goals"]["element"]["multiline"] is True and inputs["goals"]["optional"] is True
    assert inputs["time_zone"]["hint"]["text"].startswith("An IANA name")
    assert view["blocks"][0]["type"] == "section"  # the intro


def test_editing_a_profile_preselects_what_was_chosen() -> None:
    profile = Profile(name="Ana", role="mentee", level="L7", department="Sales", time_zone="America/New_York",
                      working_days=("tue", "thu"), work_start="08:00", work_end="16:00", topics_teach=(),
                      topics_learn=("GenAI", "Social media"), languages=("English",), goals="Learn", manager="",
                      email="")
    view = translate.form_view(signup(current=profile), defaults={"time_zone": "Europe/Paris"})
    assert_slack_accepts_view(view)
    inputs = by_block(view)
    assert inputs["role"]["element"]["initial_option"]["value"] == "mentee"
    assert inputs["level"]["element"]["initial_option"]["value"] == "L7"
    assert inputs["time_zone"]["element"]["initial_option"]["value"] == "America/New_York"  # the form wins
    assert [o["value"] for o in inputs["topics_learn"]["element"]["initial_options"]] == ["GenAI", "Social media"]
    assert "initial_options" not in inputs["topics_teach"]["element"]  # Slack refuses an empty list
    assert inputs["goals"]["element"]["initial_value"] == "Learn"


def test_the_rendered_modal_and_its_submission_agree_on_field_names() -> None:
    view = translate.form_view(signup())
    submitted = payload("view_submission")
    for block_id, elements in submitted["view"]["state"]["values"].items():
        if block_id in by_block(view):
            assert list(elements) == [by_block(view)[block_id]["element"]["action_id"]]


def test_120_choices_are_grouped_by_100() -> None:
    choices = tuple(Choice(f"c{i:03d}", f"Choice {i:03d}") for i in range(120))
    form = Form("pick", "Pick", (Field("one", "One", "choice", choices=choices, initial="c110"),
                                 Field("many", "Many", "multi_choice", choices=choices, initial=("c001", "c119"))))
    view = translate.form_view(form)
    assert_slack_accepts_view(view)
    one, many = by_block(view)["one"]["element"], by_block(view)["many"]["element"]
    assert [len(g["options"]) for g in one["option_groups"]] == [100, 20]
    assert one["option_groups"][1]["label"]["text"] == "Choice 100 – Choice 119"
    assert one["initial_option"]["value"] == "c110"
    assert many["type"] == "multi_static_select" and "options" not in many
    assert [o["value"] for o in many["initial_options"]] == ["c001", "c119"]


def test_checkboxes_up_to_ten_choices_then_a_multi_select() -> None:
    ten = tuple(Choice(str(i), f"Option {i}") for i in range(10))
    eleven = (*ten, Choice("10", "Option 10"))
    form = Form("f", "F", (Field("a", "A", "multi_choice", choices=ten),
                           Field("b", "B", "multi_choice", choices=eleven)))
    view = translate.form_view(form)
    assert_slack_accepts_view(view)
    assert by_block(view)["a"]["element"]["type"] == "checkboxes"
    assert by_block(view)["b"]["element"]["type"] == "multi_static_select"


def test_overlong_form_texts_are_cut_to_slacks_limits() -> None:
    long_label = "Choose " + "very " * 30 + "carefully"
    field = Field("kind", "L" * 2100, "choice", choices=(Choice("v" * 150, long_label), Choice("b", "B")),
                  hint="H" * 2100)
    form = Form("f", "A title far longer than twenty-four", (field, Field("txt", "Text", max_length=5000,
                initial="t" * 4000)), submit_label="Submit this form right now")
    view = translate.form_view(form)
    assert_slack_accepts_view(view)
    assert view["title"]["text"] == "A title far longer than…" and view["submit"]["text"] == "Submit this form right…"
    kind = by_block(view)["kind"]
    assert len(kind["label"]["text"]) == 2000 and len(kind["hint"]["text"]) == 2000
    assert len(kind["element"]["options"][0]["text"]["text"]) == 75
    txt = by_block(view)["txt"]["element"]
    assert txt["max_length"] == 3000 and len(txt["initial_value"]) == 3000


def test_form_values_slack_cannot_carry_are_refused_loudly() -> None:
    with pytest.raises(ValueError, match="150"):
        translate.form_view(Form("f", "F", (Field("a", "A", "choice", choices=(Choice("v" * 151, "V"),)),)))
    with pytest.raises(ValueError, match="3000"):
        translate.form_view(Form("f", "F", (Field("a", "A"),), context="c" * 3001))
    with pytest.raises(ValueError, match="100 blocks"):
        translate.form_view(Form("f", "F", tuple(Field(f"a{i}", "A") for i in range(101))))


def test_the_context_rides_along_as_private_metadata() -> None:
    view = translate.form_view(Form("f", "F", (Field("a", "A"),), context="c" * 3000))
    assert_slack_accepts_view(view)
    assert view["private_metadata"] == "c" * 3000


def test_a_number_field_is_a_whole_number_input() -> None:
    view = translate.form_view(Form("f", "F", (Field("n", "How many", "number", initial="3"),
                                               Field("m", "Bad", "number", initial="three", required=False))))
    assert_slack_accepts_view(view)
    assert by_block(view)["n"]["element"] == {"type": "number_input", "action_id": "n", "is_decimal_allowed": False,
                                              "initial_value": "3"}
    assert "initial_value" not in by_block(view)["m"]["element"] and by_block(view)["m"]["optional"] is True


def test_a_choice_field_without_choices_falls_back_to_typing() -> None:
    view = translate.form_view(Form("f", "F", (Field("t", "Topics", "multi_choice", initial=("a", "b")),)))
    assert_slack_accepts_view(view)
    assert by_block(view)["t"]["element"]["initial_value"] == "a, b"


def test_a_long_intro_is_split_and_still_leaves_room_for_the_fields() -> None:
    form = Form("f", "F", tuple(Field(f"a{i}", "A") for i in range(98)), intro="i" * 9000)
    view = translate.form_view(form)
    assert_slack_accepts_view(view)
    assert len(view["blocks"]) == 100 and [b["type"] for b in view["blocks"][:2]] == ["section", "section"]


# ---------------------------------------------------------------------------
# Home tab, errors, typeahead


def test_the_home_tab_shows_messages_between_dividers() -> None:
    view = translate.home_view([Message("Welcome", ("Type `join`.",)), Message("Your pair", facts=(Fact("A", "B"),))])
    assert_slack_accepts_view(view)
    assert [b["type"] for b in view["blocks"]] == ["header", "section", "divider", "header", "section"]


def test_an_empty_home_tab_is_still_a_valid_view() -> None:
    view = translate.home_view([])
    assert_slack_accepts_view(view)


def test_a_crowded_home_tab_leaves_whole_messages_out_with_a_note() -> None:
    message = Message("Item", tuple(f"p{i}" for i in range(29)))  # 30 blocks each
    view = translate.home_view([message] * 5)
    assert_slack_accepts_view(view)
    assert len(view["blocks"]) == 30 * 3 + 2 + 1
    assert view["blocks"][-1]["elements"][0]["text"] == "…and more (2 not shown)"


def test_a_home_tab_of_full_messages_stays_within_100_blocks() -> None:
    view = translate.home_view([Message("Many", tuple(f"p{i}" for i in range(70)))] * 3)
    assert_slack_accepts_view(view)
    assert len(view["blocks"]) == 50 + 1  # a second 50-block message and its divider would not fit
    assert view["blocks"][-1]["elements"][0]["text"] == "…and more (2 not shown)"


def test_field_errors_keep_the_modal_open_with_short_texts() -> None:
    ack = translate.field_errors({"time_zone": "Unknown time zone 'Pariss'. Did you mean Europe/Paris?",
                                  "goals": "Goals is 9000 characters; " + "x" * 500})
    assert ack["response_action"] == "errors"
    assert ack["errors"]["time_zone"] == "Unknown time zone 'Pariss'. Did you mean Europe/Paris?"
    assert len(ack["errors"]["goals"]) == 150 and ack["errors"]["goals"].endswith("…")


@pytest.mark.parametrize(("query", "first"), [
    ("paris", "Europe/Paris"), ("PARIS", "Europe/Paris"), ("new york", "America/New_York"),
    ("new_york", "America/New_York"), ("  New   York ", "America/New_York"), ("europe/lond", "Europe/London"),
])
def test_the_time_zone_typeahead_finds_cities(query: str, first: str) -> None:
    options = translate.time_zone_options(query, time_zones())["options"]
    assert options[0]["value"] == first


def test_zones_whose_city_starts_with_the_query_come_first() -> None:
    zones = ["Asia/Damascus", "America/Panama", "Asia/Amman", "Europe/Paris"]
    values = [o["value"] for o in translate.time_zone_options("am", zones)["options"]]
    assert values == ["Asia/Amman", "America/Panama", "Asia/Damascus"]  # city, then any word, then anywhere


def test_the_typeahead_answers_at_most_100_valid_options() -> None:
    answer = translate.time_zone_options("a", time_zones())
    assert len(answer["options"]) == 100
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "x"},
             "accessory": {"type": "static_select", "action_id": "z", "options": answer["options"]}}
    assert_slack_accepts_blocks([block], 50)
    assert len(translate.time_zone_options("a", time_zones(), limit=5)["options"]) == 5
    assert translate.time_zone_options("atlantis", time_zones()) == {"options": []}
