"""Check-ins end to end on the console: the real `mentorbot shell` process, a real database, buttons clicked by
number as a person would: `admin checkins now`, Yes with a private note and progress, "I need help" and
`admin reply`, while the partner sees nothing of the help thread."""

from __future__ import annotations

import asyncio
import re
import sys

from sqlalchemy import text

from storage.db import create_engine
from tests.integration.cli import ROOT, cli_env, mentorbot, signup_answers

ALL_DAY = ["mon,tue,wed,thu,fri,sat,sun", "00:00-24:00"]  # always in working time: the real clock runs here
_PROMPT = re.compile(r"(?:^|\n)[A-Za-z0-9._-]+> $")


def _answers(name: str, **kw: object) -> list[str]:
    answers = signup_answers(name, **kw)  # type: ignore[arg-type]
    answers[5:7] = ALL_DAY
    return answers


class Shell:
    """An interactive `mentorbot shell`: one line in, everything up to the next prompt out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.transcript = ""

    @classmethod
    async def start(cls, database_url: str, user: str) -> Shell:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(ROOT / "app.yaml"), "shell", "--as", user,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            cwd=ROOT, env=cli_env(database_url))
        shell = cls(proc)
        await shell._until_prompt()
        return shell

    async def _until_prompt(self) -> str:
        assert self.proc.stdout is not None
        out = ""
        while not _PROMPT.search(out):
            chunk = await asyncio.wait_for(self.proc.stdout.read(65536), 30)
            if not chunk:
                raise AssertionError(f"the shell ended:\n{self.transcript}{out}")
            out += chunk.decode()
        self.transcript += out
        return out

    async def say(self, *lines: str) -> str:
        """Type the lines one by one; returns what the bot printed for all of them."""
        assert self.proc.stdin is not None
        out = ""
        for line in lines:
            self.proc.stdin.write(f"{line}\n".encode())
            await self.proc.stdin.drain()
            out += await self._until_prompt()
        return out

    async def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        await asyncio.wait_for(self.proc.wait(), 30)
        return self.proc.returncode or 0


def button(out: str, label: str, to: str) -> str:
    """The number of the button labelled `label` on the last message printed for `to`."""
    blocks = re.split(r"(?m)^── to ", out)
    mine = [b for b in blocks if b.startswith(f"{to} ──")]
    assert mine, out[-2000:]
    found = re.search(rf"\[(\d+)\] {re.escape(label)}(?:   |\n|$)", mine[-1])
    assert found is not None, mine[-1]
    return found.group(1)


async def _scalar(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_a_check_in_is_delivered_answered_and_help_stays_confidential_on_the_console(
        database_url: str) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    shell = await Shell.start(database_url, "alice")  # alice is the console's admin in app.yaml
    try:
        await shell.say('admin cohort open "Spring 2027" --weeks 12 --cadence biweekly',
                        "/as bob", "join", *_answers("Bob Brown", role="mentor", level=2, department="Engineering",
                                                     tz="Europe/Berlin", teach="GenAI"),
                        "/as carol", "join", *_answers("Carol Chen", role="mentee", level=9, department="Leadership",
                                                       tz="America/New_York", learn="GenAI"),
                        "/as alice", "admin cohort close-signup")
        paired = await shell.say("admin pair bob carol")
        assert "Paired Bob Brown (mentor) with Carol Chen" in paired, paired
        proposal = await shell.say("/as bob", "objectives", "Ship one GenAI prototype", "", "")
        agreed = await shell.say("/as carol", button(proposal, "Agree", "carol"))
        assert "Agreed." in agreed

        sent = await shell.say("/as alice", "admin checkins now")
        assert "2 check-ins scheduled" in sent, sent
        assert "── to bob ──\nDid you meet Carol Chen since " in sent
        assert "── to carol ──\nDid you meet Bob Brown since " in sent
        assert "[" in sent and "] I need help" in sent
        again = await shell.say("admin checkins now")
        assert "0 check-ins scheduled" in again and "Did you meet" not in again  # nobody gets one twice

        yes = button(sent, "Yes", "bob")
        answered = await shell.say("/as bob", yes)
        assert "Recorded: you met. Well done!" in answered
        assert "── Your check-in ──" in answered
        assert "A private note for yourself (only you see it) (optional)" in answered
        asked = await shell.say("A good first talk about prompts.")
        assert "Progress (0-4): Ship one GenAI prototype [0]" in asked, asked
        assert "0 not started, 1 first steps, 2 halfway, 3 nearly there, 4 done" in asked
        saved = await shell.say("3")
        assert "Saved. Thank you!" in saved and "- Ship one GenAI prototype: 3/4" in saved, saved
        assert "is not on a message shown to bob, or it was replaced" in await shell.say(yes)

        helped = await shell.say("/as carol", button(sent, "I need help", "carol"))
        assert "Your request for help is with the program admins." in helped
        assert "your partner doesn't" in helped
        request = re.search(r"── to alice ──\nConfidential: Carol Chen asks for help \(request ([A-Z0-9]{5})\)",
                            helped)
        assert request is not None, helped
        replied = await shell.say("/as alice", f"admin reply {request.group(1)} Let us talk tomorrow at ten.")
        assert "Sent to Carol Chen." in replied
        assert f"── to carol ──\nA program admin answered your request {request.group(1)}" in replied
        assert "Let us talk tomorrow at ten." in replied
    finally:
        assert await shell.close() == 0
    bob_saw = "".join(b for b in re.split(r"(?m)^── to ", shell.transcript) if b.startswith("bob ──"))
    assert request.group(1) not in bob_saw and "help" not in bob_saw.lower().replace("i need help", "")
    assert await _scalar(database_url, "SELECT COUNT(*) FROM checkins WHERE state = 'answered'") == 2
    assert await _scalar(database_url, "SELECT progress FROM objectives") == 3
    assert await _scalar(database_url, "SELECT note FROM checkins WHERE answer = 'yes'") == \
        "A good first talk about prompts."
