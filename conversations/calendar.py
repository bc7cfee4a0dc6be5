"""Each person's own working time: when a message may reach them, in their zone, across daylight-saving changes.

Times are computed on local wall-clock dates and converted to UTC through zoneinfo, so "Tuesday 10:00 in
Auckland" stays 10:00 local on both sides of a clock change. Nothing here reads the clock: callers pass `after`.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from conversations.model import WEEKDAYS, Cadence, Profile

_HORIZON_DAYS = 15  # two weeks and a day: any working pattern recurs within it


@dataclass(frozen=True, slots=True)
class Window:
    """Days and local hours a kind of message may arrive in, on top of the person's own working time."""

    days: tuple[str, ...]
    start: str  # "10:00"
    end: str  # "16:00"


def _minutes(value: str) -> int:
    """Minutes after local midnight; "24:00" (a working day that runs to midnight) is 1440."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def zone_of(profile: Profile) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(profile.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # validated at sign-up; an old zone name may vanish
        return zoneinfo.ZoneInfo("UTC")


def _hours(profile: Profile, window: Window | None, day: date) -> tuple[int, int] | None:
    """The local hours allowed on `day`, as minutes after midnight, or None if none are."""
    weekday = WEEKDAYS[day.weekday()]
    if weekday not in profile.working_days:
        return None
    start, end = _minutes(profile.work_start), _minutes(profile.work_end)
    if window is not None:
        if weekday not in window.days:
            return None
        start, end = max(start, _minutes(window.start)), min(end, _minutes(window.end))
    return (start, end) if start < end else None


def _window_fits(profile: Profile, window: Window | None) -> bool:
    """True if the window leaves this person some time in a normal week."""
    if window is None:
        return True
    monday = date(2024, 1, 1)
    return any(_hours(profile, window, monday + timedelta(days=i)) for i in range(7))


def _local(day: date, minutes: int, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; a time skipped by a clock change reads as just after it."""
    day += timedelta(days=minutes // 1440)
    minutes %= 1440
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone).astimezone(UTC)


def next_slot(profile: Profile, after: datetime, window: Window | None = None) -> datetime:
    """The first moment at or after `after` inside the person's working days and hours (and the window, when
    the two overlap at all; a window they never work in falls back to their working time alone), in UTC."""
    if not _window_fits(profile, window):
        window = None
    zone = zone_of(profile)
    first = after.astimezone(zone).date()
    for offset in range(_HORIZON_DAYS):
        day = first + timedelta(days=offset)
        hours = _hours(profile, window, day)
        if hours is None:
            continue
        start, end = _local(day, hours[0], zone), _local(day, hours[1], zone)
        if after < end:
            return max(after, start)
    return after  # no working day at all: validated profiles always have one


def in_slot(profile: Profile, at: datetime, window: Window | None = None) -> bool:
    """True if `at` is inside the person's working time (and the window, as next_slot reads it)."""
    return next_slot(profile, at, window) == at


def slot_end(profile: Profile, at: datetime, window: Window | None = None) -> datetime:
    """The end of the slot that `at` falls in, or of the next one: after it, a due message is stale."""
    if not _window_fits(profile, window):
        window = None
    zone = zone_of(profile)
    start = next_slot(profile, at, window)
    day = start.astimezone(zone).date()
    hours = _hours(profile, window, day)
    assert hours is not None or start == at
    return _local(day, hours[1], zone) if hours else start


def after_working_days(profile: Profile, at: datetime, days: int) -> datetime:
    """`days` of the person's working days after `at`, at the same local time of day (then the next slot)."""
    zone = zone_of(profile)
    local = at.astimezone(zone)
    day, counted = local.date(), 0
    while counted < days:
        day += timedelta(days=1)
        if WEEKDAYS[day.weekday()] in profile.working_days:
            counted += 1
    return next_slot(profile, _local(day, local.hour * 60 + local.minute, zone) + timedelta(
        seconds=local.second, microseconds=local.microsecond))


def next_working_day(profile: Profile, at: datetime) -> datetime:
    """The start of the person's next working day after the local date of `at`."""
    zone = zone_of(profile)
    tomorrow = at.astimezone(zone).date() + timedelta(days=1)
    return next_slot(profile, _local(tomorrow, 0, zone))


def local_day(profile: Profile, at: datetime) -> str:
    """The person's local date of `at`, as YYYY-MM-DD."""
    return at.astimezone(zone_of(profile)).date().isoformat()


def add_months(at: datetime, months: int) -> datetime:
    """The same day and time `months` later, clamped to the month's last day (31 January + 1 = 28/29 February)."""
    month_index = at.month - 1 + months
    year, month = at.year + month_index // 12, month_index % 12 + 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = (following - timedelta(days=1)).day
    return at.replace(year=year, month=month, day=min(at.day, last))


def nth_cadence(anchor: datetime, cadence: Cadence, n: int) -> datetime:
    """The n-th beat after `anchor`: whole weeks as UTC instants (a clock change moves no beat), months by
    the calendar (clamped, and always counted from the anchor, so the 31st comes back after a short month)."""
    if cadence == "monthly":
        return add_months(anchor, n)
    return anchor + timedelta(weeks=n * (1 if cadence == "weekly" else 2))


def beats_by(anchor: datetime, cadence: Cadence, at: datetime) -> int:
    """How many beats after `anchor` have come by `at` (0 before the first)."""
    n = 0
    while nth_cadence(anchor, cadence, n + 1) <= at:
        n += 1
    return n
