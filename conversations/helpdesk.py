"""The confidential "I need help" thread between one person and the program admins; their partner never sees it."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping

from conversations import audit
from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.directory import admins_of
from conversations.events import ActionTaken, Actor, Command, FormSubmitted, FormValue
from conversations.messages import Button, Fact, Field, Form, Message, Reply
from conversations.model import HelpMessage, HelpRequest, Pair, Person
from conversations.ports import UnitOfWork

log = logging.getLogger("mentorbot.helpdesk")

PERSON_FORM = "help.message"  # the person writes to the admins
ADMIN_FORM = "help.reply"  # an admin writes to the person
MAX_TEXT = 2000
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: admins type these ids
_ID = re.compile(r"^[A-Za-z0-9]{5}$")
CONFIDENTIAL = "Only the program admins see this; your partner doesn't, and never will from me."


class HelpRefused(Exception):
    """An admin's reply can't be sent; the message says why and what to do."""


def _new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(5))


def acknowledgement(request: HelpRequest, *, topic: str = "help") -> Message:
    """What the person is told when their request reaches the admins."""
    what = "a new partner, no blame on anyone" if topic == "re-pair" else "help"
    return Message(
        f"Your request for {what} is with the program admins.",
        (CONFIDENTIAL, "An admin will answer you here. Want to tell them more? Write to them with the button; "
         f"your request is {request.id}."),
        buttons=(Button("Write to the admins", "help.write", request.id, style="primary"),))


async def open_request(uow: UnitOfWork, deps: Deps, person: Person, pair: Pair | None, text: str,
                       *, topic: str = "help", acknowledge: bool = True) -> HelpRequest:
    """Open a thread: the person gets an acknowledgement, the admins get the request with its id for
    `admin reply ID text`; the partner never sees any of it. `topic` is "help" or "re-pair".

    `acknowledge=False` leaves the acknowledgement to the caller (a click answered straight away)."""
    now = deps.clock.now()
    request_id = _new_id()
    for _ in range(10):  # 31^5 ids: a collision is rare, and checked
        if await uow.help.get(request_id) is None:
            break
        request_id = _new_id()
    request = HelpRequest(id=request_id, person_id=person.id, cohort_id=pair.cohort_id if pair else None,
                          pair_id=pair.id if pair else None, opened_at=now)
    await uow.help.open(request)
    await uow.help.add_message(HelpMessage(request_id=request.id, author="person", text=text[:MAX_TEXT], at=now))
    if acknowledge:
        await uow.outbox.enqueue(person.actor, acknowledgement(request, topic=topic), now)
    partner = None
    if pair is not None:
        partner = await uow.people.get(pair.mentee_id if pair.mentor_id == person.id else pair.mentor_id)
    cohort = await uow.cohorts.get(pair.cohort_id) if pair else None
    facts = [Fact("From", f"{person.profile.name} ({person.profile.role})")]
    if partner is not None:
        facts.append(Fact("Their partner", f"{partner.profile.name} (does not know about this request)"))
    if cohort is not None:
        facts.append(Fact("Cohort", cohort.name))
    facts.append(Fact("Request", request.id))
    asks = "asks for a new partner, blame-free" if topic == "re-pair" else "asks for help"
    admins = await admins_of(uow, deps, person.actor.platform, person.actor.workspace)
    if not admins:
        log.warning("help request %s: no program admin in this workspace to tell", request.id)
    for admin in admins:
        await uow.outbox.enqueue(admin, Message(
            f"Confidential: {person.profile.name} {asks} (request {request.id})",
            (text[:MAX_TEXT], "Keep it between you and them: their partner sees nothing of this thread. "
             f"Answer with the button, or `{deps.command_hint(admin, f'admin reply {request.id} your answer')}`."),
            facts=tuple(facts),
            buttons=(Button("Reply", "help.reply", request.id, style="primary"),)), now, about=person.id)
    log.info("help request %s opened (%s)", request.id, topic)
    return request


def _text(values: Mapping[str, FormValue], name: str) -> str:
    raw = values.get(name, "")
    return (", ".join(raw) if isinstance(raw, tuple) else str(raw)).strip()


def _reply_form(request_id: str, who: str) -> Form:
    return Form(id=ADMIN_FORM, title="Answer a help request", submit_label="Send", context=request_id,
                intro=f"Your answer goes to {who} only, never to their partner.",
                fields=(Field("message", "Your answer", "long_text", max_length=MAX_TEXT),))


def _person_form(request_id: str) -> Form:
    return Form(id=PERSON_FORM, title="Write to the admins", submit_label="Send", context=request_id,
                intro=CONFIDENTIAL,
                fields=(Field("message", "Your message", "long_text", max_length=MAX_TEXT),))


async def _request_in(uow: UnitOfWork, admin: Actor, request_id: str) -> tuple[HelpRequest, Person]:
    """The request and its person, if it belongs to the admin's workspace."""
    request = await uow.help.get(request_id.upper()) if _ID.match(request_id) else None
    person = await uow.people.get(request.person_id) if request else None
    if request is None or person is None or (person.actor.platform, person.actor.workspace) != (
            admin.platform, admin.workspace):
        raise HelpRefused(f"There is no help request '{request_id[:20]}'. The id is in the request's message "
                          "(5 letters and digits).")
    return request, person


async def send_reply(uow: UnitOfWork, deps: Deps, admin: Actor, request_id: str, text: str) -> str:
    """Write an admin's answer into the thread and send it to the person; returns their name."""
    text = text.strip()
    if not text:
        raise HelpRefused(f"Write the answer after the id: `admin reply {request_id[:20]} your answer`.")
    if len(text) > MAX_TEXT:
        raise HelpRefused(f"The answer is {len(text)} characters; at most {MAX_TEXT} fit in one message.")
    request, person = await _request_in(uow, admin, request_id)
    now = deps.clock.now()
    await uow.help.add_message(HelpMessage(request_id=request.id, author="admin", text=text, at=now))
    await uow.outbox.enqueue(person.actor, Message(
        f"A program admin answered your request {request.id}",
        (text, CONFIDENTIAL),
        buttons=(Button("Answer", "help.write", request.id, style="primary"),)), now)
    return person.profile.name


async def admin_reply(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin reply ID text`: answer a help request (audited by the admin router, without the text)."""
    if len(cmd.args) < 2:
        raise HelpRefused("Say which request: `admin reply ID your answer` (the id is in the request).")
    name = await send_reply(uow, deps, cmd.actor, cmd.args[1], cmd.rest(2))
    return Reply.say(f"Sent to {name}.", "Only they see it; their partner doesn't.")


async def on_reply_button(action: ActionTaken, *, deps: Deps) -> Reply:
    """An admin's Reply button: a form for the answer (quotes and line breaks come through as written)."""
    async with deps.uow() as uow:
        if not await deps.is_admin(uow, action.actor):
            await audit.record(uow, deps.clock, action.actor, "admin.reply", "denied")
            await uow.commit()
            return Reply.say("Only program admins can answer help requests.")
        try:
            _, person = await _request_in(uow, action.actor, action.value)
        except HelpRefused as problem:
            return Reply.say("That didn't work.", str(problem))
    return Reply(form=_reply_form(action.value, person.profile.name), replace=None)


async def on_reply_submitted(form: FormSubmitted, *, deps: Deps) -> Reply:
    text = _text(form.values, "message")
    if not text:
        return Reply(errors={"message": "Write your answer."}, form=_reply_form(form.context, "them"))
    if len(text) > MAX_TEXT:
        return Reply(errors={"message": f"{len(text)} characters; at most {MAX_TEXT}."},
                     form=_reply_form(form.context, "them"))
    async with deps.uow() as uow:
        if not await deps.is_admin(uow, form.actor):
            await audit.record(uow, deps.clock, form.actor, "admin.reply", "denied")
            await uow.commit()
            return Reply.say("Only program admins can answer help requests.")
        try:
            name = await send_reply(uow, deps, form.actor, form.context, text)
        except HelpRefused as problem:
            await uow.rollback()
            refused = str(problem)
        else:
            await audit.record(uow, deps.clock, form.actor, "admin.reply", "ok")
            await uow.commit()
            return Reply(replace=Message(f"Sent to {name}.", ("Only they see it; their partner doesn't.",)))
    async with deps.uow() as uow:
        await audit.record(uow, deps.clock, form.actor, "admin.reply", "invalid")
        await uow.commit()
    return Reply.say("That didn't work.", refused)


async def _own_request(uow: UnitOfWork, actor: Actor, request_id: str) -> tuple[HelpRequest, Person] | None:
    me = await the_caller(uow, actor)
    request = await uow.help.get(request_id) if me and _ID.match(request_id) else None
    if me is None or request is None or request.person_id != me.id:
        return None
    return request, me


async def on_write_button(action: ActionTaken, *, deps: Deps) -> Reply:
    """The person's button under an acknowledgement or an admin's answer: a form to write back."""
    async with deps.uow() as uow:
        found = await _own_request(uow, action.actor, action.value)
        await uow.commit()
    if found is None:
        return Reply.say("That request isn't yours, or it no longer exists.")
    return Reply(form=_person_form(found[0].id))


async def on_person_submitted(form: FormSubmitted, *, deps: Deps) -> Reply:
    """The person's words go to the admins, in the same thread; nobody else."""
    text = _text(form.values, "message")
    if not text or len(text) > MAX_TEXT:
        error = "Write your message." if not text else f"{len(text)} characters; at most {MAX_TEXT}."
        return Reply(errors={"message": error}, form=_person_form(form.context))
    async with deps.uow() as uow:
        found = await _own_request(uow, form.actor, form.context)
        if found is None:
            await uow.commit()
            return Reply.say("That request isn't yours, or it no longer exists.")
        request, me = found
        now = deps.clock.now()
        await uow.help.add_message(HelpMessage(request_id=request.id, author="person", text=text, at=now))
        for admin in await admins_of(uow, deps, me.actor.platform, me.actor.workspace):
            await uow.outbox.enqueue(admin, Message(
                f"Confidential: {me.profile.name} wrote on request {request.id}", (text,),
                buttons=(Button("Reply", "help.reply", request.id, style="primary"),)), now, about=me.id)
        await uow.commit()
    return Reply(replace=Message("Sent to the program admins.", (CONFIDENTIAL,)))
