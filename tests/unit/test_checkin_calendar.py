"""Check-in timing: each person's slots in their own zone and week, across clock changes, and cadence arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.calendar import (
    Window,
    after_working_days,
    beats_by,
    in_slot,
    next_slot,
    nth_cadence,
    slot_end,
)
from conversations.model import Profile

WINDOW = Window(days=("tue", "wed", "thu"), start="10:00", end="16:00")


def profile(zone: str, days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri"), start: str = "09:00",
            end: str = "17:00") -> Profile:
    return Profile(name="P", role="mentor", level="L2", department="Eng", time_zone=zone, working_days=days,
                   work_start=start, work_end=end, topics_teach=("GenAI",), topics_learn=(), languages=("English",))


def local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def test_weekly_check_ins_stay_at_ten_local_across_new_yorks_march_change() -> None:
    ny = profile("America/New_York")
    anchor = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
    delivered = [next_slot(ny, nth_cadence(anchor, "weekly", n), WINDOW) for n in (1, 2, 3)]
    # 14 March 2027 the clocks go forward: the beats are UTC weeks, the deliveries local Tuesdays at 10:00
    assert [local(d, "America/New_York").strftime("%a %d %H:%M") for d in delivered] == [
        "Tue 09 10:00", "Tue 16 10:00", "Tue 23 10:00"]
    assert [d.hour for d in delivered] == [15, 14, 14]  # UTC-5, then UTC-4
    assert [nth_cadence(anchor, "weekly", n) - anchor for n in (1, 2, 3)] == [timedelta(weeks=n) for n in (1, 2, 3)]


def test_auckland_keeps_its_local_window_when_its_summer_time_ends() -> None:
    nz = profile("Pacific/Auckland")
    anchor = datetime(2027, 3, 28, 21, 0, tzinfo=UTC)  # Monday 29 March 10:00 NZDT
    before, after = (next_slot(nz, nth_cadence(anchor, "weekly", n), WINDOW) for n in (0, 1))
    assert local(before, "Pacific/Auckland").strftime("%a %d %b %H:%M") == "Tue 30 Mar 10:00"
    assert local(after, "Pacific/Auckland").strftime("%a %d %b %H:%M") == "Tue 06 Apr 10:00"  # after 4 April
    assert (before.hour, after.hour) == (21, 22)  # UTC+13, then UTC+12
    end = slot_end(nz, after, WINDOW)
    assert local(end, "Pacific/Auckland").strftime("%H:%M") == "16:00"


def test_kolkata_half_hour_offset() -> None:
    kolkata = profile("Asia/Kolkata")
    slot = next_slot(kolkata, datetime(2027, 3, 1, 0, 0, tzinfo=UTC), WINDOW)  # Monday
    assert slot == datetime(2027, 3, 2, 4, 30, tzinfo=UTC)  # Tuesday 10:00 IST
    assert in_slot(kolkata, slot, WINDOW)
    assert not in_slot(kolkata, slot - timedelta(minutes=1), WINDOW)
    assert slot_end(kolkata, slot, WINDOW) == datetime(2027, 3, 2, 10, 30, tzinfo=UTC)


def test_a_friday_saturday_weekend_gets_nothing_on_friday_or_saturday() -> None:
    riyadh = profile("Asia/Riyadh", days=("sun", "mon", "tue", "wed", "thu"))
    thursday_evening = datetime(2027, 3, 4, 15, 0, tzinfo=UTC)  # 18:00 local, after work
    slot = next_slot(riyadh, thursday_evening)
    assert local(slot, "Asia/Riyadh").strftime("%a %H:%M") == "Sun 09:00"  # not Friday, not Saturday
    assert local(next_slot(riyadh, thursday_evening, WINDOW), "Asia/Riyadh").strftime("%a %H:%M") == "Tue 10:00"
    # two working days after Thursday 11:00 is Monday 11:00: the weekend does not count
    reminder = after_working_days(riyadh, datetime(2027, 3, 4, 8, 0, tzinfo=UTC), 2)
    assert local(reminder, "Asia/Riyadh").strftime("%a %H:%M") == "Mon 11:00"


def test_working_days_count_in_the_persons_own_week() -> None:
    paris = profile("Europe/Paris")
    friday_3pm = datetime(2027, 3, 5, 14, 0, tzinfo=UTC)
    assert local(after_working_days(paris, friday_3pm, 2), "Europe/Paris").strftime("%a %H:%M") == "Tue 15:00"
    assert local(after_working_days(paris, friday_3pm, 5), "Europe/Paris").strftime("%a %d %H:%M") == "Fri 12 15:00"
    late = datetime(2027, 3, 5, 18, 30, tzinfo=UTC)  # Friday 19:30, after hours: the reminder waits for morning
    assert local(after_working_days(paris, late, 2), "Europe/Paris").strftime("%a %H:%M") == "Wed 09:00"


def test_a_window_the_person_never_works_in_falls_back_to_their_own_hours() -> None:
    weekend_worker = profile("Europe/Paris", days=("sat", "sun"))
    slot = next_slot(weekend_worker, datetime(2027, 3, 1, 8, 0, tzinfo=UTC), WINDOW)
    assert local(slot, "Europe/Paris").strftime("%a %H:%M") == "Sat 09:00"


def test_a_working_day_may_run_to_midnight() -> None:
    always = profile("UTC", days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"), start="00:00", end="24:00")
    at = datetime(2027, 3, 6, 23, 59, tzinfo=UTC)
    assert next_slot(always, at) == at
    assert slot_end(always, at) == datetime(2027, 3, 7, 0, 0, tzinfo=UTC)
    assert in_slot(always, datetime(2027, 3, 7, 0, 0, tzinfo=UTC))


def test_monthly_on_the_31st_comes_back_to_the_31st() -> None:
    anchor = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
    beats = [nth_cadence(anchor, "monthly", n).date().isoformat() for n in range(1, 5)]
    assert beats == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
    assert nth_cadence(datetime(2028, 1, 31, tzinfo=UTC), "monthly", 1).date().isoformat() == "2028-02-29"
    assert nth_cadence(anchor, "monthly", 12).date().isoformat() == "2028-01-31"


def test_beats_counts_the_rounds_that_have_come() -> None:
    anchor = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    assert beats_by(anchor, "biweekly", anchor + timedelta(days=13, hours=23)) == 0
    assert beats_by(anchor, "biweekly", anchor + timedelta(days=14)) == 1
    assert beats_by(anchor, "biweekly", anchor + timedelta(days=43)) == 3
    assert beats_by(anchor, "weekly", anchor + timedelta(days=7)) == 1
    assert beats_by(datetime(2027, 1, 31, tzinfo=UTC), "monthly", datetime(2027, 3, 30, tzinfo=UTC)) == 1
    assert beats_by(datetime(2027, 1, 31, tzinfo=UTC), "monthly", datetime(2027, 3, 31, tzinfo=UTC)) == 2


ZONES = ("Pacific/Auckland", "America/New_York", "Asia/Kolkata", "Asia/Riyadh", "Europe/London", "UTC",
         "Australia/Lord_Howe", "America/St_Johns")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@settings(max_examples=150, deadline=None)
@given(zone=st.sampled_from(ZONES), days=st.sets(st.sampled_from(DAYS), min_size=1),
       hours=st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda h: h[0] < h[1]),
       after=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)),
       use_window=st.booleans())
def test_next_slot_is_the_first_moment_inside_working_time_and_window(
        zone: str, days: set[str], hours: tuple[int, int], after: datetime, use_window: bool) -> None:
    person = profile(zone, days=tuple(d for d in DAYS if d in days), start=f"{hours[0]:02d}:00",
                     end=f"{hours[1]:02d}:00")
    at = after.replace(tzinfo=UTC)
    window = WINDOW if use_window else None
    slot = next_slot(person, at, window)
    assert at <= slot < at + timedelta(days=15)
    assert in_slot(person, slot, window)
    if slot > at:  # the moment before was outside: nothing earlier was allowed
        assert not in_slot(person, slot - timedelta(minutes=1), window)
    local_slot = local(slot, zone)
    assert ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local_slot.weekday()] in days
    clock_changed = local(slot - timedelta(days=1), zone).utcoffset() != local(slot + timedelta(days=1),
                                                                               zone).utcoffset()
    if not clock_changed:  # on a clock-change day a skipped local hour may shift the start by that hour
        minutes = local_slot.hour * 60 + local_slot.minute
        assert hours[0] * 60 <= minutes < hours[1] * 60
        if use_window and days & {"tue", "wed", "thu"} and hours[0] < 16 and hours[1] > 10:  # the window fits
            assert local_slot.strftime("%a").lower() in WINDOW.days and 600 <= minutes < 960
    assert slot < slot_end(person, slot, window)
