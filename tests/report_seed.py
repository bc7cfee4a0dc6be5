"""A cohort half-way through, written through the ports: pairs, check-ins, objectives, nudges, two closed rounds.

Works on the memory fakes and on the real SQL repositories alike, so report tests read the same story everywhere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from conversations.events import Actor
from conversations.model import (
    CheckIn,
    Cohort,
    FeedbackAnswer,
    FeedbackRound,
    Nudge,
    Objective,
    Pair,
    Person,
    Profile,
    Reason,
    Role,
)
from conversations.ports import UnitOfWorkFactory

MENTORS = ("Ada Park", "Ben Okafor", "Chloe Martin", "Dev Sharma", "Eli Novak", "Femi Adeyemi")
MENTEES = ("Grace Liu", "Hugo Brandt", "Ines Costa", "Jon Berg", "Kira Sato", "Liam Walsh")
COHORT = "Spring 2027"
COMMENT = "Grace helped me see TikTok differently; ask @kira or grace.liu@example.com"


@dataclass(frozen=True)
class Seeded:
    cohort: Cohort
    people: dict[str, Person]  # by name
    pairs: tuple[Pair, ...]
    rounds: tuple[FeedbackRound, ...]


def _profile(name: str, role: Role) -> Profile:
    return Profile(name=name, role=role, level="L2" if role == "mentor" else "L8", department="Eng",
                   time_zone="Europe/Paris", working_days=("mon", "tue", "wed", "thu", "fri"), work_start="09:00",
                   work_end="17:00", topics_teach=("GenAI",), topics_learn=(), languages=("English",),
                   email=f"{name.split()[0].lower()}@example.com")


def answers_of(cohort_id: str, round_id: str, role: Role, *, safety: int, value: int, again: int,
             comment: str = "") -> list[FeedbackAnswer]:
    rows = [FeedbackAnswer(id="", cohort_id=cohort_id, round_id=round_id, role=role, question=q, value=v)
            for q, v in (("safety_tough_topic", safety), ("safety_mistakes", 6 - safety), ("safety_valued", safety),
                         ("value", value), ("again", again))]
    if comment:
        rows.append(FeedbackAnswer(id="", cohort_id=cohort_id, round_id=round_id, role=role, question="comment",
                                   value=None, text=comment))
    return rows


async def seed_cohort(uow_factory: UnitOfWorkFactory, *, platform: str, workspace: str, now: datetime,
                      user_ids: tuple[str, ...] | None = None, low_safety_end: bool = True) -> Seeded:
    """Six pairs eight weeks in: three check-in rounds, objectives, nudges, a mid round everyone answered
    (12 answers: every group shows, free text too) and an end round of 3 mentors and 4 mentees (7: only
    the total shows; with k=5 the roles hide each other), whose safety is low when `low_safety_end`."""
    names = (*MENTORS, *MENTEES)
    ids = user_ids or tuple(f"U0{n.split()[0].upper():0<7}" for n in names)
    started = now - timedelta(weeks=8)
    ids_iter = itertools.count(1)
    cohort = Cohort(id="cohort-" + workspace[:8], platform=platform, workspace=workspace, name=COHORT,
                    state="running", weeks=12, cadence="biweekly", created_at=started - timedelta(days=7),
                    started_at=started, members_left=1)
    people: dict[str, Person] = {}
    async with uow_factory() as uow:
        await uow.cohorts.add(cohort)
        for i, (name, user) in enumerate(zip(names, ids, strict=True)):
            person = Person(id=f"p{i:02d}-{workspace[:6]}", actor=Actor(platform, workspace, user),
                            profile=_profile(name, "mentor" if name in MENTORS else "mentee"),
                            status="paused" if name == "Liam Walsh" else "active", created_at=started)
            await uow.people.add(person)
            if person.status == "paused":
                await uow.people.save(person)
            await uow.cohorts.add_member(cohort.id, person.id, started)
            people[name] = person
        pairs = tuple(
            Pair(id=f"pair{i}-{workspace[:6]}", cohort_id=cohort.id, mentor_id=people[m].id,
                 mentee_id=people[e].id, score=70 + i,
                 reasons=(Reason("topics", 30, f"covers {e.split()[0]}'s wanted topics: GenAI"),
                          Reason("levels", 10, "6 levels apart")),
                 created_at=started)
            for i, (m, e) in enumerate(zip(MENTORS, MENTEES, strict=True)))
        for pair in pairs:
            await uow.pairs.add(pair)
            await uow.objectives.add(Objective(f"obj-{pair.id}", pair.id, "Ship a GenAI prototype", pair.mentee_id,
                                               agreed=True, progress=2))
        for round_number in (1, 2, 3):
            for n, pair in enumerate(pairs):
                for person_id in (pair.mentor_id, pair.mentee_id):
                    met = (n + round_number) % 3 != 0  # two pairs in three met each round
                    sent_at = started + timedelta(weeks=2 * round_number)
                    await uow.checkins.add(CheckIn(
                        id=f"ci{next(ids_iter)}-{workspace[:6]}", pair_id=pair.id, person_id=person_id,
                        round=round_number, due_at=sent_at, state="answered", sent_at=sent_at,
                        answer="yes" if met else "not_yet", answered_at=sent_at + timedelta(hours=3)))
        for pair in pairs[:3]:
            nudge_id = await uow.nudges.add(Nudge(id=0, pair_id=pair.id, person_id=pair.mentor_id,
                                                  trigger="before_first_meeting", due_at=started))
            assert nudge_id is not None
            await uow.nudges.mark_sent(nudge_id, started + timedelta(hours=1), started.date().isoformat())
        await uow.commit()

    rounds: list[FeedbackRound] = []
    for kind, opened, answers in (
        ("mid", started + timedelta(weeks=5), [
            *(a for m in MENTORS for a in answers_of(cohort.id, "", "mentor", safety=4, value=4, again=1,
                                                    comment=COMMENT if m == MENTORS[0] else "")),
            *(a for _ in MENTEES for a in answers_of(cohort.id, "", "mentee", safety=5, value=5, again=1))]),
        ("end", started + timedelta(weeks=7), [
            *(a for _ in MENTORS[:3] for a in answers_of(cohort.id, "", "mentor", safety=2 if low_safety_end else 4,
                                                        value=3, again=0)),
            *(a for _ in MENTEES[:4] for a in answers_of(cohort.id, "", "mentee", safety=3 if low_safety_end else 5,
                                                        value=4, again=1))]),
    ):
        feedback_round = FeedbackRound(id=f"round-{kind}-{workspace[:6]}", cohort_id=cohort.id, kind=kind,  # type: ignore[arg-type]
                                       opened_at=opened, closes_at=opened + timedelta(days=7))
        async with uow_factory() as uow:
            assert await uow.feedback.open_round(feedback_round)
            await uow.feedback.add_answers([FeedbackAnswer(id=f"a{next(ids_iter)}", cohort_id=a.cohort_id,
                                                           round_id=feedback_round.id, role=a.role,
                                                           question=a.question, value=a.value, text=a.text)
                                            for a in answers])
            await uow.commit()
        async with uow_factory() as uow:
            assert await uow.feedback.close_round(feedback_round.id, opened + timedelta(days=7))
            await uow.commit()
            closed = await uow.feedback.get_round(feedback_round.id)
            assert closed is not None
            rounds.append(closed)
    return Seeded(cohort=cohort, people=people, pairs=pairs, rounds=tuple(rounds))
