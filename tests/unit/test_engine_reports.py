"""`admin report` and `admin export` as an admin sees them, and the safety nudge, on the memory fakes."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from conversations.events import Actor
from conversations.messages import Message
from conversations.model import Role
from conversations.report_flow import after_round_closed
from tests.fakes.memory import T0, World, text_of
from tests.report_seed import COHORT, MENTEES, answers_of, seed_cohort
from tests.unit.test_reports import png_size

BOSS = Actor("console", "console", "boss")
MALLORY = Actor("console", "console", "mallory")


async def seeded() -> World:
    w = World()
    await seed_cohort(w.store, platform="console", workspace="console", now=T0)
    return w


def only_message(reply_messages: tuple[Message, ...]) -> Message:
    [message] = reply_messages
    return message


async def test_the_report_shows_participation_meetings_objectives_nudges_and_the_groups_that_may_show() -> None:
    w = await seeded()
    reply = await w.say(BOSS, "admin report")
    message = only_message(reply.messages)
    text = text_of(reply)
    assert message.text == f"Report for '{COHORT}' (running)"
    facts = {f.label: f.value for f in message.facts}
    assert facts["Signed up"] == "13" and facts["Left"] == "1" and facts["Paired"] == "12"
    assert facts["Active / paused"] == "11 / 1"
    assert facts["Meeting rate"] == '67 % (24 of 36 check-ins answered "we met")'
    assert facts["Pairs that met"] == "100 % (6 of 6)"
    assert facts["Objectives agreed"] == "6 by 6 pairs" and facts["Objective progress"] == "2.0 of 4"
    assert facts["Nudges sent"] == "3"
    assert "Everyone: 12 answers, safety 4.5/5, value 4.5/5, would do it again 100 %" in text
    assert "Mentors: 6 answers, safety 4.0/5" in text and "Mentees: 6 answers, safety 5.0/5" in text
    # the end round: 7 answers show as a total, 3 mentors are too few, so the 4 mentees hide with them
    assert "Everyone: 7 answers, safety 2.6/5" in text
    assert text.count("not enough answers yet") == 2
    assert "below the target of 3.5" in text
    assert message.image is not None and png_size(message.image.content) == (1000, 460)
    assert w.state.audit[-1].action == "admin.report" and w.state.audit[-1].outcome == "ok"


async def test_free_text_shows_at_2k_with_names_mentions_and_emails_removed() -> None:
    w = await seeded()
    text = text_of(await w.say(BOSS, "admin report"))
    assert "In their own words, round 1" in text
    assert "[someone] helped me see TikTok differently; ask [someone] or [someone]" in text
    for leaked in ("Grace", "@kira", "grace.liu"):
        assert leaked not in text.split("In their own words")[1]


async def test_a_report_names_no_pair_and_no_person_next_to_a_rating() -> None:
    w = await seeded()
    text = text_of(await w.say(BOSS, "admin report"))
    for person in w.state.people.values():
        assert person.profile.name not in text


async def test_a_published_round_reads_the_same_after_someone_leaves() -> None:
    w = await seeded()
    before = text_of(await w.say(BOSS, "admin report"))
    leaver = next(p for p in w.state.people.values() if p.profile.name == MENTEES[1])
    await w.say(leaver.actor, "leave")
    await w.click(leaver.actor, "leave.confirm")
    assert w.person(leaver.actor) is None
    after = text_of(await w.say(BOSS, "admin report"))
    rounds_before = before[before.index("Round 1"):before.index("A group shows")]
    rounds_after = after[after.index("Round 1"):after.index("A group shows")]
    assert rounds_before == rounds_after  # leaving changes participation, never a published round's numbers
    assert "Left: 2" in after


async def test_the_export_is_two_csv_files_of_aggregates_and_pairs_with_reasons() -> None:
    w = await seeded()
    reply = await w.say(BOSS, f"admin export {COHORT}")
    numbers, pairs = reply.messages
    assert numbers.file is not None and numbers.file.name == "report-spring-2027-aggregates.csv"
    assert pairs.file is not None and pairs.file.name == "report-spring-2027-pairs.csv"
    rows = list(csv.reader(io.StringIO(numbers.file.content)))
    assert ["meetings", "", "", "checkins_met", "24"] in rows
    assert sum(1 for r in rows if r[-1] == "not enough answers yet") == 2
    assert "TikTok" not in numbers.file.content  # free text is never exported
    pair_rows = list(csv.reader(io.StringIO(pairs.file.content)))
    assert pair_rows[0] == ["mentor", "mentee", "state", "score", "forced", "started", "ended", "reasons"]
    assert pair_rows[1][:3] == ["Ada Park", "Grace Liu", "active"]
    assert pair_rows[1][-1] == "covers Grace's wanted topics: GenAI; 6 levels apart"
    assert w.state.audit[-1].action == "admin.export"


async def test_only_admins_get_reports_and_the_refusal_is_audited() -> None:
    w = await seeded()
    reply = await w.say(MALLORY, "admin report")
    assert reply.messages[0].text == "Only program admins can use admin commands."
    assert reply.messages[0].image is None
    assert (w.state.audit[-1].action, w.state.audit[-1].outcome) == ("admin.report", "denied")


async def test_an_unknown_cohort_name_is_refused_with_the_names_there_are() -> None:
    w = await seeded()
    reply = await w.say(BOSS, "admin report Autumn 2031")
    assert f"There is no cohort named 'Autumn 2031'. Cohorts: '{COHORT}'." in text_of(reply)
    assert reply.messages[0].image is None
    assert (w.state.audit[-1].action, w.state.audit[-1].outcome) == ("admin.report", "invalid")


async def test_without_any_cohort_the_admin_is_told_how_to_open_one() -> None:
    w = World()
    reply = await w.say(BOSS, "admin export")
    assert "There is no cohort yet" in text_of(reply)


async def test_admin_help_lists_report_and_export() -> None:
    text = text_of(await World().say(BOSS, "admin help"))
    assert "`admin report [COHORT]`" in text and "`admin export [COHORT]`" in text


async def test_admins_hear_once_when_a_closed_round_falls_below_the_safety_target() -> None:
    w = await seeded()
    [mid, end] = sorted(w.state.feedback_rounds.values(), key=lambda r: r.opened_at)
    async with w.store() as uow:
        assert await after_round_closed(uow, w.deps, mid.id) is False  # 4.5: fine
        assert await after_round_closed(uow, w.deps, end.id) is True  # 2.6 < 3.5
        await uow.commit()
    await w.deliver()
    [nudge] = w.console.to(BOSS)
    assert nudge.text == f"Psychological safety in '{COHORT}' is 2.6, below the target of 3.5."
    assert "facilitated reset" in nudge.sections[0] and "7 answers" in nudge.sections[0]


async def test_no_safety_nudge_when_the_round_is_too_small_to_show() -> None:
    w = World()
    seeded_ = await seed_cohort(w.store, platform="console", workspace="console", now=T0)
    async with w.store() as uow:
        # a round of 7 answers with k=8 is hidden, so nothing may be said about it, not even "low"
        strict = replace(w.deps, settings=w.deps.settings.model_copy(
            update={"feedback": w.deps.settings.feedback.model_copy(update={"k": 8})}))
        assert await after_round_closed(uow, strict, seeded_.rounds[1].id) is False


async def test_closing_a_round_below_the_safety_target_nudges_the_admins_once() -> None:
    w = await seeded()
    [cohort] = w.state.cohorts.values()
    w.clock.advance(days=1)
    reply = await w.say(BOSS, "admin feedback open")
    assert "Feedback round opened" in text_of(reply), text_of(reply)
    [adhoc] = [r for r in w.state.feedback_rounds.values() if r.state == "open"]
    async with w.store() as uow:
        roles: tuple[Role, ...] = ("mentor",) * 3 + ("mentee",) * 3
        await uow.feedback.add_answers([replace(a, round_id=adhoc.id) for role in roles
                                        for a in answers_of(cohort.id, adhoc.id, role, safety=2, value=3, again=0)])
        await uow.commit()
    await w.deliver()
    before = len(w.console.to(BOSS))
    await w.say(BOSS, "admin feedback close")
    await w.deliver()
    nudges = [m for m in w.console.to(BOSS)[before:] if m.text.startswith("Psychological safety in")]
    assert [m.text for m in nudges] == [f"Psychological safety in '{COHORT}' is 2.0, below the target of 3.5."]
    assert "Round 3 (on demand" in nudges[0].sections[0] and "6 answers" in nudges[0].sections[0]
    await w.say(BOSS, "admin feedback close")  # nothing open any more: refused, and no second nudge
    await w.run_jobs()
    await w.deliver()
    assert sum(m.text.startswith("Psychological safety in") for m in w.console.to(BOSS)) == 1


async def test_an_ended_pair_still_counts_for_the_rounds_it_was_part_of() -> None:
    w = await seeded()
    await w.say(BOSS, "admin unpair console:U0ADA0000 console:U0GRACE00")
    ada = next(p for p in w.state.people.values() if p.profile.name == "Ada Park")
    assert [p.state for p in w.state.pairs.values() if p.mentor_id == ada.id] == ["ended"]
    message = only_message((await w.say(BOSS, "admin report")).messages)
    facts = {f.label: f.value for f in message.facts}
    assert facts["Pairs that met"] == "100 % (6 of 6)"  # the ended pair is remembered through its check-ins
    assert "Everyone: 12 answers" in "\n".join(message.sections)
