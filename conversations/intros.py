"""Introducing a new pair well: who the other is, why them, what is expected, a first agenda, a first nudge."""

from __future__ import annotations

from datetime import datetime

from conversations.deps import Deps
from conversations.messages import Button, Fact, Message
from conversations.model import Cohort, Pair, Person
from conversations.ports import UnitOfWork

CADENCE_WORDS = {"weekly": "week", "biweekly": "two weeks", "monthly": "month"}


def intro_messages(deps: Deps, cohort: Cohort, pair: Pair, *, mentor: Person, mentee: Person
                   ) -> list[tuple[Person, Message]]:
    """One introduction per person, each written for their side of the pair."""
    intro = deps.settings.intro
    expectations = intro.expectations.format(cadence_words=CADENCE_WORDS.get(cohort.cadence, cohort.cadence),
                                             weeks=cohort.weeks)
    agenda = "Suggested first meeting:\n" + "\n".join(f"- {item}" for item in intro.agenda)
    why = "Why you two: " + ("; ".join(r.text for r in pair.reasons if r.points > 0) or "a good fit on every rule")
    out: list[tuple[Person, Message]] = []
    for me, other, nudge in ((mentor, mentee, intro.nudge_mentor), (mentee, mentor, intro.nudge_mentee)):
        p = other.profile
        brings = p.topics_teach if p.role == "mentor" else p.topics_learn
        out.append((me, Message(
            f"Meet {p.name}, your reverse-mentoring partner in '{cohort.name}'",
            (why, expectations, agenda, nudge,
             "Start by agreeing 1-3 learning objectives: propose them with the button below."),
            facts=(Fact("Your partner", f"{p.name}, {p.level}, {p.department}"),
                   Fact("Their role", "mentor (teaches you)" if p.role == "mentor" else "mentee (learns from you)"),
                   Fact("Topics" if p.role == "mentor" else "Wants to learn", ", ".join(brings) or "-"),
                   Fact("Their time zone", p.time_zone)),
            buttons=(Button("Propose objectives", "objectives.propose", pair.id, style="primary"),),
        )))
    return out


def unmatched_message(deps: Deps, cohort: Cohort | None, reason: str) -> Message:
    """Told kindly, with the reason in plain words; they stay on the waiting list."""
    where = f" in '{cohort.name}'" if cohort else ""
    return Message(
        f"No partner for you{where} yet",
        (f"The reason, in plain words: {reason}.",
         "You stay on the waiting list, and you'll be matched as soon as a good partner is there. "
         "This is about who signed up, not about you."),
    )


def group_intro(deps: Deps, cohort: Cohort, pair: Pair, *, mentor: Person, mentee: Person) -> Message:
    """One introduction for both, where the platform has group messages (a Slack group DM with the bot)."""
    intro = deps.settings.intro
    expectations = intro.expectations.format(cadence_words=CADENCE_WORDS.get(cohort.cadence, cohort.cadence),
                                             weeks=cohort.weeks)
    m, e = mentor.profile, mentee.profile
    return Message(
        f"Meet each other: {m.name} and {e.name}, a reverse-mentoring pair in '{cohort.name}'",
        ("Why you two: " + ("; ".join(r.text for r in pair.reasons if r.points > 0) or "a good fit on every rule"),
         expectations,
         "Suggested first meeting:\n" + "\n".join(f"- {item}" for item in intro.agenda),
         f"For {m.name}: {intro.nudge_mentor}",
         f"For {e.name}: {intro.nudge_mentee}",
         "Start by agreeing 1-3 learning objectives: propose them with the button below."),
        facts=(Fact("Mentor", f"{m.name}, {m.level}, {m.department}; teaches {', '.join(m.topics_teach) or '-'}"),
               Fact("Mentee", f"{e.name}, {e.level}, {e.department}; wants {', '.join(e.topics_learn) or '-'}")),
        buttons=(Button("Propose objectives", "objectives.propose", pair.id, style="primary"),),
    )


async def introduce(uow: UnitOfWork, deps: Deps, cohort: Cohort, pair: Pair, *, mentor: Person, mentee: Person,
                    at: datetime) -> None:
    """Queue the introduction: one group message where the platform has them, else one for each person."""
    messenger = deps.messengers.get(mentor.actor.platform)
    same_place = (mentor.actor.platform, mentor.actor.workspace) == (mentee.actor.platform, mentee.actor.workspace)
    if messenger is not None and messenger.group_messages and same_place:
        await uow.outbox.enqueue(mentor.actor, group_intro(deps, cohort, pair, mentor=mentor, mentee=mentee), at,
                                 also=(mentee.actor,))
        return
    for to, message in intro_messages(deps, cohort, pair, mentor=mentor, mentee=mentee):
        await uow.outbox.enqueue(to.actor, message, at, about=(mentee if to is mentor else mentor).id)
