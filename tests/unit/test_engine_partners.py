"""When one side of a pair drops out, the other is told kindly and goes back on the waiting list."""

from __future__ import annotations

from conversations.events import Actor
from tests.fakes.memory import World

BOSS = Actor("console", "console", "boss")
MIA = Actor("console", "console", "mia")  # junior mentor
SAM = Actor("console", "console", "sam")  # senior mentee


async def _paired(w: World) -> str:
    await w.say(BOSS, 'admin cohort open "Spring" --weeks 8')
    await w.sign_up(MIA, name="Mia", role="mentor", level="L2", department="Engineering", topics_teach=("GenAI",))
    await w.sign_up(SAM, name="Sam", role="mentee", level="L9", department="Sales", topics_learn=("GenAI",),
                    topics_teach=())
    await w.say(BOSS, "admin cohort close-signup")
    reply = await w.say(BOSS, "admin pair console:mia console:sam")
    assert "Paired Mia (mentor) with Sam" in reply.messages[0].text, reply
    await w.deliver()
    w.console.sent.clear()
    [pair] = [p for p in w.state.pairs.values() if p.state == "active"]
    return pair.id


async def test_a_pause_past_the_cohorts_end_ends_the_pair_and_tells_the_partner() -> None:
    w = World()
    await _paired(w)
    await w.say(SAM, "pause 12")
    await w.deliver()
    assert [p.state for p in w.state.pairs.values()] == ["ended"]
    assert w.console.texts_to(MIA) == ["Your pair has ended"]
    assert "break that lasts past the end of the cohort" in str(w.console.to(MIA)[0].sections)


async def test_a_short_pause_keeps_the_pair() -> None:
    w = World()
    await _paired(w)
    await w.say(SAM, "pause 2")
    await w.deliver()
    assert [p.state for p in w.state.pairs.values()] == ["active"]
    assert w.console.texts_to(MIA) == []


async def test_a_partner_the_platform_lost_ends_the_pair_and_the_other_is_told() -> None:
    w = World()
    await _paired(w)
    await w.say(BOSS, "admin pause console:sam 1")  # queues one message to sam
    w.console.fail_next(1, "account_inactive", permanent=True)
    await w.deliver()
    await w.deliver()
    assert [p.state for p in w.state.pairs.values()] == ["ended"]
    assert "Your pair has ended" in w.console.texts_to(MIA)


async def test_where_the_platform_has_group_messages_a_pair_gets_one_intro_together() -> None:
    w = World()
    w.console.group_messages = True
    await _paired(w)  # _paired delivers the intros and clears the transcript first; pair again to watch them
    reply = await w.say(BOSS, "admin unpair console:mia console:sam")
    assert "Unpaired" in reply.messages[0].text
    w.state.pairs.clear()
    await w.say(BOSS, "admin pair console:mia console:sam")
    await w.deliver()
    intros = [(to, m) for to, m in w.console.sent if m.text.startswith("Meet each other")]
    assert len(intros) == 1
    assert set(intros[0][0]) == {MIA, SAM}


async def test_a_private_avoid_list_keeps_two_people_apart_and_is_never_shown() -> None:
    w = World()
    await w.say(BOSS, 'admin cohort open "Spring" --weeks 8')
    await w.sign_up(MIA, name="Mia", role="mentor", level="L2", department="Engineering", topics_teach=("GenAI",),
                    email="mia@example.com")
    await w.sign_up(SAM, name="Sam", role="mentee", level="L9", department="Sales", topics_learn=("GenAI",),
                    topics_teach=(), email="sam@example.com", avoid="Mia@Example.com")
    preview = await w.say(BOSS, "admin match preview")
    text = str(preview.messages[0])
    assert "Mia mentors Sam" not in text
    assert "mia@example.com" not in text.lower()  # the list itself is never shown to admins
    forced = await w.say(BOSS, "admin pair console:mia console:sam")
    assert "Not allowed" in str(forced.messages[0])


async def test_leaving_takes_ones_email_out_of_everyone_elses_avoid_list() -> None:
    w = World()
    await w.sign_up(MIA, name="Mia", role="mentor", email="mia@example.com")
    await w.sign_up(SAM, name="Sam", role="mentee", level="L9", topics_learn=("GenAI",), topics_teach=(),
                    email="sam@example.com", avoid="mia@example.com, other@example.com")
    await w.say(MIA, "leave")
    await w.click(MIA, "leave.confirm")
    sam = w.person(SAM)
    assert sam is not None and sam.profile.avoid == ("other@example.com",)
