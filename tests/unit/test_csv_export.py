"""CSV exports open safely in spreadsheets, and long previews come with one."""

from __future__ import annotations

import csv
import io

from conversations.csv_export import safe_cell, to_csv
from conversations.events import Actor
from conversations.settings import Admins, ProgramSettings
from tests.fakes.memory import World


def test_cells_that_look_like_formulas_are_escaped() -> None:
    assert [safe_cell(v) for v in ("=SUM(A1)", "+1", "-2", "@cmd", "plain", 3)] == [
        "'=SUM(A1)", "'+1", "'-2", "'@cmd", "plain", "3"]
    rows = list(csv.reader(io.StringIO(to_csv(("a", "b"), [("=x", "y, z")]))))
    assert rows == [["a", "b"], ["'=x", "y, z"]]


async def test_a_long_preview_is_summarised_with_the_whole_list_attached() -> None:
    w = World(settings=ProgramSettings(topics=("GenAI",), admins=Admins(console=("boss",))))
    boss = Actor("console", "console", "boss")
    await w.say(boss, 'admin cohort open "Big"')
    for i in range(30):
        await w.sign_up(Actor("console", "console", f"m{i}"), name=f"=Mentor {i}", role="mentor", level="L2",
                        department=f"D{i}", topics_teach=("GenAI",))
        await w.sign_up(Actor("console", "console", f"e{i}"), name=f"Mentee {i}", role="mentee", level="L9",
                        department=f"S{i}", topics_learn=("GenAI",), topics_teach=())
    reply = await w.say(boss, "admin match preview")
    message = reply.messages[0]
    assert message.file is not None and message.file.name.endswith(".csv")
    assert "...and 5 more pairs." in "\n".join(message.sections)
    rows = list(csv.reader(io.StringIO(message.file.content)))
    assert rows[0][:3] == ["kind", "mentor", "mentee"]
    assert len([r for r in rows if r[0] == "pair"]) == 30
    assert all(r[1].startswith("'=") for r in rows[1:31])  # a name that looks like a formula stays text
