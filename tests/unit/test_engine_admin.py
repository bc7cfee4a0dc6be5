"""Program admins running cohorts and admins, every command audited whatever its outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conversations.admin import SIGNUP_CLOSES
from conversations.events import Actor
from conversations.model import Cohort
from tests.fakes.memory import T0, World, text_of

ALICE = Actor("console", "console", "U-ALICE")
BOB = Actor("console", "console", "U-BOB")
CAROL = Actor("console", "console", "U-CAROL")
MALLORY = Actor("console", "console", "U-MALLORY")
BOSS = Actor("console", "console", "boss")
ELSEWHERE = Actor("console", "other-workspace", "U-DAVE")


async def populated() -> World:
    """Alice (mentor) and Bob (mentee) active, Carol paused, none in a cohort yet."""
    w = World(users={"@alice": ALICE, "@nobody": MALLORY})
    await w.sign_up(ALICE, email="alice@example.com")
    await w.sign_up(BOB, name="Bob Builder", role="mentee", level="L8", topics_teach=(), topics_learn=("GenAI",))
    await w.sign_up(CAROL, name="Carol Danvers", level="L3")
    await w.say(CAROL, "pause 4")
    return w


def only_cohort(w: World) -> Cohort:
    [cohort] = w.state.cohorts.values()
    return cohort


def last_audit(w: World) -> tuple[str, str]:
    entry = w.state.audit[-1]
    return entry.action, entry.outcome


# who may

async def test_a_non_admin_is_refused_and_the_denial_is_audited() -> None:
    w = await populated()
    reply = await w.say(MALLORY, 'admin cohort open "Spring 27"')
    assert reply.messages[0].text == "Only program admins can use admin commands."
    assert not w.state.cohorts
    assert last_audit(w) == ("admin.cohort.open", "denied")
    entry = w.state.audit[-1]
    assert entry.actor == w.state.pseudonyms[MALLORY]
    assert "MALLORY" not in entry.actor and "MALLORY" not in entry.detail


async def test_admin_help_lists_the_admin_commands() -> None:
    w = World()
    reply = await w.say(BOSS, "admin")
    assert reply.messages[0].text == "Admin commands"
    assert "`admin cohort open NAME" in text_of(reply)
    assert "(send a .csv file to the bot): import HR people data" in text_of(reply)  # not a command to type
    assert last_audit(w) == ("admin.help", "ok")


async def test_an_unknown_admin_command_shows_admin_help_and_is_audited_invalid() -> None:
    w = World()
    reply = await w.say(BOSS, "admin frobnicate")
    assert reply.messages[0].text == "Admin commands"
    assert last_audit(w) == ("admin.unknown", "invalid")


# opening a cohort

async def test_the_bootstrap_admin_opens_a_cohort_and_active_people_are_invited() -> None:
    w = await populated()
    reply = await w.say(BOSS, 'admin cohort open "Spring 27" --weeks 8 --cadence weekly')
    assert reply.messages[0].text == "Cohort 'Spring 27' is open for sign-up."
    assert "8 weeks, weekly check-ins. Invited 2 people who signed up before." in text_of(reply)
    cohort = only_cohort(w)
    assert (cohort.name, cohort.state, cohort.weeks, cohort.cadence, cohort.created_at) == (
        "Spring 27", "signup", 8, "weekly", T0)
    assert last_audit(w) == ("admin.cohort.open", "ok")

    await w.deliver()
    assert {to for (to,), _ in w.console.sent} == {ALICE, BOB}
    assert len(w.console.sent) == 2
    [invitation] = w.console.to(ALICE)
    assert invitation.text == "A new reverse-mentoring cohort is open: Spring 27"
    assert [(b.action, b.value) for b in invitation.buttons] == [("cohort.join", cohort.id)]
    assert w.console.to(CAROL) == []
    assert w.console.to(BOSS) == []

    alice = w.person(ALICE)
    assert alice is not None
    await w.click(ALICE, "cohort.join", cohort.id)
    assert list(w.state.memberships) == [(cohort.id, alice.id)]


async def test_options_may_be_written_with_equals_and_use_the_configured_defaults() -> None:
    w = World()
    await w.say(BOSS, "admin cohort open Autumn --cadence=MONTHLY")
    cohort = only_cohort(w)
    assert (cohort.name, cohort.weeks, cohort.cadence) == ("Autumn", 12, "monthly")


async def test_a_second_cohort_cannot_open_while_one_is_open() -> None:
    w = await populated()
    await w.say(BOSS, 'admin cohort open "Spring 27"')
    await w.deliver()
    reply = await w.say(BOSS, 'admin cohort open "Summer 27"')
    assert reply.messages[0].text == "That didn't work."
    assert ("The cohort 'Spring 27' is still in sign-up; end it first with `admin cohort end`."
            in reply.messages[0].sections)
    assert [c.name for c in w.state.cohorts.values()] == ["Spring 27"]
    assert last_audit(w) == ("admin.cohort.open", "invalid")
    await w.deliver()
    assert len(w.console.sent) == 2  # no second round of invitations


async def test_a_cohort_name_cannot_be_used_twice() -> None:
    w = World()
    await w.say(BOSS, "admin cohort open Spring")
    await w.say(BOSS, "admin cohort end")
    reply = await w.say(BOSS, "admin cohort open Spring")
    assert "A cohort named 'Spring' already exists; pick another name." in text_of(reply)
    assert len(w.state.cohorts) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--weeks 0", "`--weeks 0`: give a whole number of weeks from 1 to 104."),
        ("--weeks 105", "`--weeks 105`: give a whole number of weeks from 1 to 104."),
        ("--weeks many", "`--weeks many`: give a whole number of weeks from 1 to 104."),
        ("--weeks", "`--weeks` needs a value."),
        ("--cadence daily", "`--cadence daily`: choose weekly, biweekly or monthly."),
        ("--signup-until 2027-13-01", "`--signup-until 2027-13-01`: write the date as YYYY-MM-DD."),
        ("--signup-until tomorrow", "`--signup-until tomorrow`: write the date as YYYY-MM-DD."),
        ("--signup-until 2027-02-28", "`--signup-until 2027-02-28` is in the past; pick today or a later date."),
        ("--colour red", "Unknown option `--colour`; known options: --weeks, --cadence, --signup-until."),
    ],
)
async def test_opening_with_a_bad_option_says_what_to_fix_and_stores_nothing(options: str, message: str) -> None:
    w = await populated()
    reply = await w.say(BOSS, f'admin cohort open "Spring 27" {options}')
    assert reply.messages[0].text == "That didn't work."
    assert message in reply.messages[0].sections
    assert not w.state.cohorts
    assert not w.state.outbox
    assert [j.kind for j in w.state.jobs.values()] == ["pause.end"]  # Carol's, nothing new
    assert last_audit(w) == ("admin.cohort.open", "invalid")


@pytest.mark.parametrize("words", ["admin cohort open", "admin cohort open --weeks 4", 'admin cohort open ""'])
async def test_opening_without_a_name_asks_for_one(words: str) -> None:
    w = World()
    reply = await w.say(BOSS, words)
    assert 'Name the cohort: `admin cohort open "Spring 2027"`.' in reply.messages[0].sections
    assert not w.state.cohorts
    assert last_audit(w) == ("admin.cohort.open", "invalid")


async def test_opening_with_a_too_long_name_is_refused() -> None:
    w = World()
    reply = await w.say(BOSS, f"admin cohort open {'x' * 81}")
    assert "The cohort name is 81 characters; at most 80 are allowed." in text_of(reply)
    assert not w.state.cohorts


async def test_opening_with_superscript_weeks_is_refused_and_audited() -> None:
    # Regression: '²' passes str.isdigit() but not int(); the ValueError escaped the audit.
    w = World()
    reply = await w.say(BOSS, "admin cohort open Spring --weeks ²")
    assert reply.messages[0].text == "That didn't work."
    assert last_audit(w) == ("admin.cohort.open", "invalid")


async def test_signup_until_schedules_the_closing_of_signup() -> None:
    w = await populated()
    reply = await w.say(BOSS, 'admin cohort open "Spring 27" --signup-until 2027-03-10')
    assert "Sign-up closes on 2027-03-10." in text_of(reply)
    cohort = only_cohort(w)
    assert cohort.signup_until is not None and cohort.signup_until.isoformat() == "2027-03-10"
    [job] = [j for j in w.state.jobs.values() if j.kind == SIGNUP_CLOSES]
    assert (job.subject, job.due_at, job.state) == (cohort.id, datetime(2027, 3, 11, tzinfo=UTC), "pending")
    await w.deliver()
    assert "Sign-up closes on 2027-03-10." in w.console.to(ALICE)[0].sections[0]


async def test_signup_until_closes_signup_on_its_own_and_tells_the_admins() -> None:
    # Regression: the deadline job once cancelled (deleted) itself via close_signup, so finish() failed
    # and the closing rolled back, over and over.
    w = await populated()
    await w.say(BOSS, "admin admins add console:U-BOB")
    reply = await w.say(BOSS, 'admin cohort open "Spring 27" --signup-until 2027-03-10')
    assert "Sign-up closes on 2027-03-10." in text_of(reply)
    cohort = only_cohort(w)
    assert cohort.signup_until is not None and cohort.signup_until.isoformat() == "2027-03-10"
    [job] = [j for j in w.state.jobs.values() if j.kind == SIGNUP_CLOSES]
    assert (job.subject, job.due_at) == (cohort.id, datetime(2027, 3, 11, tzinfo=UTC))
    await w.click(ALICE, "cohort.join", cohort.id)
    await w.deliver()
    w.console.sent.clear()

    w.clock.set(datetime(2027, 3, 10, 23, 59, tzinfo=UTC))
    assert await w.run_jobs() == 0
    w.clock.advance(minutes=1)
    assert await w.run_jobs() == 1

    cohort = only_cohort(w)
    assert (cohort.state, cohort.started_at) == ("running", w.clock.now())
    await w.deliver()
    closed = "Sign-up for 'Spring 27' closed as announced."
    assert w.console.texts_to(BOSS) == [closed]
    assert w.console.texts_to(BOB) == [closed]
    assert "The cohort is running with 1 members." in w.console.to(BOSS)[0].sections
    assert w.console.to(ALICE) == []


async def test_signup_until_today_is_allowed() -> None:
    w = World()
    await w.say(BOSS, "admin cohort open Spring --signup-until 2027-03-01")
    assert only_cohort(w).state == "signup"


async def test_close_signup_starts_the_cohort_and_cancels_the_deadline() -> None:
    w = await populated()
    await w.say(BOSS, 'admin cohort open "Spring 27" --signup-until 2027-03-10')
    cohort = only_cohort(w)
    await w.click(ALICE, "cohort.join", cohort.id)
    await w.click(BOB, "cohort.join", cohort.id)
    reply = await w.say(BOSS, "admin cohort close-signup")
    assert reply.messages[0].text == "Sign-up for 'Spring 27' is closed; the cohort is running with 2 members."
    assert only_cohort(w).state == "running"
    assert not [j for j in w.state.jobs.values() if j.kind == SIGNUP_CLOSES]
    assert last_audit(w) == ("admin.cohort.close-signup", "ok")
    again = await w.say(BOSS, "admin cohort close-signup")
    assert "No cohort is in sign-up right now." in again.messages[0].sections
    assert last_audit(w) == ("admin.cohort.close-signup", "invalid")


async def test_ending_a_cohort_tells_its_members() -> None:
    w = await populated()
    await w.say(BOSS, 'admin cohort open "Spring 27"')
    cohort = only_cohort(w)
    await w.click(ALICE, "cohort.join", cohort.id)
    await w.say(BOSS, "admin cohort close-signup")
    await w.deliver()
    w.console.sent.clear()
    reply = await w.say(BOSS, "admin cohort end")
    assert reply.messages[0].text == "Cohort 'Spring 27' has ended."
    assert "I let its 1 members know." in reply.messages[0].sections
    ended = only_cohort(w)
    assert (ended.state, ended.ended_at) == ("ended", T0)
    await w.deliver()
    assert w.console.texts_to(ALICE) == ["The cohort 'Spring 27' has ended."]
    assert w.console.to(BOB) == []
    assert last_audit(w) == ("admin.cohort.end", "ok")
    nothing = await w.say(BOSS, "admin cohort end")
    assert "No cohort is in sign-up or running, so there is nothing to end." in text_of(nothing)


async def test_cohort_list_shows_every_cohort_with_its_numbers() -> None:
    w = await populated()
    assert text_of(await w.say(BOSS, "admin cohort list")).startswith("No cohorts yet.")
    await w.say(BOSS, "admin cohort open Spring --weeks 6")
    spring = only_cohort(w)
    await w.click(ALICE, "cohort.join", spring.id)
    await w.click(BOB, "cohort.join", spring.id)
    await w.click(BOB, "leave.confirm")
    await w.say(BOSS, "admin cohort end")
    w.clock.advance(days=1)
    await w.say(BOSS, "admin cohort open Summer --cadence weekly")
    reply = await w.say(BOSS, "admin cohort list")
    said = text_of(reply)
    assert reply.messages[0].text == "Cohorts"
    assert "Spring: ended, 6 weeks, biweekly, 1 members, 1 left" in said
    assert "Summer: signup, 12 weeks, weekly, 0 members" in said
    assert last_audit(w) == ("admin.cohort.list", "ok")


async def test_cohorts_of_another_workspace_are_not_shown() -> None:
    w = World()
    await w.say(BOSS, "admin cohort open Spring")
    other_boss = Actor("console", "other-workspace", "boss")
    assert text_of(await w.say(other_boss, "admin cohort list")).startswith("No cohorts yet.")
    await w.say(other_boss, "admin cohort open Spring")  # one open cohort per workspace, names too
    assert len(w.state.cohorts) == 2


# participants and pausing someone

async def test_participants_without_a_cohort_lists_everyone_signed_up() -> None:
    w = await populated()
    reply = await w.say(BOSS, "admin participants")
    said = text_of(reply)
    assert reply.messages[0].text == "Signed up, no cohort open (3)"
    assert "Alice Liddell (mentor, L2, Engineering): active" in said
    assert "Carol Danvers (mentor, L3, Engineering): paused until 2027-03-29" in said
    assert last_audit(w) == ("admin.participants", "ok")


async def test_participants_of_the_open_cohort_are_its_members_only() -> None:
    w = await populated()
    await w.say(BOSS, "admin cohort open Spring")
    reply = await w.say(BOSS, "admin participants")
    assert text_of(reply) == "Participants of 'Spring' (0)\nNobody yet."
    await w.click(BOB, "cohort.join", only_cohort(w).id)
    reply = await w.say(BOSS, "admin participants")
    assert reply.messages[0].text == "Participants of 'Spring' (1)"
    assert "Bob Builder" in text_of(reply) and "Alice" not in text_of(reply)


@pytest.mark.parametrize("who", ["console:U-ALICE", "alice@example.com", "ALICE@example.com", "@alice"])
async def test_an_admin_pauses_someone_who_is_told(who: str) -> None:
    w = await populated()
    reply = await w.say(BOSS, f"admin pause {who} 3")
    assert reply.messages[0].text == "Paused Alice Liddell until 2027-03-22."
    person = w.person(ALICE)
    assert person is not None
    assert (person.status, person.paused_until) == ("paused", T0 + timedelta(weeks=3))
    assert [j.due_at for j in w.state.jobs.values() if j.subject == person.id] == [T0 + timedelta(weeks=3)]
    await w.deliver()
    assert w.console.texts_to(ALICE) == ["A program admin paused your participation until Mon 22 Mar 2027."]
    assert last_audit(w) == ("admin.pause", "ok")


async def test_an_admin_pause_defaults_to_two_weeks() -> None:
    w = await populated()
    await w.say(BOSS, "admin pause console:U-ALICE")
    person = w.person(ALICE)
    assert person is not None and person.paused_until == T0 + timedelta(weeks=2)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("admin pause", "Say who: `admin pause USER [weeks]`."),
        ("admin pause console:U-NOBODY", "I can't find a signed-up person for 'console:U-NOBODY'."),
        ("admin pause @nobody", "I can't find a signed-up person for '@nobody'."),
        ("admin pause @ghost", "I can't find a signed-up person for '@ghost'."),
        ("admin pause slack:U-ALICE", "I can't find a signed-up person for 'slack:U-ALICE'."),
        ("admin pause console:U-ALICE 99", "'99' is not a number of weeks"),
    ],
)
async def test_an_admin_pause_that_cannot_work_says_why(words: str, message: str) -> None:
    w = await populated()
    reply = await w.say(BOSS, words)
    assert reply.messages[0].text == "That didn't work."
    assert message in text_of(reply)
    person = w.person(ALICE)
    assert person is not None and person.status == "active"
    assert last_audit(w) == ("admin.pause", "invalid")


# managing admins

async def test_an_added_admin_is_told_and_can_use_admin_commands() -> None:
    w = await populated()
    assert (await w.say(ALICE, "admin cohort list")).messages[0].text == "Only program admins can use admin commands."
    reply = await w.say(BOSS, "admin admins add @alice")
    assert reply.messages[0].text == "Admin added."
    assert ALICE in w.state.admins
    await w.deliver()
    assert w.console.texts_to(ALICE) == ["You are now a program admin of reverse mentoring."]
    assert (await w.say(ALICE, "admin cohort list")).messages[0].text == "No cohorts yet."
    assert last_audit(w) == ("admin.cohort.list", "ok")
    again = await w.say(BOSS, "admin admins add console:U-ALICE")
    assert again.messages[0].text == "They were already an admin."
    await w.deliver()
    assert len(w.console.to(ALICE)) == 1


async def test_admins_list_names_everyone_and_marks_the_bootstrap_admin() -> None:
    w = await populated()
    await w.say(BOSS, "admin admins add console:U-ALICE")
    reply = await w.say(BOSS, "admin admins list")
    said = text_of(reply)
    assert reply.messages[0].text == "Program admins"
    assert "Alice Liddell" in said
    assert "boss (from app.yaml)" in said
    assert (await w.say(BOSS, "admin admins")).messages[0].text == "Program admins"
    assert last_audit(w) == ("admin.admins", "ok")


async def test_an_added_admin_can_be_removed() -> None:
    w = await populated()
    await w.say(BOSS, "admin admins add console:U-ALICE")
    assert (await w.say(BOSS, "admin admins remove console:U-ALICE")).messages[0].text == "Admin removed."
    assert ALICE not in w.state.admins
    assert (await w.say(BOSS, "admin admins remove console:U-ALICE")).messages[0].text == "They weren't an admin."
    assert (await w.say(ALICE, "admin cohort list")).messages[0].text == "Only program admins can use admin commands."


async def test_the_bootstrap_admin_cannot_be_removed_by_command() -> None:
    w = await populated()
    await w.say(BOSS, "admin admins add console:U-ALICE")
    reply = await w.say(ALICE, "admin admins remove console:boss")
    assert ("That admin comes from app.yaml (program.admins) and can only be removed there."
            in reply.messages[0].sections)
    assert last_audit(w) == ("admin.admins", "invalid")
    assert (await w.say(BOSS, "admin cohort list")).messages[0].text == "No cohorts yet."


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("admin admins add", "Use `admin admins add USER`, `admin admins remove USER` or `admin admins list`."),
        ("admin admins promote console:U-ALICE", "Use `admin admins add USER`"),
        ("admin admins add @ghost", "I can't find '@ghost'. Use a mention, an email or platform:id."),
        ("admin admins add teams:U-ALICE", "I can't find 'teams:U-ALICE'."),
    ],
)
async def test_managing_admins_badly_says_how(words: str, message: str) -> None:
    w = await populated()
    reply = await w.say(BOSS, words)
    assert message in text_of(reply)
    assert not w.state.admins
    assert last_audit(w) == ("admin.admins", "invalid")


# the audit trail

@pytest.mark.parametrize(
    ("words", "action", "again"),
    [
        ("admin help", "admin.help", "ok"),
        ("admin cohort list", "admin.cohort.list", "ok"),
        ("admin cohort open Spring", "admin.cohort.open", "invalid"),
        ("admin cohort close-signup", "admin.cohort.close-signup", "invalid"),
        ("admin cohort end", "admin.cohort.end", "invalid"),
        ("admin participants", "admin.participants", "ok"),
        ("admin pause console:U-ALICE 99", "admin.pause", "invalid"),
        ("admin admins add console:U-ALICE", "admin.admins", "ok"),
        ("admin admins list", "admin.admins", "ok"),
    ],
)
async def test_every_admin_command_is_audited_with_its_outcome(words: str, action: str, again: str) -> None:
    w = await populated()
    if "close-signup" in words or "end" in words:
        await w.say(BOSS, "admin cohort open Spring")
    before = len(w.state.audit)
    await w.say(MALLORY, words)
    await w.say(BOSS, words.removesuffix(" 99"))
    await w.say(BOSS, words)
    outcomes = [(e.action, e.outcome) for e in w.state.audit[before:]]
    assert outcomes == [(action, "denied"), (action, "ok"), (action, again)]
    pseudonyms = {w.state.pseudonyms[actor] for actor in (BOSS, MALLORY, ALICE, BOB, CAROL)}
    for entry in w.state.audit:
        assert entry.actor in pseudonyms
        assert "U-" not in entry.actor + (entry.target or "") + entry.detail


async def test_a_pseudonym_is_stable_for_one_person_and_differs_between_people() -> None:
    w = World()
    await w.say(MALLORY, "admin help")
    await w.say(MALLORY, "admin help")
    await w.say(BOSS, "admin help")
    first, second, third = (e.actor for e in w.state.audit)
    assert first == second != third
