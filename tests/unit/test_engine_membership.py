"""A participant's own state: status, pause and resume, and leaving with their data deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conversations.events import Actor, Unreachable
from conversations.membership import PAUSE_END
from tests.fakes.memory import T0, World, text_of

ALICE = Actor("console", "console", "U-ALICE")
BOB = Actor("console", "console", "U-BOB")
BOSS = Actor("console", "console", "boss")


# status

async def test_status_of_someone_unknown_says_how_to_sign_up() -> None:
    w = World()
    reply = await w.say(ALICE, "status")
    assert reply.messages[0].text == "You haven't signed up yet."
    assert "Type `join` to sign up." in reply.messages[0].sections


async def test_status_of_someone_unknown_mentions_the_open_cohort() -> None:
    w = World()
    await w.say(BOSS, 'admin cohort open "Spring 27"')
    said = text_of(await w.say(ALICE, "status"))
    assert "Spring 27 (sign-up open)" in said


async def test_status_of_an_active_member_shows_who_and_where() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(BOSS, 'admin cohort open "Spring 27"')
    await w.say(ALICE, "join")
    reply = await w.say(ALICE, "status")
    said = text_of(reply)
    assert reply.messages[0].text == "Your status"
    assert "You: Alice Liddell, mentor, L2" in said
    assert "State: active" in said
    assert "Your cohort: Spring 27 (sign-up open)" in said
    assert "Admin" not in said
    assert [(b.action, b.value) for b in reply.messages[0].buttons] == [("profile.edit", ""), ("pause.start", "2")]


async def test_status_of_a_paused_person_says_until_when_and_offers_resume() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(ALICE, "pause")
    reply = await w.say(ALICE, "status")
    said = text_of(reply)
    assert "State: paused until Mon 15 Mar 2027" in said
    assert "Your cohort: none yet" in said
    assert [b.action for b in reply.messages[0].buttons] == ["profile.edit", "pause.resume"]


async def test_status_of_an_admin_says_so() -> None:
    w = World()
    await w.sign_up(BOSS, name="Bo Ss", role="mentee", level="L9", topics_teach=(), topics_learn=("GenAI",))
    assert "Admin: yes" in text_of(await w.say(BOSS, "status"))


# pause and resume

async def test_pause_without_weeks_pauses_for_two_weeks_and_schedules_its_end() -> None:
    w = World()
    alice = await w.sign_up(ALICE)
    reply = await w.say(ALICE, "pause")
    assert reply.messages[0].text == "Paused until Mon 15 Mar 2027."
    assert "`resume`" in text_of(reply)
    person = w.person(ALICE)
    assert person is not None
    assert (person.status, person.paused_until) == ("paused", T0 + timedelta(weeks=2))
    assert [(j.kind, j.subject, j.due_at) for j in w.state.jobs.values()] == [
        (PAUSE_END, alice.id, T0 + timedelta(weeks=2))]


@pytest.mark.parametrize("words", ["pause 3", "pause 3w", "pause 3weeks", "pause 3 please"])
async def test_pause_for_some_weeks(words: str) -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.say(ALICE, words)
    assert reply.messages[0].text == "Paused until Mon 22 Mar 2027."
    person = w.person(ALICE)
    assert person is not None and person.paused_until == T0 + timedelta(weeks=3)


@pytest.mark.parametrize("weeks", ["0", "13", "soon", "-1", "2.5"])
async def test_pause_with_a_bad_number_of_weeks_says_what_is_allowed(weeks: str) -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.say(ALICE, f"pause {weeks}")
    assert reply.messages[0].text == "I couldn't pause you."
    assert f"'{weeks}' is not a number of weeks; give a whole number from 1 to 12" in text_of(reply)
    person = w.person(ALICE)
    assert person is not None and person.status == "active"
    assert not w.state.jobs


async def test_pause_with_a_superscript_digit_is_refused_clearly() -> None:
    # Regression: parse_weeks once trusted str.isdigit(), True for '²', and int('²') then raised.
    w = World()
    await w.sign_up(ALICE)
    reply = await w.say(ALICE, "pause ²")
    assert reply.messages[0].text == "I couldn't pause you."


async def test_pause_before_signing_up_has_nothing_to_pause() -> None:
    w = World()
    reply = await w.say(ALICE, "pause 2")
    assert reply.messages[0].text == "You haven't signed up yet, so there is nothing to pause."
    assert not w.state.jobs


async def test_pausing_again_replaces_the_earlier_pause() -> None:
    w = World()
    alice = await w.sign_up(ALICE)
    await w.say(ALICE, "pause 2")
    await w.say(ALICE, "pause 4")
    assert [j.due_at for j in w.state.jobs.values() if j.subject == alice.id] == [T0 + timedelta(weeks=4)]


async def test_pause_button_pauses_and_replaces_the_message() -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.click(ALICE, "pause.start", "2")
    assert reply.replace is not None and reply.replace.text == "Paused until Mon 15 Mar 2027."
    person = w.person(ALICE)
    assert person is not None and person.status == "paused"


async def test_resume_ends_the_pause_and_cancels_its_job() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(ALICE, "pause 3")
    reply = await w.say(ALICE, "resume")
    assert reply.messages[0].text == "Welcome back! Your pause has ended."
    person = w.person(ALICE)
    assert person is not None
    assert (person.status, person.paused_until) == ("active", None)
    assert not w.state.jobs


async def test_resume_when_not_paused_says_so() -> None:
    w = World()
    await w.sign_up(ALICE)
    assert (await w.say(ALICE, "resume")).messages[0].text == "You're not paused; nothing to resume."
    assert (await w.say(BOB, "resume")).messages[0].text == "You haven't signed up yet."


async def test_resume_button_replaces_the_message() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(ALICE, "pause")
    reply = await w.click(ALICE, "pause.resume")
    assert reply.replace is not None and reply.replace.text == "Welcome back! Your pause has ended."


async def test_the_pause_ends_by_itself_and_the_person_is_told() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(ALICE, "pause 2")
    w.clock.advance(weeks=2, minutes=-1)
    assert await w.run_jobs() == 0
    w.clock.advance(minutes=1)
    assert await w.run_jobs() == 1
    person = w.person(ALICE)
    assert person is not None and person.status == "active"
    assert w.console.sent == []  # only in the outbox until the sender runs
    await w.deliver()
    assert w.console.texts_to(ALICE) == ["Your pause is over. Welcome back!"]
    assert [j.state for j in w.state.jobs.values()] == ["done"]
    assert await w.run_jobs() == 0
    await w.deliver()
    assert len(w.console.sent) == 1


async def test_the_pause_end_does_nothing_if_the_person_resumed() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(ALICE, "pause 2")
    await w.say(ALICE, "resume")
    w.clock.advance(weeks=3)
    assert await w.run_jobs() == 0
    await w.deliver()
    assert w.console.sent == []


async def test_the_pause_end_job_leaves_alone_someone_who_is_active_again() -> None:
    w = World()
    alice = await w.sign_up(ALICE)
    await w.say(ALICE, "pause 2")
    async with w.store() as uow:  # the job outlived the pause, e.g. scheduled twice by a race
        await uow.people.save(alice.with_status("active"))
        await uow.commit()
    w.clock.advance(weeks=2)
    assert await w.run_jobs() == 1
    await w.deliver()
    assert w.console.sent == []


async def test_a_longer_pause_is_not_ended_by_the_shorter_ones_job() -> None:
    w = World()
    alice = await w.sign_up(ALICE)
    await w.say(ALICE, "pause 2")
    await w.say(ALICE, "pause 4")
    async with w.store() as uow:  # the two-week job survived, e.g. scheduled by another replica
        await uow.jobs.schedule(PAUSE_END, alice.id, T0 + timedelta(weeks=2))
        await uow.commit()
    w.clock.advance(weeks=2)
    assert await w.run_jobs() == 1
    person = w.person(ALICE)
    assert person is not None and person.status == "paused"
    w.clock.advance(weeks=2)
    assert await w.run_jobs() == 1
    await w.deliver()
    assert w.console.texts_to(ALICE) == ["Your pause is over. Welcome back!"]


# leaving

async def test_leave_asks_to_confirm_first() -> None:
    w = World()
    await w.sign_up(ALICE)
    reply = await w.say(ALICE, "leave")
    assert reply.messages[0].text == "Leave the program and delete your data?"
    assert [(b.action, b.style) for b in reply.messages[0].buttons] == [("leave.confirm", "danger"),
                                                                          ("leave.cancel", "default")]
    assert w.person(ALICE) is not None


async def test_leave_without_a_profile_says_nothing_is_held() -> None:
    w = World()
    assert text_of(await w.say(ALICE, "leave")) == "You haven't signed up, so I hold no profile of yours."


async def test_leave_confirm_erases_every_trace_but_keeps_the_audit_trail() -> None:
    w = World()
    alice = await w.sign_up(ALICE, email="liddell@example.com")
    await w.sign_up(BOB, name="Bob Builder", role="mentee", level="L8", topics_teach=(), topics_learn=("GenAI",))
    await w.say(BOSS, 'admin cohort open "Spring 27"')
    await w.say(ALICE, "join")
    await w.say(BOSS, "admin admins add console:U-ALICE")
    await w.say(ALICE, "pause 2")
    async with w.store() as uow:
        await uow.addresses.put(ALICE, '{"channel": "D-ALICE"}', T0)
        await uow.commit()
    alice_pseudonym = w.state.pseudonyms[ALICE]
    audit_before = list(w.state.audit)
    assert w.store.outbox_to(ALICE)  # the invitation and the admin welcome wait in the outbox

    reply = await w.click(ALICE, "leave.confirm")

    assert reply.replace is not None
    assert reply.replace.text == "You've left the program and your data is deleted."
    state = w.state
    assert alice.id not in state.people
    assert all(person != alice.id for _, person in state.memberships)
    assert not w.store.outbox_to(ALICE)
    assert not [j for j in state.jobs.values() if j.subject == alice.id]
    assert ALICE not in state.addresses
    assert ALICE not in state.admins
    assert ALICE not in state.pseudonyms
    dump = state.dump()
    for trace in ("U-ALICE", "Alice", "Liddell", "liddell@example.com", alice.id):
        assert trace not in dump
    assert state.audit[: len(audit_before)] == audit_before
    assert (state.audit[-1].action, state.audit[-1].outcome, state.audit[-1].actor) == ("leave", "ok",
                                                                                        alice_pseudonym)
    [cohort] = state.cohorts.values()
    assert cohort.members_left == 1
    assert w.person(BOB) is not None


async def test_leave_confirm_without_a_profile_has_nothing_to_delete() -> None:
    w = World()
    reply = await w.click(ALICE, "leave.confirm")
    assert reply.replace is not None
    assert reply.replace.text == "There's nothing left to delete: you're not signed up."


async def test_someone_who_left_can_sign_up_again_as_a_new_person() -> None:
    w = World()
    first = await w.sign_up(ALICE)
    await w.click(ALICE, "leave.confirm")
    second = await w.sign_up(ALICE)
    assert second.id != first.id
    assert (await w.say(ALICE, "join")).messages[0].text == "You're already signed up."


async def test_leave_cancel_changes_nothing() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.say(ALICE, "pause")
    before = w.state.dump()
    reply = await w.click(ALICE, "leave.cancel")
    assert reply.replace is not None
    assert reply.replace.text == "Good: you're still in. Nothing was deleted."
    assert w.state.dump() == before


# unreachable people

async def test_a_platform_saying_someone_is_gone_marks_them_unreachable_and_tells_the_admins() -> None:
    w = World()
    await w.sign_up(ALICE)
    await w.engine.dispatch(Unreachable(ALICE, "account_inactive"))
    await w.engine.dispatch(Unreachable(ALICE, "account_inactive"))
    person = w.person(ALICE)
    assert person is not None and person.status == "unreachable"
    await w.deliver()
    assert w.console.texts_to(BOSS) == ["I can no longer reach Alice Liddell."]


async def test_an_unreachable_person_who_talks_to_the_bot_again_is_active_again() -> None:
    # Regression: admins are told "no messages until they talk to me again", so talking must reactivate.
    w = World()
    await w.sign_up(ALICE)
    await w.engine.dispatch(Unreachable(ALICE, "account_inactive"))
    await w.say(ALICE, "status")
    person = w.person(ALICE)
    assert person is not None and person.status == "active"


async def test_leaving_erases_the_name_from_messages_about_the_person() -> None:
    # mark_unreachable puts the person's name in an outbox row addressed to the admins; the row says
    # whom it is about, so erase_person deletes it (sent or not) with everything addressed to them.
    w = World()
    await w.sign_up(ALICE)
    await w.engine.dispatch(Unreachable(ALICE, "account_inactive"))
    await w.deliver()
    await w.click(ALICE, "leave.confirm")
    assert w.person(ALICE) is None
    assert "Alice Liddell" not in w.state.dump()
