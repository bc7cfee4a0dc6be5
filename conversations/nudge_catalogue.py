"""The nudge catalogue, typed: app.yaml's `program.nudges`, each entry with its switch and its texts per role.

The defaults here are the texts app.yaml documents; an entry written in app.yaml only needs the keys it changes
(`mid_program: {enabled: false}` keeps the texts). Who gets which nudge is fixed by the program, not by the file:
an entry has exactly the roles it goes to ("mentor" is the junior, "mentee" the senior).
"""

from __future__ import annotations

import string
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PERSON_PLACEHOLDERS = ("partner", "cohort", "weeks", "pause", "objectives")
ADMIN_PLACEHOLDERS = ("mentor", "mentee", "cohort")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_placeholders(text: str, allowed: tuple[str, ...]) -> str:
    """Refuse a placeholder the bot cannot fill, and a stray brace, at start rather than at send time."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as error:
        raise ValueError(f"{error}; write {{{{ or }}}} for a literal brace") from None
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown placeholder {{{unknown[0]}}}; these can be used: "
                         + ", ".join(f"{{{a}}}" for a in allowed))
    return text


class NudgeText(_Strict):
    """One message: a headline and a few short paragraphs. {partner}, {cohort}, {weeks}, {pause} (how to type the
    pause command on the person's platform) and {objectives} (the objectives command) are filled in."""

    placeholders: ClassVar[tuple[str, ...]] = PERSON_PLACEHOLDERS

    title: str = Field(min_length=1, max_length=150)
    text: tuple[str, ...] = Field(min_length=1, max_length=6)

    @field_validator("title")
    @classmethod
    def _title_placeholders(cls, title: str) -> str:
        return _check_placeholders(title, cls.placeholders)

    @field_validator("text")
    @classmethod
    def _paragraphs(cls, text: tuple[str, ...]) -> tuple[str, ...]:
        for paragraph in text:
            if not paragraph.strip():
                raise ValueError("a paragraph must not be blank")
            if len(paragraph) > 1500:
                raise ValueError(f"a paragraph has {len(paragraph)} characters; at most 1500 are allowed")
            _check_placeholders(paragraph, cls.placeholders)
        return text


class AdminText(NudgeText):
    """The notice admins get: {mentor}, {mentee} and {cohort} are filled in."""

    placeholders: ClassVar[tuple[str, ...]] = ADMIN_PLACEHOLDERS


class ToBoth(_Strict):
    """A nudge to each person of the pair, worded for their side."""

    enabled: bool = True
    mentor: NudgeText
    mentee: NudgeText


class ToMentee(_Strict):
    """A nudge to the senior (the mentee) only."""

    enabled: bool = True
    mentee: NudgeText


class FitCheck(ToBoth):
    """The private check after the first meeting, with its two buttons and what each click answers."""

    going_well: str = Field("Going well", min_length=1, max_length=75)
    not_a_fit: str = Field("Not a fit: re-pair me", min_length=1, max_length=75)
    going_well_reply: str = Field(min_length=1, max_length=500)
    not_a_fit_reply: str = Field(min_length=1, max_length=500)

    @field_validator("going_well_reply", "not_a_fit_reply")
    @classmethod
    def _reply_placeholders(cls, text: str) -> str:
        return _check_placeholders(text, PERSON_PLACEHOLDERS)


class Farewell(ToBoth):
    """The end of the cohort, with a button to the final anonymous feedback round when it is open."""

    feedback_button: str = Field("Give anonymous feedback", min_length=1, max_length=75)


class Inactive(ToBoth):
    """No meeting in 45 days: both are nudged, and the admins get one notice."""

    admins: AdminText


def _merged(default: Any, given: Any) -> Any:
    """`given` over `default`, key by key, so app.yaml lists only what it changes."""
    if isinstance(default, dict) and isinstance(given, dict):
        return {**default, **{k: _merged(default.get(k), v) for k, v in given.items()}}
    return given


class NudgeSettings(_Strict):
    """Psychological-safety and drift nudges: app.yaml's `program.nudges`."""

    before_first_meeting: ToBoth = ToBoth(
        mentor=NudgeText(title="Before you meet {partner}", text=(
            "Start by agreeing what stays between the two of you, and say it out loud: then neither of you has "
            "to wonder what may be repeated.",
            "You set the agenda. It is your knowledge on the table, so bring one or two things you would like to "
            "show or talk about; {partner} expects you to lead.",
            "Meet on neutral ground: a café, a quiet room that is nobody's office, or a video call from your own "
            "desk. It keeps the conversation between two people rather than two job titles.")),
        mentee=NudgeText(title="Before you meet {partner}", text=(
            "Start by agreeing what stays between the two of you, and say it out loud: {partner} will be more "
            "candid once the boundaries are clear.",
            "Let {partner} set the agenda. Here they are the expert; your part is to ask, listen, and resist "
            "steering.",
            "Meet on neutral ground rather than in your office: a café, a quiet meeting room, or a video call. "
            "It makes it easier for both of you to leave the org chart at the door.")),
    )
    after_first_meeting: FitCheck = FitCheck(
        mentor=NudgeText(title="How is it going with {partner}?", text=(
            "A quick check, just for you: {partner} never sees your answer, and only the program admins hear of "
            "it if you ask for a change.",
            "Some pairs don't click, and that is nobody's fault. If this one isn't working for you, say so now "
            "and the admins will find you a new partner, no explanation needed.")),
        mentee=NudgeText(title="How is it going with {partner}?", text=(
            "A quick check, just for you: {partner} never sees your answer, and only the program admins hear of "
            "it if you ask for a change.",
            "Some pairs don't click, and that is nobody's fault. If this one isn't working for you, say so now "
            "and the admins will find you a new partner, no explanation needed.")),
        going_well_reply="Glad to hear it. Enjoy the next one.",
        not_a_fit_reply=("Thank you for saying so. It is nobody's fault, and {partner} is not told: the program "
                         "admins will find you a new partner."),
    )
    senior_rescheduled: ToMentee = ToMentee(
        mentee=NudgeText(title="Your sessions with {partner} keep moving", text=(
            "Two of your sessions have been rescheduled. It happens in a full diary, but to a more junior "
            "colleague a moved meeting can read as \"this doesn't matter\".",
            "Pick a slot you can protect and tell {partner} it is protected. If the program doesn't fit your "
            "calendar right now, a pause is a fair answer too: {pause}.")),
    )
    no_meeting_twice: ToBoth = ToBoth(
        mentor=NudgeText(title="A reset with {partner}?", text=(
            "The last two check-ins passed without a meeting. That is common around deadlines and holidays, and "
            "easy to fix.",
            "Any of these is fine: a 15-minute call just to reconnect, a new date in both calendars, or a pause "
            "until things calm down ({pause}).",
            "You don't need to wait for {partner} to suggest it: a short message from you is enough.")),
        mentee=NudgeText(title="A reset with {partner}?", text=(
            "The last two check-ins passed without a meeting. That is common around deadlines and holidays, and "
            "easy to fix.",
            "Any of these is fine: a 15-minute call just to reconnect, a new date in both calendars, or a pause "
            "until things calm down ({pause}).",
            "A message from you goes a long way: it tells {partner} this still matters to you.")),
    )
    inactive_45_days: Inactive = Inactive(
        mentor=NudgeText(title="It has been a while since you and {partner} met", text=(
            "No meeting has been recorded in 45 days.",
            "If the pairing still works for you, send {partner} two possible dates this week. If it doesn't, "
            "that is all right: pause with {pause}, or answer the next check-in with \"I need help\" and an "
            "admin will sort it out with you, privately.")),
        mentee=NudgeText(title="It has been a while since you and {partner} met", text=(
            "No meeting has been recorded in 45 days.",
            "If the pairing still works for you, send {partner} two possible dates this week. If it doesn't, "
            "that is all right: pause with {pause}, or answer the next check-in with \"I need help\" and an "
            "admin will sort it out with you, privately.")),
        admins=AdminText(title="Pair inactive: {mentor} and {mentee}", text=(
            "No meeting has been recorded for this pair in '{cohort}' in 45 days. Both have had a nudge.",
            "A friendly word from you may help them restart; if the fit isn't there, a re-pair may be kinder.")),
    )
    mid_program: ToBoth = ToBoth(
        mentor=NudgeText(title="Halfway: tell {partner} one thing you see differently", text=(
            "At your next meeting, name one thing you disagree with: a decision, a habit, a way things are done.",
            "It is what {partner} signed up for. One honest, respectful disagreement from you is worth more to "
            "them than ten polite nods.")),
        mentee=NudgeText(title="Halfway: a question for {partner}", text=(
            "At your next meeting, ask {partner}: \"If you were in my seat, what would you change?\" Then hear "
            "the whole answer before you respond.",
            "It is the question that gets the most out of reverse mentoring, and asking it shows {partner} their "
            "view is safe to share.")),
    )
    no_progress: ToBoth = ToBoth(
        mentor=NudgeText(title="Your objectives with {partner} haven't moved", text=(
            "Your last two sessions recorded no progress on your learning objectives. That is worth knowing, "
            "not a failure.",
            "You set the agenda: next time, spend ten minutes on the objectives together. Still the right ones? "
            "Is one too big? Rewrite them if needed ({objectives}).")),
        mentee=NudgeText(title="Your objectives with {partner} haven't moved", text=(
            "Your last two sessions recorded no progress on your learning objectives. That is worth knowing, "
            "not a failure.",
            "Next time, ask {partner} for ten minutes on the objectives. Still the right ones? Is one too big? "
            "Rewrite them together if needed ({objectives}).")),
    )
    two_thirds: ToMentee = ToMentee(
        mentee=NudgeText(title="Tell {partner} one thing you changed", text=(
            "You are two-thirds of the way through. At your next meeting, tell {partner} one concrete thing you "
            "now do differently because of your conversations: a tool you tried, a meeting you ran another way, "
            "a decision you revisited.",
            "Junior colleagues rarely hear what their advice led to. Hearing it shows the time was worth it, and "
            "makes the last third more candid.")),
    )
    cohort_end: Farewell = Farewell(
        mentor=NudgeText(title="'{cohort}' is ending: thank you for mentoring", text=(
            "You shared what you know with someone senior to you, and that takes courage. Thank you.",
            "Take five minutes to reflect: what did you learn about how decisions are made, and what would you "
            "like to try next?",
            "One last thing: the final feedback round is anonymous. Tell us honestly how it went, so the next "
            "cohort is better.")),
        mentee=NudgeText(title="'{cohort}' is ending: time to reflect", text=(
            "Take five minutes to reflect: what do you see differently now, and what will you keep doing?",
            "Then tell {partner} what you learned from them, and consider telling their manager too: reverse "
            "mentors rarely get recognised for this work, and it matters.",
            "One last thing: the final feedback round is anonymous. Tell us honestly how it went, so the next "
            "cohort is better.")),
        feedback_button="Give anonymous feedback",
    )

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, given in data.items():
            field = cls.model_fields.get(name)
            if field is not None and isinstance(field.default, BaseModel) and isinstance(given, dict):
                merged[name] = _merged(field.default.model_dump(), given)
        return merged


TRIGGERS: tuple[str, ...] = tuple(NudgeSettings.model_fields)
