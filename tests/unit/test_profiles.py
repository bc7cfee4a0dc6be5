"""The profile rules: what validate_profile accepts, what it says about the rest, and time zones."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.events import FormValue
from conversations.model import Profile
from conversations.profiles import (
    normalize_time_zone,
    profile_facts,
    signup_form,
    suggest_time_zone,
    validate_profile,
)
from conversations.settings import Limits, ProgramSettings
from tests.fakes.memory import TEST_SETTINGS, profile_values

FIELD_NAMES = {f.name for f in signup_form(TEST_SETTINGS).fields}


def errors_of(**overrides: FormValue) -> dict[str, str]:
    result = validate_profile(profile_values(**overrides), TEST_SETTINGS)
    assert isinstance(result, dict), result
    return result


def profile_of(**overrides: FormValue) -> Profile:
    result = validate_profile(profile_values(**overrides), TEST_SETTINGS)
    assert isinstance(result, Profile), result
    return result


# time zones

def test_normalize_time_zone_finds_the_canonical_name() -> None:
    assert normalize_time_zone("Europe/Paris") == "Europe/Paris"
    assert normalize_time_zone("  europe/paris ") == "Europe/Paris"
    assert normalize_time_zone("America/New York") == "America/New_York"
    assert normalize_time_zone("utc") == "UTC"


def test_normalize_time_zone_rejects_what_is_not_a_zone() -> None:
    for raw in ("", "Paris", "Europe/Pariss", "CET+1", "../../etc/passwd", "Mars/Olympus"):
        assert normalize_time_zone(raw) is None


def test_suggest_time_zone_offers_close_spellings() -> None:
    assert suggest_time_zone("Europe/Pari")[0] == "Europe/Paris"
    assert "America/New_York" in suggest_time_zone("america/new yrok")


def test_suggest_time_zone_knows_a_city_without_its_region() -> None:
    assert suggest_time_zone("Paris") == ["Europe/Paris"]
    assert suggest_time_zone("tokyo") == ["Asia/Tokyo"]


def test_suggest_time_zone_gives_up_on_nonsense() -> None:
    assert suggest_time_zone("qqqqqq") == []


# the rules

def test_a_complete_form_gives_a_profile() -> None:
    p = profile_of()
    assert (p.name, p.role, p.level, p.department, p.time_zone) == (
        "Alice Liddell", "mentor", "L2", "Engineering", "Europe/Paris")
    assert p.working_days == ("mon", "tue", "wed", "thu", "fri")
    assert (p.work_start, p.work_end) == ("09:00", "17:00")
    assert (p.topics_teach, p.topics_learn, p.languages) == (("GenAI", "TikTok"), (), ("English",))


def test_text_is_trimmed() -> None:
    p = profile_of(name="  Alice  ", department=" Design ", goals="  learn  ")
    assert (p.name, p.department, p.goals) == ("Alice", "Design", "learn")


def test_choices_match_case_insensitively_and_keep_the_configured_spelling() -> None:
    p = profile_of(role="MENTEE", level="l9", topics_learn=("genai", "ACCESSIBILITY"), languages=("french",))
    assert (p.role, p.level, p.topics_learn, p.languages) == ("mentee", "L9", ("GenAI", "Accessibility"),
                                                              ("French",))


def test_multi_choices_may_come_as_one_comma_separated_text() -> None:
    p = profile_of(topics_teach="GenAI, TikTok, GenAI", working_days="mon,wed")
    assert (p.topics_teach, p.working_days) == (("GenAI", "TikTok"), ("mon", "wed"))


def test_working_days_are_kept_in_week_order() -> None:
    assert profile_of(working_days=("fri", "Monday", "wed")).working_days == ("mon", "wed", "fri")


def test_working_hours_accept_common_ways_of_writing_them() -> None:
    for raw, expected in (("9-17", ("09:00", "17:00")), ("08:30 - 16:45", ("08:30", "16:45")),
                          ("9 to 17", ("09:00", "17:00")), ("22:00-24:00", ("22:00", "24:00")),
                          ("9–17", ("09:00", "17:00"))):
        p = profile_of(working_hours=raw)
        assert (p.work_start, p.work_end) == expected, raw


def test_working_hours_must_be_a_forward_range_of_real_times() -> None:
    for raw in ("17-9", "9-9", "09:60-17:00", "9-24:30", "25-26", "nine to five", ""):
        assert "working_hours" in errors_of(working_hours=raw), raw


def test_a_mentor_needs_a_topic_to_teach_and_a_mentee_one_to_learn() -> None:
    assert errors_of(topics_teach=()) == {"topics_teach": "As a mentor, pick at least one topic you can teach."}
    assert errors_of(role="mentee", topics_teach=(), topics_learn=()) == {
        "topics_learn": "As a mentee, pick at least one topic you want to learn."}


def test_too_many_topics_are_refused() -> None:
    tight = TEST_SETTINGS.model_copy(update={"limits": Limits(topics=1)})
    result = validate_profile(profile_values(), tight)
    assert result == {"topics_teach": "You picked 2 topics; at most 1 are allowed."}


def test_the_level_must_be_on_the_configured_ladder() -> None:
    ladder = ProgramSettings(levels=("Junior", "Senior"), topics=("GenAI",))
    result = validate_profile(profile_values(level="L2", topics_teach=("GenAI",)), ladder)
    assert result == {"level": "'L2' is not a level on the ladder; choose one of: Junior, Senior."}


def test_text_limits_come_from_the_settings() -> None:
    assert errors_of(name="x" * 81) == {"name": "Your name is 81 characters; at most 80 are allowed."}
    assert errors_of(department="x" * 81) == {"department": "Department is 81 characters; at most 80 are allowed."}
    assert "manager" in errors_of(manager="a@" + "b" * 120 + ".com")
    assert profile_of(name="x" * 80).name == "x" * 80


def test_optional_emails_are_checked_only_when_given() -> None:
    assert profile_of(manager="", email="").email == ""
    assert profile_of(manager="dana@example.com").manager == "dana@example.com"
    assert set(errors_of(manager="dana", email="sam@")) == {"manager", "email"}


def test_every_error_names_a_field_of_the_form() -> None:
    everything_wrong: dict[str, FormValue] = {name: "\u0000?" for name in FIELD_NAMES}
    result = validate_profile(everything_wrong, TEST_SETTINGS)
    assert isinstance(result, dict)
    assert set(result) <= FIELD_NAMES
    assert {"role", "level", "time_zone", "working_days", "working_hours", "languages"} <= set(result)


def test_an_empty_form_asks_for_every_required_field() -> None:
    result = validate_profile({}, TEST_SETTINGS)
    assert isinstance(result, dict)
    required = {f.name for f in signup_form(TEST_SETTINGS).fields if f.required}
    assert required <= set(result)


def test_profile_facts_show_only_what_was_given() -> None:
    labels = [f.label for f in profile_facts(profile_of(goals=""))]
    assert "Goals" not in labels and "Manager" not in labels and "Email" not in labels
    labels = [f.label for f in profile_facts(profile_of(manager="dana@example.com", email="a@example.com"))]
    assert labels[-2:] == ["Manager", "Email"]


# the property: whatever arrives, an answer and never a crash

form_value = st.one_of(st.text(max_size=120), st.lists(st.text(max_size=30), max_size=6).map(tuple))
known_values = st.sampled_from(["mentor", "mentee", "L2", "Europe/Paris", "mon", "09:00-17:00", "GenAI",
                                "English", "dana@example.com", "9-17", "Paris", ""])
field_value = st.one_of(form_value, known_values, st.lists(known_values, max_size=4).map(tuple))
form = st.dictionaries(st.sampled_from(sorted(FIELD_NAMES | {"unexpected"})), field_value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=form)
def test_validate_profile_never_raises_and_always_answers(values: dict[str, FormValue]) -> None:
    result = validate_profile(values, TEST_SETTINGS)
    if isinstance(result, Profile):
        assert result.name and result.department
        assert result.level in TEST_SETTINGS.levels
        assert normalize_time_zone(result.time_zone) == result.time_zone
        assert result.work_start < result.work_end
        assert set(result.topics_teach) | set(result.topics_learn) <= set(TEST_SETTINGS.topics)
    else:
        assert isinstance(result, dict)
        assert result, "an invalid form must say what is wrong"
        assert set(result) <= FIELD_NAMES
        assert all(isinstance(message, str) and message for message in result.values())


@settings(max_examples=100, deadline=None)
@given(overrides=st.dictionaries(st.sampled_from(sorted(FIELD_NAMES)), field_value, max_size=3))
def test_changing_a_few_fields_of_a_valid_form_gives_a_profile_or_errors_about_them(
        overrides: dict[str, FormValue]) -> None:
    result = validate_profile(profile_values(**overrides), TEST_SETTINGS)
    if isinstance(result, dict):
        assert result
        # the role decides which topic list is required, so a role change may blame a topic field
        assert set(result) <= set(overrides) | {"topics_teach", "topics_learn"}
