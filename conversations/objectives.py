"""Learning objectives: one side proposes 1-3, the other agrees or suggests changes; agreed ones show in status."""

from __future__ import annotations

import uuid

from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.events import ActionTaken, Command, FormSubmitted
from conversations.messages import Button, Field, Form, Message, Reply
from conversations.model import Objective, Pair, Person
from conversations.ports import UnitOfWork

OBJECTIVES_FORM = "objectives"
MAX_OBJECTIVES = 3
MAX_LENGTH = 200


def objectives_form(pair: Pair, current: list[Objective]) -> Form:
    texts = [o.text for o in current] + [""] * MAX_OBJECTIVES
    return Form(
        id=OBJECTIVES_FORM, title="Learning objectives", submit_label="Propose", context=pair.id,
        intro="What should this mentoring change? One to three objectives, each a sentence you could check later.",
        fields=tuple(Field(f"objective_{i + 1}", f"Objective {i + 1}", "text", required=i == 0, max_length=MAX_LENGTH,
                           initial=texts[i] or None) for i in range(MAX_OBJECTIVES)))


async def _my_pair(uow: UnitOfWork, person: Person, pair_id: str | None) -> Pair | None:
    pairs = await uow.pairs.active_of(person.id)
    if pair_id is not None:
        return next((p for p in pairs if p.id == pair_id), None)
    return pairs[0] if pairs else None


def _partner_id(pair: Pair, person: Person) -> str:
    return pair.mentee_id if pair.mentor_id == person.id else pair.mentor_id


async def on_objectives(cmd: Command, *, deps: Deps) -> Reply:
    """`objectives`: what the pair agreed, what waits for agreement, and a button to propose."""
    async with deps.uow() as uow:
        me = await the_caller(uow, cmd.actor)
        pair = await _my_pair(uow, me, None) if me else None
        current = await uow.objectives.of_pair(pair.id) if pair else []
        await uow.commit()
    if me is None or pair is None:
        return Reply.say("You have no partner yet, so there are no objectives to agree.")
    if not current:
        return Reply(form=objectives_form(pair, []))
    lines = [f"{'✓' if o.agreed else '…'} {o.text}" + (f" (progress {o.progress}/4)" if o.agreed else "")
             for o in current]
    pending = any(not o.agreed for o in current)
    return Reply.say("Your learning objectives", "\n".join(lines),
                     *(["Waiting for agreement."] if pending else []),
                     buttons=(Button("Change them", "objectives.propose", pair.id),))


async def on_propose(action: ActionTaken, *, deps: Deps) -> Reply:
    async with deps.uow() as uow:
        me = await the_caller(uow, action.actor)
        pair = await _my_pair(uow, me, action.value) if me else None
        current = await uow.objectives.of_pair(pair.id) if pair else []
        await uow.commit()
    if pair is None:
        return Reply.say("That pair is no longer active.")
    return Reply(form=objectives_form(pair, current))


async def on_submitted(form: FormSubmitted, *, deps: Deps) -> Reply:
    """Store the proposal in place of the old one and ask the partner to agree."""
    texts: list[str] = []
    errors: dict[str, str] = {}
    for i in range(MAX_OBJECTIVES):
        name = f"objective_{i + 1}"
        raw = form.values.get(name, "")
        text = (", ".join(raw) if isinstance(raw, tuple) else raw).strip()
        if len(text) > MAX_LENGTH:
            errors[name] = f"Objective {i + 1} is {len(text)} characters; at most {MAX_LENGTH} are allowed."
        elif text:
            texts.append(text)
    if not texts and not errors:
        errors["objective_1"] = "Write at least one objective."
    async with deps.uow() as uow:
        me = await the_caller(uow, form.actor)
        pair = await _my_pair(uow, me, form.context) if me else None
        if pair is None or me is None:
            return Reply.say("That pair is no longer active.")
        if errors:
            return Reply(errors=errors, form=objectives_form(pair, []))
        await uow.objectives.replace(pair.id, [
            Objective(id=uuid.uuid4().hex, pair_id=pair.id, text=t, proposed_by=me.id) for t in texts])
        partner = await uow.people.get(_partner_id(pair, me))
        if partner is not None:
            await uow.outbox.enqueue(partner.actor, Message(
                f"{me.profile.name} proposes your learning objectives",
                ("\n".join(f"- {t}" for t in texts), "Agree, or suggest changes."),
                buttons=(Button("Agree", "objectives.agree", pair.id, style="primary"),
                         Button("Suggest changes", "objectives.propose", pair.id))), deps.clock.now(), about=me.id)
        await uow.commit()
    return Reply.say("Proposed.", "Your partner is asked to agree; you'll hear when they do.")


async def on_agree(action: ActionTaken, *, deps: Deps) -> Reply:
    """The partner agrees: every proposed objective of the pair counts from now on."""
    async with deps.uow() as uow:
        me = await the_caller(uow, action.actor)
        pair = await _my_pair(uow, me, action.value) if me else None
        if pair is None or me is None:
            return Reply(replace=Message("That pair is no longer active."))
        current = await uow.objectives.of_pair(pair.id)
        waiting = [o for o in current if not o.agreed]
        if not waiting:
            await uow.commit()
            return Reply(replace=Message("These objectives are agreed already."))
        if all(o.proposed_by == me.id for o in waiting):
            await uow.commit()
            return Reply.say("Your partner agrees to your proposal, not you.")
        waiting = await uow.objectives.agree(pair.id, me.id)
        if not waiting:  # another click got there first
            await uow.commit()
            return Reply(replace=Message("These objectives are agreed already."))
        proposer = await uow.people.get(waiting[0].proposed_by)
        if proposer is not None:
            await uow.outbox.enqueue(proposer.actor, Message(
                f"{me.profile.name} agreed to your learning objectives",
                ("\n".join(f"- {o.text}" for o in waiting),)), deps.clock.now(), about=me.id)
        await uow.commit()
    return Reply(replace=Message("Agreed. These are your objectives now:",
                                 ("\n".join(f"- {o.text}" for o in waiting),)))
