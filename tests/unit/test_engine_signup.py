"""Joining, signing up and keeping a profile, told as conversations with the engine."""

from __future__ import annotations

import pytest

from conversations.events import Actor
from tests.fakes.memory import World, profile_values, text_of

ALICE = Actor("console", "console", "U-ALICE")
BOB = Actor("console", "console", "U-BOB")
BOSS = Actor("console", "console", "boss")
SLACK_SAM = Actor("slack", "T1", "USAM")


async def open_cohort(w: World, name: str = "Spring 27") -> str:
    reply = await w.say(BOSS, f'admin cohort open "{name}"')
    assert "is open for sign-up" in text_of(reply), text_of(reply)
    [cohort] = [c for c in w.state.cohorts.values() if c.state == "signup"]
    return cohort.id


# help and unknown commands

async def test_help_lists_what_a_person_can_do() -> None:
    w = World()
    reply = await w.say(ALICE, "help")
    said = text_of(reply)
    assert reply.messages[0].text == "Reverse mentoring: what you can do"
    for command in ("`join`", "`profile`", "`status`", "`pause [weeks]`", "`resume`", "`leave`"):
        assert command in said
    assert "admin" not in said


async def test_an_empty_command_is_help() -> None:
    w = World()
    assert (await w.say(ALICE, "  ")).messages[0].text == "Reverse mentoring: what you can do"


async def test_help_tells_an_admin_about_admin_commands() -> None:
    w = World()
    assert "`admin help` lists admin commands" in text_of(await w.say(BOSS, "help"))


async def test_help_in_slack_shows_the_slash_command() -> None:
    w = World()
    assert "`/mentor join`" in text_of(await w.say(SLACK_SAM, "help"))


async def test_unknown_command_suggests_the_nearest_one() -> None:
    w = World()
    reply = await w.say(ALICE, "jion")
    assert reply.messages[0].text == "I don't know the command 'jion'."
    assert "Did you mean `join`?" in reply.messages[0].sections
    assert "`leave`: leave the program and delete your data" in text_of(reply)


async def test_unknown_command_in_slack_suggests_the_slash_command() -> None:
    w = World()
    assert "Did you mean `/mentor status`?" in text_of(await w.say(SLACK_SAM, "stauts"))


async def test_gibberish_command_lists_everything_instead_of_guessing() -> None:
    w = World()
    said = text_of(await w.say(ALICE, "xyzzy"))
    assert "Did you mean" not in said
    assert "Here is what I understand:" in said


# join and the sign-up form

async def test_join_without_profile_opens_the_signup_form() -> None:
    w = World()
    reply = await w.say(ALICE, "join")
    assert reply.form is not None
    assert reply.form.id == "signup"
    assert reply.form.title == "Join reverse mentoring"
    names = [f.name for f in reply.form.fields]
    assert names[:3] == ["name", "role", "level"]
    assert {"time_zone", "working_hours", "topics_teach", "topics_learn", "languages"} <= set(names)
    assert not w.state.people


async def test_signup_alias_opens_the_same_form() -> None:
    w = World()
    reply = await w.say(ALICE, "SIGNUP")
    assert reply.form is not None and reply.form.id == "signup"


async def test_valid_signup_stores_the_person_and_welcomes_them() -> None:
    w = World()
    reply = await w.submit(ALICE, profile_values())
    assert not reply.errors
    assert reply.messages[0].text == "Welcome, Alice Liddell! You're signed up as a mentor."
    assert "You'll be invited when the next cohort opens." in reply.messages[0].sections
    person = w.person(ALICE)
    assert person is not None
    assert person.status == "active"
    assert person.profile.time_zone == "Europe/Paris"
    assert person.profile.topics_teach == ("GenAI", "TikTok")
    assert (person.profile.work_start, person.profile.work_end) == ("09:00", "17:00")
    assert ("signup", "ok") in w.store.audit_actions()


async def test_signup_normalises_what_was_typed() -> None:
    w = World()
    person = await w.sign_up(ALICE, level="l3", time_zone="europe/paris", working_days=("Monday", "Tue"),
                             working_hours="9-17:30", topics_teach="genai, tiktok", languages=("english",))
    p = person.profile
    assert (p.level, p.time_zone, p.working_days) == ("L3", "Europe/Paris", ("mon", "tue"))
    assert (p.work_start, p.work_end, p.topics_teach, p.languages) == ("09:00", "17:30", ("GenAI", "TikTok"),
                                                                        ("English",))


async def test_signup_while_a_cohort_is_in_signup_joins_it() -> None:
    w = World()
    cohort_id = await open_cohort(w)
    reply = await w.submit(ALICE, profile_values())
    assert "You're in the cohort 'Spring 27'; you'll hear from me when the pairs are made." in text_of(reply)
    person = w.person(ALICE)
    assert person is not None
    assert (cohort_id, person.id) in w.state.memberships


async def test_signup_while_a_cohort_is_running_joins_nothing() -> None:
    w = World()
    await open_cohort(w)
    await w.say(BOSS, "admin cohort close-signup")
    reply = await w.submit(ALICE, profile_values())
    assert "You'll be invited when the next cohort opens." in text_of(reply)
    assert not w.state.memberships


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_zone", "Europe/Pari", "Unknown time zone 'Europe/Pari'. Did you mean Europe/Paris"),
        ("time_zone", "Paris", "Unknown time zone 'Paris'. Did you mean Europe/Paris"),
        ("time_zone", "Mars/Olympus", "Unknown time zone 'Mars/Olympus'. Use an IANA name such as Europe/Paris."),
        ("time_zone", "", "Time zone is required, e.g. Europe/Paris."),
        ("level", "L11", "'L11' is not a level on the ladder; choose one of: L1, L2, L3"),
        ("level", "", "Choose your level: L1, L2"),
        ("name", "A" * 81, "Your name is 81 characters; at most 80 are allowed."),
        ("name", "   ", "Your name is required."),
        ("department", "", "Department is required."),
        ("goals", "g" * 501, "Goals is 501 characters; at most 500 are allowed."),
        ("working_hours", "17:00-09:00", "'17:00-09:00' is not a range of hours; write it like 09:00-17:00"),
        ("working_hours", "25:00-26:00", "is not a range of hours"),
        ("working_hours", "all day", "'all day' is not a range of hours"),
        ("working_days", (), "Pick at least one working day"),
        ("working_days", ("funday",), "Pick at least one working day"),
        ("role", "boss", "Choose mentor or mentee."),
        ("topics_teach", (), "As a mentor, pick at least one topic you can teach."),
        ("topics_teach", ("Knitting",), "Unknown topic 'Knitting'; pick from the list."),
        ("languages", ("Klingon",), "Pick at least one working language from: English, French."),
        ("email", "not-an-email", "'not-an-email' is not an email address"),
        ("manager", "dana", "'dana' is not an email address; write it like dana@example.com"),
    ],
)
async def test_signup_with_a_bad_field_says_what_to_fix_and_stores_nothing(
        field: str, value: str | tuple[str, ...], message: str) -> None:
    w = World()
    reply = await w.submit(ALICE, profile_values(**{field: value}))
    assert list(reply.errors) == [field]
    assert message in reply.errors[field]
    assert not reply.messages
    assert not w.state.people
    assert w.store.commits == 0


async def test_mentee_without_topics_to_learn_is_asked_for_one() -> None:
    w = World()
    reply = await w.submit(ALICE, profile_values(role="mentee", level="L8", topics_teach=(), topics_learn=()))
    assert reply.errors == {"topics_learn": "As a mentee, pick at least one topic you want to learn."}


async def test_signup_with_many_bad_fields_reports_each_of_them() -> None:
    w = World()
    reply = await w.submit(ALICE, profile_values(name="", level="L99", time_zone="Nowhere", working_hours="x"))
    assert set(reply.errors) == {"name", "level", "time_zone", "working_hours"}
    assert not w.state.people


async def test_an_unknown_form_asks_to_start_again() -> None:
    w = World()
    reply = await w.submit(ALICE, profile_values(), form="feedback-v0")
    assert text_of(reply) == "That form is no longer in use; please start again."
    assert not w.state.people


# join when already signed up

async def test_join_with_profile_and_no_cohort_says_so() -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.say(ALICE, "join")
    assert reply.form is None
    assert reply.messages[0].text == "You're already signed up."
    assert "[Edit profile]" in text_of(reply)


async def test_join_when_a_cohort_is_open_adds_the_membership_once() -> None:
    w = World()
    alice = await w.sign_up(ALICE)
    cohort_id = await open_cohort(w)
    first = await w.say(ALICE, "join")
    second = await w.say(ALICE, "join")
    assert first.messages[0].text == "You're in the cohort 'Spring 27'."
    assert second.messages[0].text == "You're already in the cohort 'Spring 27'."
    assert list(w.state.memberships) == [(cohort_id, alice.id)]


async def test_clicking_the_invitation_joins_the_cohort() -> None:
    w = World()
    alice = await w.sign_up(ALICE)
    cohort_id = await open_cohort(w)
    await w.deliver()
    [invitation] = w.console.to(ALICE)
    [button] = invitation.buttons
    assert (button.action, button.value) == ("cohort.join", cohort_id)
    reply = await w.click(ALICE, button.action, button.value)
    assert reply.replace is not None
    assert reply.replace.text == "You're in the cohort 'Spring 27'."
    assert (cohort_id, alice.id) in w.state.memberships
    again = await w.click(ALICE, button.action, button.value)
    assert again.replace is not None and again.replace.text == "You were already in 'Spring 27'."
    assert len(w.state.memberships) == 1


async def test_clicking_an_invitation_after_signup_closed_says_it_is_too_late() -> None:
    w = World()
    await w.sign_up(ALICE)
    cohort_id = await open_cohort(w)
    await w.say(BOSS, "admin cohort close-signup")
    reply = await w.click(ALICE, "cohort.join", cohort_id)
    assert reply.replace is not None
    assert reply.replace.text == "This cohort is no longer open for sign-up."
    assert not w.state.memberships


async def test_clicking_an_invitation_without_a_profile_opens_the_form() -> None:
    w = World()
    cohort_id = await open_cohort(w)
    reply = await w.click(BOB, "cohort.join", cohort_id)
    assert reply.form is not None and reply.form.id == "signup"
    assert not w.state.memberships


# profile

async def test_profile_before_signup_says_how_to_start() -> None:
    w = World()
    assert text_of(await w.say(ALICE, "profile")) == "You haven't signed up yet.\nType `join` to start."


async def test_profile_shows_what_was_given() -> None:
    w = World()
    await w.sign_up(ALICE)
    said = text_of(await w.say(ALICE, "profile"))
    assert said.startswith("Your profile")
    for line in ("Name: Alice Liddell", "Role: mentor", "Level: L2", "Time zone: Europe/Paris",
                 "Working time: Mon, Tue, Wed, Thu, Fri 09:00-17:00", "Teaches: GenAI, TikTok",
                 "Wants to learn: -", "[Edit profile]"):
        assert line in said


async def test_profile_edit_opens_the_form_prefilled() -> None:
    w = World()
    await w.sign_up(ALICE, goals="Learn", email="alice@example.com")
    reply = await w.say(ALICE, "profile edit")
    assert reply.form is not None
    assert reply.form.title == "Edit your profile"
    assert reply.form.submit_label == "Save"
    initial = {f.name: f.initial for f in reply.form.fields}
    assert initial["name"] == "Alice Liddell"
    assert initial["role"] == "mentor"
    assert initial["level"] == "L2"
    assert initial["time_zone"] == "Europe/Paris"
    assert initial["working_hours"] == "09:00-17:00"
    assert initial["topics_teach"] == ("GenAI", "TikTok")
    assert initial["email"] == "alice@example.com"


async def test_edit_profile_button_opens_the_same_form() -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.click(ALICE, "profile.edit")
    assert reply.form is not None and reply.form.title == "Edit your profile"


async def test_submitting_the_edited_profile_saves_it_and_keeps_the_person() -> None:
    w = World()
    before = await w.sign_up(ALICE)
    await w.say(ALICE, "pause 3")
    reply = await w.submit(ALICE, profile_values(department="Design", level="L3"))
    assert reply.messages[0].text == "Your profile is saved."
    assert "Department: Design" in text_of(reply)
    after = w.person(ALICE)
    assert after is not None
    assert after.id == before.id
    assert (after.profile.department, after.profile.level) == ("Design", "L3")
    assert after.status == "paused"
    assert len(w.state.people) == 1


async def test_an_invalid_edit_keeps_the_old_profile() -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.submit(ALICE, profile_values(department="Design", time_zone="Atlantis"))
    assert "time_zone" in reply.errors
    person = w.person(ALICE)
    assert person is not None and person.profile.department == "Engineering"
