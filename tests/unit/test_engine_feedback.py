"""Anonymous feedback rounds as transcripts: prompt, form, one answer each, reminders to all, close, erasure."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from conversations import feedback
from conversations.events import Actor, FormSubmitted
from conversations.jobs import run_due_jobs
from conversations.messages import Reply
from tests.fakes.memory import World, text_of

BOSS = Actor("console", "console", "boss")
MIA = Actor("console", "console", "mia")  # junior mentor
SAM = Actor("console", "console", "sam")  # senior mentee

GOOD = {"safety_tough_topic": "5", "safety_mistakes": "1", "safety_valued": "4", "value": "5", "again": "yes",
        "comment": "a distinctive remark 7f3a"}


async def _paired(w: World) -> None:
    await w.say(BOSS, 'admin cohort open "Spring" --weeks 8')
    await w.sign_up(MIA, name="Mia", role="mentor", level="L2", department="Engineering", topics_teach=("GenAI",))
    await w.sign_up(SAM, name="Sam", role="mentee", level="L9", department="Sales", topics_learn=("GenAI",),
                    topics_teach=())
    await w.say(BOSS, "admin cohort close-signup")
    await w.say(BOSS, "admin pair console:mia console:sam")
    await w.deliver()
    w.console.sent.clear()


def _prompts(w: World, actor: Actor) -> list[str]:
    return [m.text for m in w.store.outbox_to(actor) if any(b.action == feedback.START for b in m.buttons)]


async def _answer(w: World, actor: Actor, values: dict[str, str] = GOOD) -> Reply:
    form = await w.say(actor, "feedback")
    assert form.form is not None, text_of(form)
    return await w.engine.dispatch(_submitted(actor, values, form.form.context))


def _submitted(actor: Actor, values: dict[str, str], context: str) -> FormSubmitted:
    return FormSubmitted(actor, feedback.FEEDBACK_FORM, values, context)


async def test_a_round_on_demand_asks_everyone_once_and_publishes_only_after_it_closes() -> None:
    w = World()
    await _paired(w)
    opened = await w.say(BOSS, "admin feedback open")
    assert "Feedback round opened" in text_of(opened) and "asked 2 people" in text_of(opened)
    assert len(_prompts(w, MIA)) == 1 and len(_prompts(w, SAM)) == 1
    [prompt] = [m for m in w.store.outbox_to(MIA) if any(b.action == feedback.START for b in m.buttons)]
    assert "Not anonymous: whether you met" in "\n".join(prompt.sections)

    form = await w.click(MIA, feedback.START, prompt.buttons[0].value)
    assert form.form is not None and form.form.id == feedback.FEEDBACK_FORM
    assert "Anonymous: these answers" in form.form.intro
    assert [f.name for f in form.form.fields] == ["safety_tough_topic", "safety_mistakes", "safety_valued",
                                                  "value", "again", "comment"]
    thanks = await _answer(w, MIA)
    assert "your feedback is in, anonymously" in text_of(thanks)
    assert "7f3a" not in text_of(thanks)  # the answer is never echoed anywhere
    again = await _answer_directly(w, MIA, prompt.buttons[0].value)
    assert "answered this round already" in text_of(again)
    assert "answered this round already" in text_of(await w.say(MIA, "feedback"))
    await _answer(w, SAM, {**GOOD, "comment": "", "again": "no", "value": "2"})

    [feedback_round] = w.state.feedback_rounds.values()
    assert len(w.state.feedback_receipts) == 2
    assert len(w.state.feedback_answers) == 5 + 1 + 5  # five numbers each, one comment
    assert not any("mia" in repr(a).lower() or "sam" in repr(a).lower() for a in w.state.feedback_answers)
    async with w.store() as uow:
        assert await uow.feedback.answers(feedback_round.id) == []  # not while open

    closed = await w.say(BOSS, "admin feedback close")
    assert "is closed" in text_of(closed)
    assert w.state.feedback_receipts == set()
    async with w.store() as uow:
        published = await uow.feedback.answers(feedback_round.id)
    assert sorted((a.role, a.question, a.value) for a in published if a.question == "again") == [
        ("mentee", "again", 0), ("mentor", "again", 1)]
    assert [a.text for a in published if a.question == "comment"] == ["a distinctive remark 7f3a"]
    assert w.store.scrubs == 0
    await w.run_jobs()
    assert w.store.scrubs == 1  # the scrub runs after the close committed, outside its transaction
    assert ("admin.feedback", "ok") in w.store.audit_actions()
    assert not any("7f3a" in repr(e) for e in w.state.audit)
    assert not any("7f3a" in r.message_json for r in w.state.outbox.values())


async def _answer_directly(w: World, actor: Actor, round_id: str) -> Reply:
    return await w.engine.dispatch(_submitted(actor, GOOD, round_id))


async def test_a_wrong_answer_is_refused_field_by_field_and_stores_nothing() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    [feedback_round] = w.state.feedback_rounds.values()
    reply = await w.engine.dispatch(_submitted(MIA, {**GOOD, "value": "9", "again": "maybe",
                                                     "comment": "x" * 1001}, feedback_round.id))
    assert set(reply.errors) == {"value", "again", "comment"}
    assert "1000" in reply.errors["comment"]
    assert w.state.feedback_receipts == set() and w.state.feedback_answers == []
    assert "your feedback is in" in text_of(await _answer(w, MIA))  # and nothing was lost: it still works


async def test_someone_outside_the_cohort_cannot_answer() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    [feedback_round] = w.state.feedback_rounds.values()
    outsider = Actor("console", "console", "zoe")
    await w.sign_up(outsider, name="Zoe")
    reply = await w.engine.dispatch(_submitted(outsider, GOOD, feedback_round.id))
    assert "isn't yours to answer" in text_of(reply)
    assert "no feedback round open for you" in text_of(await w.say(outsider, "feedback"))
    assert w.state.feedback_answers == []


async def test_the_reminder_goes_to_everyone_in_the_round_answered_or_not() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    await _answer(w, MIA)
    w.clock.advance(days=w.deps.settings.feedback.remind_after_days)
    await w.run_jobs()
    for actor in (MIA, SAM):
        assert [t for t in _prompts(w, actor) if t.startswith("A reminder")], actor


async def test_mid_and_end_rounds_open_by_themselves_and_close_when_announced() -> None:
    w = World()
    await _paired(w)  # an 8-week cohort: half-way after 4 weeks, the end round 7 days before week 8
    w.clock.advance(weeks=4)
    await w.run_jobs()
    [mid] = w.state.feedback_rounds.values()
    assert mid.kind == "mid" and mid.state == "open"
    await _answer(w, SAM)
    w.clock.advance(days=7)
    await w.run_jobs()
    assert w.state.feedback_rounds[mid.id].state == "closed" and w.store.scrubs == 1
    assert any("round of Spring has closed" in m.text for m in w.store.outbox_to(BOSS))
    w.clock.advance(weeks=3)
    await w.run_jobs()
    kinds = sorted((r.kind, r.state) for r in w.state.feedback_rounds.values())
    assert kinds == [("end", "open"), ("mid", "closed")]


async def test_ending_a_cohort_early_opens_its_end_round_now() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin cohort end")
    [end] = w.state.feedback_rounds.values()
    assert end.kind == "end" and end.state == "open"
    assert "your feedback is in" in text_of(await _answer(w, MIA))


async def test_admin_feedback_refuses_clearly() -> None:
    w = World()
    refused = await w.say(BOSS, "admin feedback open")
    assert "none is running" in text_of(refused)
    await _paired(w)
    assert "No feedback round" in text_of(await w.say(BOSS, "admin feedback close"))
    await w.say(BOSS, "admin feedback open")
    assert "open already" in text_of(await w.say(BOSS, "admin feedback open"))
    assert "admin feedback status" in text_of(await w.say(BOSS, "admin feedback sideways"))
    assert ("admin.feedback", "invalid") in w.store.audit_actions()
    assert "admin feedback open|close|status" in text_of(await w.say(BOSS, "admin help"))


async def test_leaving_and_being_forgotten_take_the_receipts_and_leave_the_answers() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    await _answer(w, MIA)
    await _answer(w, SAM)
    assert len(w.state.feedback_receipts) == 2
    await w.click(MIA, "leave.confirm")
    assert len(w.state.feedback_receipts) == 1
    forgotten = await w.say(BOSS, "admin forget console:sam")
    assert "Forgot Sam" in text_of(forgotten)
    assert w.state.feedback_receipts == set()
    assert w.person(SAM) is None
    assert len(w.state.feedback_answers) == 12  # anonymous answers stay: nothing links them to anyone
    assert ("admin.forget", "ok") in w.store.audit_actions()
    assert "can't find" in text_of(await w.say(BOSS, "admin forget console:nobody"))


def test_a_receipt_is_useless_without_the_key() -> None:
    a = feedback.receipt_of(b"key one", "person", "round")
    assert a == feedback.receipt_of(b"key one", "person", "round")
    assert a != feedback.receipt_of(b"key two", "person", "round")
    assert a != feedback.receipt_of(b"key one", "person", "other round")
    assert "person" not in a and len(a) == 64


async def test_an_ended_cohorts_personal_data_is_purged_after_the_retention_months_answers_stay() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    await _answer(w, MIA)
    await w.say(BOSS, "admin feedback close")
    await w.say(BOSS, "admin cohort end")
    [cohort] = w.state.cohorts.values()
    w.clock.advance(days=30 * w.deps.settings.retention_months - 40)
    await w.run_jobs()
    assert w.state.pairs and w.state.memberships  # not yet
    w.clock.advance(days=60)
    await w.run_jobs()
    assert not [p for p in w.state.pairs.values() if p.cohort_id == cohort.id]
    assert not [m for m in w.state.memberships if m[0] == cohort.id]
    assert cohort.id in w.state.cohorts  # the cohort's name and dates stay...
    assert len([a for a in w.state.feedback_answers if a.cohort_id == cohort.id]) == 6  # ...and anonymous answers
    assert w.person(MIA) is not None  # people still signed up keep their profile; `leave` removes it


async def test_a_scrub_that_cannot_run_yet_comes_back_a_minute_later() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    await w.say(BOSS, "admin feedback close")
    calls: list[int] = []

    class Busy:
        async def scrub_feedback(self) -> None:
            calls.append(1)
            raise RuntimeError("a transaction older than the close is still open")

    await run_due_jobs(replace(w.deps, scrubber=Busy()))
    assert calls == [1] and w.store.scrubs == 0
    [again] = [j for j in w.state.jobs.values() if j.kind == feedback.SCRUB and j.state == "pending"]
    assert again.due_at == w.clock.now() + timedelta(minutes=1)
    w.clock.advance(minutes=1)
    await w.run_jobs()  # the World's scrubber works again
    assert w.store.scrubs == 1


async def test_a_comment_is_stored_without_the_names_that_would_point_at_its_author() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin feedback open")
    await _answer(w, MIA, {**GOOD, "comment": "Sam listened; write to sam@example.com or <@U0SAM>. Samples helped."})
    [comment] = [a.text for a in w.state.feedback_answers if a.question == "comment"]
    assert comment == "[someone] listened; write to [someone] or [someone]. Samples helped."
    assert "sam" not in comment.lower().replace("samples", "")
