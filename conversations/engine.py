"""The dispatcher: routes each neutral event to its flow and turns surprises into a kind message."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from conversations import admin, checkins, feedback, helpdesk, home, hr_import, membership, nudges, objectives, signup
from conversations.deps import Deps
from conversations.events import (
    ActionTaken,
    Command,
    Event,
    FileShared,
    FormSubmitted,
    HomeOpened,
    Installed,
    Unreachable,
    WorkspaceRemoved,
)
from conversations.messages import NOTHING, Reply
from conversations.outbox import mark_unreachable
from conversations.profiles import SIGNUP_FORM

log = logging.getLogger("mentorbot.engine")

E = TypeVar("E")
Flow = Callable[[E], Awaitable[Reply]]

HELP: tuple[tuple[str, str], ...] = (
    ("join", "sign up, or join the cohort that is open"),
    ("profile", "see your profile (`profile edit` to change it)"),
    ("status", "where you stand"),
    ("pause [weeks]", "no check-ins or nudges for a while"),
    ("resume", "end a pause early"),
    ("objectives", "your pair's learning objectives"),
    ("feedback", "give anonymous feedback on the open round"),
    ("leave", "leave the program and delete your data"),
    ("help", "this list"),
)


class Engine:
    """One entry point for every platform: `await engine.dispatch(event)` gives the straight reply."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._commands: Mapping[str, Callable[..., Awaitable[Reply]]] = {
            "help": self._help,
            "join": signup.on_join,
            "signup": signup.on_join,
            "profile": signup.on_profile,
            "status": membership.on_status,
            "pause": membership.on_pause,
            "resume": membership.on_resume,
            "leave": membership.on_leave,
            "admin": admin.on_admin,
            "objectives": objectives.on_objectives,
            "feedback": feedback.on_feedback,
        }
        self._actions: Mapping[str, Callable[..., Awaitable[Reply]]] = {
            "profile.edit": signup.on_profile_edit,
            "signup.start": signup.on_signup_start,
            "cohort.join": signup.on_cohort_join,
            "pause.start": membership.on_pause_button,
            "pause.resume": membership.on_resume_button,
            "leave.confirm": membership.on_leave_confirm,
            "leave.cancel": membership.on_leave_cancel,
            "admin.run": admin.on_admin_button,
            "objectives.propose": objectives.on_propose,
            "objectives.agree": objectives.on_agree,
            feedback.START: feedback.on_start,
            checkins.ANSWER: checkins.on_answer,
            "help.write": helpdesk.on_write_button,
            "help.reply": helpdesk.on_reply_button,
            nudges.FIT_GOOD: nudges.on_going_well,
            nudges.FIT_REPAIR: nudges.on_not_a_fit,
        }
        self._forms: Mapping[str, Callable[..., Awaitable[Reply]]] = {
            SIGNUP_FORM: signup.on_signup_submitted,
            objectives.OBJECTIVES_FORM: objectives.on_submitted,
            feedback.FEEDBACK_FORM: feedback.on_submitted,
            checkins.DETAILS_FORM: checkins.on_details,
            helpdesk.PERSON_FORM: helpdesk.on_person_submitted,
            helpdesk.ADMIN_FORM: helpdesk.on_reply_submitted,
        }

    @property
    def command_names(self) -> tuple[str, ...]:
        return tuple(self._commands)

    async def dispatch(self, event: Event) -> Reply:
        """Handle one event; never raises for anything a person did."""
        try:
            return await self._route(event)
        except Exception:
            log.exception("unexpected error handling %s", type(event).__name__)
            return Reply.say("Sorry, something went wrong on my side and nothing was changed.",
                             "Please try again in a minute; if it keeps happening, tell a program admin.")

    async def _route(self, event: Event) -> Reply:
        deps = self.deps
        if isinstance(event, Command):
            flow = self._commands.get(event.name)
            if flow is None:
                return self._unknown(event)
            return await flow(event, deps=deps)
        if isinstance(event, ActionTaken):
            flow = self._actions.get(event.action)
            if flow is None:
                log.info("ignoring unknown action %r", event.action[:60])
                return NOTHING
            return await flow(event, deps=deps)
        if isinstance(event, FormSubmitted):
            flow = self._forms.get(event.form)
            if flow is None:
                return Reply.say("That form is no longer in use; please start again.")
            return await flow(event, deps=deps)
        if isinstance(event, HomeOpened):
            return await home.on_home_opened(event, deps=deps)
        if isinstance(event, FileShared):
            return await hr_import.on_file_shared(event, deps=deps)
        if isinstance(event, Installed):
            return NOTHING
        if isinstance(event, WorkspaceRemoved):
            async with deps.uow() as uow:
                for person in await uow.people.in_workspace(event.platform, event.workspace):
                    if person.status != "unreachable":
                        await uow.people.save(person.with_status("unreachable"))
                await uow.commit()
            log.info("%s workspace removed (%s): its people are unreachable", event.platform, event.reason)
            return NOTHING
        if isinstance(event, Unreachable):
            async with deps.uow() as uow:
                await mark_unreachable(uow, deps, event.actor, event.reason)
                await uow.commit()
            return NOTHING
        return NOTHING

    def _unknown(self, cmd: Command) -> Reply:
        known = [c for c in self._commands if c != "signup"]
        close = difflib.get_close_matches(cmd.name, known, n=1, cutoff=0.5)
        hint = (f"Did you mean `{self.deps.command_hint(cmd.actor, close[0])}`?" if close
                else "Here is what I understand:")
        reply = self._help_reply(cmd)
        return Reply.say(f"I don't know the command '{cmd.name[:40]}'.", hint, *reply.messages[0].sections)

    async def _help(self, cmd: Command, *, deps: Deps) -> Reply:
        reply = self._help_reply(cmd)
        async with deps.uow() as uow:
            is_admin = await deps.is_admin(uow, cmd.actor)
        if is_admin:
            extra = f"You're a program admin: `{deps.command_hint(cmd.actor, 'admin help')}` lists admin commands."
            return Reply.say(reply.messages[0].text, *reply.messages[0].sections, extra)
        return reply

    def _help_reply(self, cmd: Command) -> Reply:
        lines = [f"`{self.deps.command_hint(cmd.actor, usage)}`: {what}" for usage, what in HELP]
        return Reply.say("Reverse mentoring: what you can do", "\n".join(lines))
