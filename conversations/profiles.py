"""The sign-up form and the rules a profile must meet, each failure naming the field and the fix."""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from conversations.events import Actor, FormValue
from conversations.messages import Choice, Fact, Field, Form
from conversations.model import WEEKDAYS, HrRecord, Profile, Role
from conversations.settings import ProgramSettings

SIGNUP_FORM = "signup"
AVOID_LENGTH = 500
_DAY_LABELS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
               "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
_HOURS = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*[-–to ]+\s*(\d{1,2})(?::(\d{2}))?\s*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SET_BY_HR = "Set by HR; you cannot change it here"


def is_email(text: str) -> bool:
    """Shaped like an address; whether it reaches anyone is not ours to know."""
    return bool(_EMAIL.match(text))


def hr_overrides(hr: HrRecord | None, levels: tuple[str, ...]) -> dict[str, str]:
    """The profile fields HR decides for this person: level, department, manager, where HR gave them."""
    if hr is None:
        return {}
    ladder = {lv.lower(): lv for lv in levels}
    found = {"level": ladder.get(hr.level.lower(), ""),  # a level the ladder no longer has is the person's to give
             "department": hr.department, "manager": hr.manager}
    return {name: value for name, value in found.items() if value}


def hr_keys(actor: Actor, email: FormValue | None = None) -> list[str]:
    """Where to look a person up in the HR records: their email, then their platform identity."""
    typed = (", ".join(email) if isinstance(email, tuple) else email or "").strip().lower()
    return [*([typed] if is_email(typed) else []), actor.key]


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


@lru_cache(maxsize=1)
def _zones_by_lower() -> dict[str, str]:
    return {z.lower(): z for z in time_zones()}


def normalize_time_zone(raw: str) -> str | None:
    """The canonical zone name for what a person typed, or None."""
    key = raw.strip().replace(" ", "_").lower()
    return _zones_by_lower().get(key)


def suggest_time_zone(raw: str) -> list[str]:
    """A few zones close to what was typed, for the error message."""
    key = raw.strip().replace(" ", "_").lower()
    by_lower = _zones_by_lower()
    found = difflib.get_close_matches(key, list(by_lower), n=3, cutoff=0.8)
    if not found:  # "Paris" -> "Europe/Paris"
        found = [z for z in by_lower if z.rsplit("/", 1)[-1] == key][:3]
    return [by_lower[z] for z in found]


def signup_form(settings: ProgramSettings, current: Profile | None = None, *,
                name_hint: str = "", tz_hint: str = "", hr: HrRecord | None = None) -> Form:
    """The profile form; prefilled from the current profile when editing, and with what HR decides."""
    limits = settings.limits
    wt = settings.working_time
    topics = tuple(Choice(t, t) for t in settings.topics)
    p = current
    fixed = hr_overrides(hr, settings.levels)
    form = Form(
        id=SIGNUP_FORM,
        title="Edit your profile" if p else "Join reverse mentoring",
        submit_label="Save" if p else "Join",
        intro=("Mentors are the more junior side: you teach what you know best. "
               "Mentees are the senior side: you learn, and share context back."),
        fields=(
            Field("name", "Your name", max_length=limits.name, initial=p.name if p else (name_hint or None)),
            Field("role", "I want to be a", "choice",
                  choices=(Choice("mentor", "Mentor (I teach a senior leader)"),
                           Choice("mentee", "Mentee (I am the senior who learns)")),
                  initial=p.role if p else None),
            Field("level", "Your level", "choice", choices=tuple(Choice(lv, lv) for lv in settings.levels),
                  initial=p.level if p else None),
            Field("department", "Department", max_length=limits.department, initial=p.department if p else None),
            Field("time_zone", "Time zone", "timezone", initial=p.time_zone if p else (tz_hint or None),
                  hint="An IANA name such as Europe/Paris or America/New_York"),
            Field("working_days", "Working days", "multi_choice",
                  choices=tuple(Choice(d, _DAY_LABELS[d]) for d in WEEKDAYS),
                  initial=p.working_days if p else wt.days),
            Field("working_hours", "Working hours", max_length=11,
                  initial=f"{p.work_start}-{p.work_end}" if p else f"{wt.start}-{wt.end}",
                  hint="Local time, like 09:00-17:00"),
            Field("topics_teach", "Topics you can teach", "multi_choice", required=False, choices=topics,
                  initial=p.topics_teach if p else None, hint="Mentors: pick at least one"),
            Field("topics_learn", "Topics you want to learn", "multi_choice", required=False, choices=topics,
                  initial=p.topics_learn if p else None, hint="Mentees: pick at least one"),
            Field("goals", "Your goals for the program", "long_text", required=False,
                  max_length=limits.goals, initial=p.goals if p else None),
            Field("languages", "Working languages", "multi_choice",
                  choices=tuple(Choice(lang, lang) for lang in settings.languages),
                  initial=p.languages if p else settings.languages[:1]),
            Field("manager", "Your manager's email", required=False, max_length=limits.manager,
                  initial=p.manager if p else None, hint="Keeps you from being paired inside your reporting line"),
            Field("email", "Your work email", required=False, max_length=254,
                  initial=p.email if p else None),
            Field("avoid", "People you'd rather not be paired with", required=False, max_length=AVOID_LENGTH,
                  initial=", ".join(p.avoid) if p and p.avoid else None,
                  hint="Optional work emails, separated by commas. Private: never shown to anyone, used only "
                       "to keep you apart."),
        ),
    )
    if not fixed:
        return form
    # No platform has a read-only field kind: show HR's value and say it wins; validate_profile enforces it.
    return replace(form, fields=tuple(
        replace(f, initial=fixed[f.name], hint=SET_BY_HR) if f.name in fixed else f for f in form.fields))


def _text(values: Mapping[str, FormValue], name: str) -> str:
    raw = values.get(name, "")
    if isinstance(raw, tuple):
        return ", ".join(raw).strip()
    return raw.strip()


def _many(values: Mapping[str, FormValue], name: str) -> tuple[str, ...]:
    raw = values.get(name, ())
    items = [raw] if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)


def _pick(allowed: tuple[str, ...], given: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """Map given values onto the allowed ones, case-insensitively; return (known, unknown)."""
    by_lower = {a.lower(): a for a in allowed}
    known = tuple(by_lower[g.lower()] for g in given if g.lower() in by_lower)
    unknown = [g for g in given if g.lower() not in by_lower]
    return known, unknown


def _hours(raw: str) -> tuple[str, str] | None:
    m = _HOURS.match(raw)
    if not m:
        return None
    h1, m1, h2, m2 = int(m[1]), int(m[2] or 0), int(m[3]), int(m[4] or 0)
    if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h2 == 24 and m2):
        return None
    start, end = f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"
    return (start, end) if start < end else None


def validate_profile(values: Mapping[str, FormValue], settings: ProgramSettings, hr: HrRecord | None = None
                     ) -> Profile | dict[str, str]:
    """A valid Profile, or per-field messages saying what is wrong and how to fix it; HR's values win."""
    values = {**values, **hr_overrides(hr, settings.levels)}  # whatever was sent for them
    errors: dict[str, str] = {}
    lim = settings.limits

    def text(name: str, label: str, limit: int, *, required: bool) -> str:
        value = _text(values, name)
        if required and not value:
            errors[name] = f"{label} is required."
        elif len(value) > limit:
            errors[name] = f"{label} is {len(value)} characters; at most {limit} are allowed."
        return value

    name = text("name", "Your name", lim.name, required=True)
    department = text("department", "Department", lim.department, required=True)
    goals = text("goals", "Goals", lim.goals, required=False)
    manager = text("manager", "Manager's email", lim.manager, required=False)
    email = text("email", "Work email", 254, required=False)
    if manager and "manager" not in errors and not is_email(manager):
        errors["manager"] = f"'{manager}' is not an email address; write it like dana@example.com or leave it empty."
    if email and "email" not in errors and not is_email(email):
        errors["email"] = f"'{email}' is not an email address; write it like sam@example.com or leave it empty."

    role_raw = _text(values, "role").lower()
    role: Role = "mentee" if role_raw == "mentee" else "mentor"
    if role_raw not in ("mentor", "mentee"):
        errors["role"] = "Choose mentor or mentee."

    level_raw = _text(values, "level")
    levels, _ = _pick(settings.levels, (level_raw,))
    if not levels:
        shown = ", ".join(settings.levels)
        errors["level"] = (f"'{level_raw}' is not a level on the ladder; choose one of: {shown}." if level_raw
                           else f"Choose your level: {shown}.")

    tz_raw = _text(values, "time_zone")
    tz = normalize_time_zone(tz_raw) if tz_raw else None
    if tz is None:
        if not tz_raw:
            errors["time_zone"] = "Time zone is required, e.g. Europe/Paris."
        else:
            close = suggest_time_zone(tz_raw)
            hint = f" Did you mean {' or '.join(close)}?" if close else " Use an IANA name such as Europe/Paris."
            errors["time_zone"] = f"Unknown time zone '{tz_raw[:60]}'.{hint}"

    days, bad_days = _pick(WEEKDAYS, tuple(d[:3] for d in _many(values, "working_days")))
    if bad_days or not days:
        errors["working_days"] = "Pick at least one working day (mon, tue, wed, thu, fri, sat, sun)."
    hours_raw = _text(values, "working_hours")
    hours = _hours(hours_raw)
    if hours is None:
        errors["working_hours"] = (f"'{hours_raw[:20]}' is not a range of hours; write it like 09:00-17:00 "
                                   "(start before end, local time).")

    teach, bad_teach = _pick(settings.topics, _many(values, "topics_teach"))
    learn, bad_learn = _pick(settings.topics, _many(values, "topics_learn"))
    for field_name, bad in (("topics_teach", bad_teach), ("topics_learn", bad_learn)):
        if bad:
            errors[field_name] = f"Unknown topic '{bad[0][:40]}'; pick from the list."
    for field_name, chosen in (("topics_teach", teach), ("topics_learn", learn)):
        if len(chosen) > lim.topics:
            errors.setdefault(field_name, f"You picked {len(chosen)} topics; at most {lim.topics} are allowed.")
    if role_raw == "mentor" and not teach:
        errors.setdefault("topics_teach", "As a mentor, pick at least one topic you can teach.")
    if role_raw == "mentee" and not learn:
        errors.setdefault("topics_learn", "As a mentee, pick at least one topic you want to learn.")

    languages, bad_lang = _pick(settings.languages, _many(values, "languages"))
    if bad_lang or not languages:
        errors["languages"] = f"Pick at least one working language from: {', '.join(settings.languages)}."

    avoid_raw = text("avoid", "People to keep apart from", AVOID_LENGTH, required=False)
    avoid = tuple(dict.fromkeys(a.strip().lower() for a in avoid_raw.replace(";", ",").split(",") if a.strip()))
    not_emails = [a for a in avoid if not is_email(a)]
    if not_emails and "avoid" not in errors:
        errors["avoid"] = (f"'{not_emails[0][:60]}' is not an email address; list work emails separated by commas, "
                           "or leave it empty.")

    if errors or tz is None or hours is None:
        return errors
    return Profile(
        name=name, role=role, level=levels[0], department=department, time_zone=tz,
        working_days=tuple(d for d in WEEKDAYS if d in days), work_start=hours[0], work_end=hours[1],
        topics_teach=teach, topics_learn=learn, languages=languages, goals=goals, manager=manager, email=email,
        avoid=avoid,
    )


def profile_facts(p: Profile) -> tuple[Fact, ...]:
    """The profile as label/value lines, for `profile` and `status`."""
    facts = [
        Fact("Name", p.name),
        Fact("Role", p.role),
        Fact("Level", p.level),
        Fact("Department", p.department),
        Fact("Time zone", p.time_zone),
        Fact("Working time", f"{', '.join(d.capitalize() for d in p.working_days)} {p.work_start}-{p.work_end}"),
        Fact("Teaches", ", ".join(p.topics_teach) or "-"),
        Fact("Wants to learn", ", ".join(p.topics_learn) or "-"),
        Fact("Languages", ", ".join(p.languages)),
    ]
    if p.goals:
        facts.append(Fact("Goals", p.goals))
    if p.manager:
        facts.append(Fact("Manager", p.manager))
    if p.email:
        facts.append(Fact("Email", p.email))
    if p.avoid:
        facts.append(Fact("Kept apart from (private)", ", ".join(p.avoid)))
    return tuple(facts)
