"""The console platform, driven like a chat transcript: scripted input in, printed conversation out."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import pytest

from adapters.console import ConsoleMessenger, ConsoleSession, Rejected, parse_answer
from conversations.events import ActionTaken, Actor, Command, Event, FormSubmitted, MessageRef
from conversations.messages import Button, Choice, Fact, Field, Form, Message, Reply

ALICE = Actor("console", "console", "alice")
BOB = Actor("console", "console", "bob")

SIGNUP = Form(
    id="signup",
    title="Sign up",
    intro="Tell us about yourself.",
    context="cohort-1",
    fields=(
        Field("role", "Your role", kind="choice",
              choices=(Choice("mentor", "Mentor"), Choice("mentee", "Mentee"))),
        Field("topics", "Topics", kind="multi_choice",
              choices=(Choice("ai", "AI"), Choice("sql", "SQL"), Choice("ux", "UX design"))),
        Field("bio", "Short bio", max_length=20),
        Field("tz", "Time zone", kind="timezone", initial="Europe/Paris"),
    ),
)


class FakeBot:
    """A dispatch that records events and answers from a rule written in the test."""

    def __init__(self, answer: Callable[[Event], Reply] | None = None) -> None:
        self.events: list[Event] = []
        self.drained = 0
        self._answer = answer or (lambda event: Reply.say(f"ok {event_name(event)}"))

    async def dispatch(self, event: Event) -> Reply:
        self.events.append(event)
        return self._answer(event)

    async def after_input(self) -> None:
        self.drained += 1


def event_name(event: Event) -> str:
    return event.name if isinstance(event, Command) else type(event).__name__


async def chat(lines: Iterable[str], bot: FakeBot, messenger: ConsoleMessenger | None = None,
               out: io.StringIO | None = None) -> str:
    """Run a session over the lines and return its transcript."""
    out = out or io.StringIO()
    session = ConsoleSession(
        dispatch=bot.dispatch,
        messenger=messenger or ConsoleMessenger(out),
        after_input=bot.after_input,
        user="alice",
        inp=io.StringIO("".join(f"{line}\n" for line in lines)),
        out=out,
        echo=True,
    )
    await session.run()
    return out.getvalue()


def signup_bot(errors_first: dict[str, str] | None = None) -> FakeBot:
    """Opens the sign-up form on `join`; rejects the first submission with `errors_first`."""
    pending = dict(errors_first or {})

    def answer(event: Event) -> Reply:
        if isinstance(event, Command) and event.name == "join":
            return Reply(form=SIGNUP)
        if isinstance(event, FormSubmitted):
            if pending:
                errors = dict(pending)
                pending.clear()
                return Reply(errors=errors)
            return Reply.say("You are signed up.")
        return Reply()

    return FakeBot(answer)


async def test_a_typed_line_is_parsed_as_a_command_and_answered() -> None:
    bot = FakeBot()
    transcript = await chat(['open "Spring 27" now'], bot)
    assert bot.events == [Command(ALICE, "open", ("Spring 27", "now"))]
    assert "alice> open \"Spring 27\" now\n── to alice ──\nok open\n" in transcript
    assert bot.drained == 1


async def test_the_slash_command_prefix_is_stripped() -> None:
    bot = FakeBot()
    await chat(["/mentor join", "/MENTOR", "# a comment", ""], bot)
    assert bot.events == [Command(ALICE, "join"), Command(ALICE, "help")]


async def test_as_switches_who_is_typing() -> None:
    bot = FakeBot()
    transcript = await chat(["/as bob", "leave", "/as not a name"], bot)
    assert "(you are now bob)" in transcript
    assert "bob> leave" in transcript
    assert bot.events == [Command(BOB, "leave")]
    assert "(usage: /as NAME" in transcript


async def test_quit_ends_the_session_before_the_rest() -> None:
    bot = FakeBot()
    await chat(["/quit", "join"], bot)
    assert bot.events == []


async def test_help_explains_the_console_and_asks_the_bot_for_its_help() -> None:
    bot = FakeBot()
    transcript = await chat(["/help"], bot)
    assert "/as NAME" in transcript and "click N" in transcript and "/quit" in transcript
    assert bot.events == [Command(ALICE, "help")]


async def test_a_form_is_asked_field_by_field_and_re_asks_bad_answers_locally() -> None:
    bot = signup_bot()
    transcript = await chat(
        ["join", "3", "mentee", "1, ux design", "x" * 25, "Builds things.", ""], bot
    )
    assert bot.events[1] == FormSubmitted(
        ALICE, "signup",
        {"role": "mentee", "topics": ("ai", "ux"), "bio": "Builds things.", "tz": "Europe/Paris"},
        context="cohort-1",
    )
    assert len(bot.events) == 2
    assert "── Sign up ──\nTell us about yourself." in transcript
    assert "Your role\n  1) Mentor\n  2) Mentee\n" in transcript
    assert '! Your role has no choice "3"' in transcript
    assert "! Short bio is 25 characters; at most 20" in transcript
    assert "Time zone [Europe/Paris]" in transcript
    assert transcript.rstrip().endswith("You are signed up.\nalice>")


async def test_engine_errors_re_ask_only_the_fields_in_error_and_keep_the_rest() -> None:
    bot = signup_bot(errors_first={"tz": "Unknown time zone: Mars/Olympus"})
    transcript = await chat(["join", "1", "2", "Hi", "Mars/Olympus", "Asia/Tokyo"], bot)
    first, second = bot.events[1], bot.events[2]
    assert isinstance(first, FormSubmitted) and isinstance(second, FormSubmitted)
    assert first.values["tz"] == "Mars/Olympus"
    assert second.values == {"role": "mentor", "topics": ("sql",), "bio": "Hi", "tz": "Asia/Tokyo"}
    assert ("! Time zone: Unknown time zone: Mars/Olympus\n"
            "Time zone [Mars/Olympus]\nalice> Asia/Tokyo") in transcript
    assert transcript.count("Your role") == 1
    assert "You are signed up." in transcript


async def test_a_form_the_engine_keeps_rejecting_is_cancelled_after_five_rounds() -> None:
    bot = FakeBot(lambda e: Reply(form=SIGNUP) if isinstance(e, Command) else Reply(errors={"bio": "no"}))
    transcript = await chat(["join", "1", "1", "a", "", *["b"] * 4, "after"], bot)
    assert len(bot.events) == 1 + 5 + 1
    assert transcript.count("! Short bio: no") == 5
    assert "(form 'Sign up' cancelled)\nalice> after" in transcript
    assert bot.events[-1] == Command(ALICE, "after")


async def test_the_input_ending_in_the_middle_of_a_form_cancels_it_cleanly() -> None:
    bot = signup_bot()
    transcript = await chat(["join", "2"], bot)
    assert len(bot.events) == 1
    assert "(form 'Sign up' cancelled)" in transcript
    assert "Traceback" not in transcript


async def test_cancel_stops_a_form() -> None:
    bot = signup_bot()
    transcript = await chat(["join", "/cancel", "hello"], bot)
    assert "(form 'Sign up' cancelled)" in transcript
    assert bot.events == [Command(ALICE, "join"), Command(ALICE, "hello")]


async def test_clicking_a_numbered_button_dispatches_the_action_with_its_value() -> None:
    def answer(event: Event) -> Reply:
        if isinstance(event, Command):
            return Reply.say("Did you meet?", buttons=(Button("Yes", "checkin.met", "c-7"),
                                                        Button("No", "checkin.missed", "c-7")))
        return Reply(replace=Message("Thanks: you met."))

    bot = FakeBot(answer)
    transcript = await chat(["checkin", "1", "click 2"], bot)
    assert "[1] Yes   [2] No" in transcript
    assert bot.events[1] == ActionTaken(ALICE, "checkin.met", "c-7", MessageRef("console:1"), None)
    assert "(updated message 1)\nThanks: you met." in transcript
    assert "(button [2] is not on a message shown to alice, or it was replaced)" in transcript
    assert len(bot.events) == 2


async def test_a_button_shown_to_someone_else_cannot_be_clicked() -> None:
    out = io.StringIO()
    messenger = ConsoleMessenger(out)
    await messenger.send([BOB], Message("Meet alice?", buttons=(Button("Accept", "intro.accept", "p-1"),)))
    bot = FakeBot()
    transcript = await chat(["1", "7", "/as bob", "1"], bot, messenger, out)
    assert "(button [1] is not on a message shown to alice" in transcript
    assert "(there is no button [7])" in transcript
    assert bot.events == [ActionTaken(BOB, "intro.accept", "p-1", MessageRef("console:1"))]


async def test_a_failing_bot_prints_a_short_note_not_a_traceback() -> None:
    def answer(event: Event) -> Reply:
        raise RuntimeError("database is down")

    transcript = await chat(["join", "help"], FakeBot(answer))
    assert "(something went wrong handling that: RuntimeError: database is down)" in transcript
    assert "Traceback" not in transcript
    assert "alice> help" in transcript


async def test_messages_render_as_plain_text_with_globally_numbered_buttons() -> None:
    out = io.StringIO()
    messenger = ConsoleMessenger(out)
    first = await messenger.send([ALICE, BOB], Message(
        "Meet your pair", ("You two were matched.",), (Fact("Mentor", "alice"), Fact("Mentee", "bob")),
        (Button("Say hi", "intro.hi", "p-1"),),
    ))
    second = await messenger.send([BOB], Message("Check-in", buttons=(Button("Met", "checkin.met", "c-1"),)))
    assert (first, second) == ("console:1", "console:2")
    assert out.getvalue() == (
        "── to alice, bob ──\nMeet your pair\n\nYou two were matched.\n\nMentor: alice\nMentee: bob\n\n"
        "[1] Say hi\n── to bob ──\nCheck-in\n\n[2] Met\n"
    )
    assert messenger.shown_button("alice", 1) is not None
    assert messenger.shown_button("alice", 2) is None
    hello = messenger.shown_button("bob", 2)
    assert hello is not None
    assert (hello.action, hello.value, hello.message_ref) == ("checkin.met", "c-1", second)


@pytest.mark.parametrize(
    ("query", "user"),
    [("bob", "bob"), ("@bob", "bob"), ("console:bob", "bob"), ("console:console:bob", "bob"),
     ("bob@console", "bob"), (" j.doe-2 ", "j.doe-2"), ("bob@example.com", None), ("two words", None),
     ("", None), ("@", None)],
)
async def test_find_user_accepts_names_mentions_and_console_emails(query: str, user: str | None) -> None:
    found = await ConsoleMessenger(io.StringIO()).find_user("console", query)
    assert found == (Actor("console", "console", user) if user else None)


def test_answers_are_checked_against_what_the_field_says() -> None:
    topics = SIGNUP.fields[1]
    assert parse_answer(topics, "3,1,3") == ("ux", "ai")
    assert parse_answer(topics, "", ("sql",)) == ("sql",)
    assert parse_answer(topics, "ai, cobol") == Rejected(
        'has no choice "cobol": answer a number from 1 to 3 or a name'
    )
    age = Field("n", "Age", kind="number")
    assert parse_answer(age, "4x") == Rejected("must be a whole number (digits only)")
    assert parse_answer(Field("n", "Notes", required=False), "") == ""
    assert parse_answer(Field("n", "Name"), "  ") == Rejected("is required")
