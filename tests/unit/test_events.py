"""Commands keep the text as typed, for free text that shell-style splitting would reshape."""

from __future__ import annotations

from conversations.events import Actor, Command

ME = Actor("console", "console", "me")


def test_rest_keeps_apostrophes_quotes_and_line_breaks_as_typed() -> None:
    cmd = Command.parse(ME, "admin reply K7Q2X Don't worry:\nit's \"normal\".")
    assert cmd.args[:2] == ("reply", "K7Q2X")
    assert cmd.rest(2) == "Don't worry:\nit's \"normal\"."


def test_rest_drops_one_pair_of_quotes_around_the_whole_text_only() -> None:
    assert Command.parse(ME, 'admin reply K7 "Thanks, see you"').rest(2) == "Thanks, see you"
    assert Command.parse(ME, 'admin reply K7 "a" and "b"').rest(2) == '"a" and "b"'
    assert Command.parse(ME, "admin reply K7").rest(2) == ""


def test_rest_falls_back_to_the_words_of_a_command_built_without_text() -> None:
    assert Command(ME, "admin", ("reply", "K7", "hello", "there")).rest(2) == "hello there"
