"""The HR import: what the CSV parser accepts and says, and HR's values winning over what people type."""

from __future__ import annotations

import pytest

from conversations.events import Actor
from conversations.hr_import import import_people, parse_people_csv
from conversations.model import HrRecord
from conversations.profiles import SET_BY_HR
from tests.fakes.memory import World, profile_values, text_of

LADDER = ("L1 Associate", "L2 Analyst", "L5 Lead", "L9 Vice President", "L10 Executive")
LADDER_TEXT = "L1 Associate, L2 Analyst, L5 Lead, L9 Vice President, L10 Executive"
ALICE = Actor("console", "console", "U-ALICE")
DANA = Actor("slack", "T1", "UDANA")


def records(text: str, levels: tuple[str, ...] = LADDER) -> list[HrRecord]:
    result = parse_people_csv(text, levels)
    assert all(isinstance(r, HrRecord) for r in result), result
    return [r for r in result if isinstance(r, HrRecord)]


def errors(text: str, levels: tuple[str, ...] = LADDER) -> list[str]:
    result = parse_people_csv(text, levels)
    assert all(isinstance(e, str) for e in result), result
    return [e for e in result if isinstance(e, str)]


# what a good file gives

def test_a_good_file_gives_one_record_per_person_keyed_by_lower_case_email() -> None:
    assert records("email,level,department,manager,location\n"
                   "Dana@Example.com,l9 vice president,Sales,Boss@Example.com,Paris\n"
                   "sam@example.com,L2 Analyst,Engineering,,\n") == [
        HrRecord("dana@example.com", "L9 Vice President", "Sales", "boss@example.com", "Paris"),
        HrRecord("sam@example.com", "L2 Analyst", "Engineering", "", ""),
    ]


def test_columns_come_in_any_order_and_case_and_the_level_code_alone_is_enough() -> None:
    assert records(" Department ,LEVEL, Email \nSales, l5 ,dana@example.com\n") == [
        HrRecord("dana@example.com", "L5 Lead", "Sales")]


def test_a_level_code_shared_by_two_rungs_is_not_guessed() -> None:
    assert errors("email,level\ndana@example.com,L1\n", ("L1 Associate", "L1 Intern")) == [
        "line 2, column level: 'L1' is not on the ladder (L1 Associate, L1 Intern)"]


def test_a_byte_order_mark_and_windows_line_ends_are_fine() -> None:
    assert records("\ufeffemail,level\r\ndana@example.com,L5 Lead\r\n") == [HrRecord("dana@example.com", "L5 Lead")]


def test_identity_keys_keep_the_ids_as_spelled_and_teams_ids_may_hold_colons() -> None:
    assert [r.key for r in records("identity,department\n"
                                   "Slack:T1:UDANA,Sales\n"
                                   "teams:tenant-1:29:1AbC,Legal\n"
                                   "console:console:bob,Ops\n")] == [
        "slack:T1:UDANA", "teams:tenant-1:29:1AbC", "console:console:bob"]


def test_a_row_with_email_and_identity_is_found_by_either() -> None:
    assert records("email,identity,level\ndana@example.com,slack:T1:UDANA,L5\n") == [
        HrRecord("dana@example.com", "L5 Lead"), HrRecord("slack:T1:UDANA", "L5 Lead")]


def test_blank_rows_and_quoted_cells_with_commas_are_read_like_a_spreadsheet() -> None:
    assert records('email,department\n\n"dana@example.com","Sales, EMEA"\n,\n') == [
        HrRecord("dana@example.com", department="Sales, EMEA")]


# what a bad file is told, by line and column

@pytest.mark.parametrize(("text", "expected"), [
    ("", "line 1: the file needs a header row naming its columns, e.g. email,level,department"),
    ("email,level\n", "the file has a header but no people; an import replaces everything, so this would erase it"),
    ("email,level,grade,Team\n", "line 1: unknown column 'grade', 'team'; "
                                 "the columns are email, identity, level, department, manager, location"),
    ("level,department\n", "line 1: the header needs an email or an identity column to find each person by"),
    ("email,level,Email\n", "line 1: column 'email' appears more than once"),
    ("email,,level\n", "line 1: column 2 has no name"),
    ("email,level\nx@example.com,L11\n", f"line 2, column level: 'L11' is not on the ladder ({LADDER_TEXT})"),
    ("email,manager\nx@example.com,bob\n", "line 2, column manager: 'bob' is not an email"),
    ("email,level\nbob,L5\n", "line 2, column email: 'bob' is not an email"),
    ("identity,level\nbob,L5\n", "line 2, column identity: 'bob' is not a platform identity; write it like "
                                 "slack:T0123:U0456, teams:TENANT:USER or console:console:bob"),
    ("identity,level\nirc:net:bob,L5\n", "line 2, column identity: 'irc:net:bob' is not a platform identity; "
                                         "write it like slack:T0123:U0456, teams:TENANT:USER or console:console:bob"),
    ("email,identity,level\n,,L5\n", "line 2: no email or identity; each person needs one to be found by"),
    ("email,level\nx@example.com,L5,extra\n", "line 2: 3 cells, but the header has 2 columns"),
    (f"email,department\nx@example.com,{'d' * 81}\n",
     "line 2, column department: 81 characters; at most 80 are allowed"),
    (f"email,location\nx@example.com,{'p' * 81}\n",
     "line 2, column location: 81 characters; at most 80 are allowed"),
    ('email,level\n"x@example.com,L5\n', "line 2: unexpected end of data"),
])
def test_each_problem_is_named_with_its_line_and_column(text: str, expected: str) -> None:
    assert errors(text) == [expected]


def test_a_duplicate_names_the_line_it_first_appeared_on() -> None:
    assert errors("email,level\n"
                  "x@example.com,L1\n"
                  "dana@example.com,L5\n"
                  "y@example.com,L2\n"
                  "Dana@example.com,L9\n") == ["line 5: duplicate email dana@example.com (first on line 3)"]


def test_a_duplicate_identity_is_found_too() -> None:
    assert errors("identity\nslack:T1:U1\nSLACK:T1:U1\n") == [
        "line 3: duplicate identity slack:T1:U1 (first on line 2)"]


def test_lines_count_from_where_a_row_starts_even_after_a_cell_spanning_lines() -> None:
    assert errors('email,department\nx@example.com,"Sales\nEMEA"\nbob,Ops\n') == [
        "line 4, column email: 'bob' is not an email"]


def test_every_row_is_checked_and_every_problem_reported() -> None:
    assert errors("email,level,manager\n"
                  "ok@example.com,L5,\n"
                  "bad,L5,\n"
                  "x@example.com,L99,bob\n") == [
        "line 3, column email: 'bad' is not an email",
        "line 4, column manager: 'bob' is not an email",
        f"line 4, column level: 'L99' is not on the ladder ({LADDER_TEXT})",
    ]


def test_a_long_list_of_problems_is_cut_at_fifty() -> None:
    found = errors("email\n" + "bad\n" * 60)
    assert len(found) == 51
    assert found[0] == "line 2, column email: 'bad' is not an email"
    assert found[49] == "line 51, column email: 'bad' is not an email"
    assert found[50] == "...and 10 more"


# importing: all or nothing, audited

async def test_an_import_replaces_every_record_and_is_audited() -> None:
    w = World()
    assert await import_people("email,level\nold@example.com,L3\n", deps=w.deps) == (1, [])
    count, problems = await import_people("email,identity,level\ndana@example.com,slack:T1:UDANA,L9\n"
                                          "sam@example.com,,L2\n", deps=w.deps)
    assert (count, problems) == (2, [])
    assert sorted(w.state.hr_records) == ["dana@example.com", "sam@example.com", "slack:T1:UDANA"]
    assert w.store.audit_actions()[-1] == ("admin.import_people", "ok")
    assert w.state.audit[-1].detail == "2 people"


async def test_a_file_with_one_bad_row_imports_nothing() -> None:
    w = World()
    await import_people("email,level\nold@example.com,L3\n", deps=w.deps)
    commits = w.store.commits
    count, problems = await import_people("email,level\nnew@example.com,L3\nbad,L3\n", deps=w.deps)
    assert count == 0
    assert problems == ["line 3, column email: 'bad' is not an email"]
    assert list(w.state.hr_records) == ["old@example.com"]
    assert w.store.commits == commits


# HR's values win at sign-up and cannot be edited away

async def test_hr_values_win_at_signup_and_the_welcome_says_so() -> None:
    w = World()
    await import_people("email,level,department,manager\n"
                        "alice@example.com,L8,Finance,boss@example.com\n", deps=w.deps)
    form = (await w.say(ALICE, "join")).form
    assert form is not None and form.fields[2].initial is None  # her email is not known yet
    reply = await w.submit(ALICE, profile_values(email="Alice@Example.com"))
    assert not reply.errors, reply.errors
    assert "Set by HR: level L8, department Finance, manager boss@example.com." in text_of(reply)
    person = w.person(ALICE)
    assert person is not None
    assert (person.profile.level, person.profile.department, person.profile.manager) == (
        "L8", "Finance", "boss@example.com")
    assert "Alice Liddell, mentor, L8" in text_of(await w.say(ALICE, "status"))


async def test_the_form_shows_hr_values_and_an_edit_cannot_change_them() -> None:
    w = World()
    await import_people("identity,level,department\nconsole:console:U-ALICE,L8,Finance\n", deps=w.deps)
    form = (await w.say(ALICE, "join")).form
    assert form is not None
    fields = {f.name: f for f in form.fields}
    assert (fields["level"].initial, fields["level"].hint) == ("L8", SET_BY_HR)
    assert (fields["department"].initial, fields["department"].hint) == ("Finance", SET_BY_HR)
    assert fields["manager"].hint != SET_BY_HR  # HR gave no manager: hers to tell

    await w.sign_up(ALICE)
    edit = (await w.say(ALICE, "profile edit")).form
    assert edit is not None
    assert {f.name: f.initial for f in edit.fields}["level"] == "L8"
    reply = await w.submit(ALICE, profile_values(level="L1", department="Design", manager="me@example.com"))
    assert "Your profile is saved." in text_of(reply)
    assert "Set by HR: level L8, department Finance." in text_of(reply)
    person = w.person(ALICE)
    assert person is not None
    assert (person.profile.level, person.profile.department, person.profile.manager) == (
        "L8", "Finance", "me@example.com")


async def test_a_level_typed_wrong_does_not_matter_when_hr_sets_it() -> None:
    w = World()
    await import_people("identity,level\nconsole:console:U-ALICE,L8\n", deps=w.deps)
    reply = await w.submit(ALICE, profile_values(level="not a level"))
    assert not reply.errors, reply.errors


async def test_without_an_hr_record_people_keep_what_they_typed() -> None:
    w = World()
    await import_people("email,level\nsomeone.else@example.com,L8\n", deps=w.deps)
    reply = await w.submit(DANA, profile_values(level="L3", email="dana@example.com"))
    assert "Set by HR" not in text_of(reply)
    person = w.person(DANA)
    assert person is not None and person.profile.level == "L3"
