"""Importing trusted people data from an HR export (CSV): every row checked, all of it written or none."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence

from conversations import audit
from conversations.deps import Deps
from conversations.events import Actor, FileShared, FileUnavailable, SharedFile
from conversations.messages import Reply
from conversations.model import HrRecord
from conversations.profiles import is_email

log = logging.getLogger("mentorbot.hr_import")

COLUMNS = ("email", "identity", "level", "department", "manager", "location")
PLATFORMS = ("slack", "teams", "console")
MAX_ERRORS = 50
TEXT_LIMITS = {"department": 80, "location": 80, "manager": 254, "email": 254, "identity": 254}
OPERATOR = Actor("cli", "local", "operator")  # the person at the terminal: the audit log names them too
ACTION = "admin.import_people"
MAX_FILE_BYTES = 5 * 1024 * 1024  # an export of 50,000 people with every column is about 3.5 MB
ERROR_SHOWN_MAX = 300  # a problem quotes its cell, which may be long: a chat reply shows the start
PLATFORM_NAMES = {"slack": "Slack", "teams": "Teams", "console": "the console"}


def parse_people_csv(text: str, levels: Sequence[str]) -> list[HrRecord] | list[str]:
    """The HR records of a CSV export, or every problem in it, each naming its line (and column)."""
    people, errors = _read(text, levels)
    if errors:
        return errors
    return [record for row in people for record in row]


async def import_people(text: str, *, deps: Deps, actor: Actor = OPERATOR) -> tuple[int, list[str]]:
    """Replace all HR records with the file's, in one transaction; on any problem write nothing."""
    people, errors = _read(text, deps.settings.levels)
    if errors:
        return 0, errors
    records = [record for row in people for record in row]
    async with deps.uow() as uow:
        await uow.hr.replace_all(records, deps.clock.now())
        await audit.record(uow, deps.clock, actor, ACTION, "ok", detail=f"{len(people)} people")
        await uow.commit()
    return len(people), []


async def on_file_shared(event: FileShared, *, deps: Deps) -> Reply:
    """An admin sent the bot an HR export: import it as `mentorbot import-people` does and say how it went."""
    async with deps.uow() as uow:
        if not await deps.is_admin(uow, event.actor):
            await audit.record(uow, deps.clock, event.actor, ACTION, "denied", detail=_names(event))
            await uow.commit()
            return Reply.say("Only program admins can send me files: I use them to import HR data.",
                             "If you meant to share it with your mentoring partner, send it to them directly.")
    if len(event.files) != 1:
        return await _refuse(event, "several files", Reply.say(
            f"You sent {len(event.files)} files; please send one HR CSV at a time.",
            "Each import replaces all the HR data, so I take exactly one file per message."), deps=deps)
    file = event.files[0]
    if file.name and not file.name.lower().endswith(".csv"):  # no name: the platform could not say; read it
        return await _refuse(event, "not a CSV", Reply.say(
            f"{_shown(file.name)} is not a CSV file, so nothing was imported.",
            f"Export the HR data as CSV UTF-8 with the columns {', '.join(COLUMNS)} (email or identity, "
            "and any of the others), then send me that file."), deps=deps)
    if file.size is not None and file.size > MAX_FILE_BYTES:
        return await _refuse(event, "too large", _too_large(file), deps=deps)
    try:
        data = await file.read(MAX_FILE_BYTES)
    except FileUnavailable as problem:
        log.warning("could not fetch a shared HR file from %s: %s", event.actor.platform, problem)
        return await _refuse(event, "download failed", Reply.say(
            f"I couldn't fetch {_shown(file.name)} from {PLATFORM_NAMES.get(event.actor.platform, 'the platform')}"
            f" ({problem}), so nothing was imported.", "Please send it again."), deps=deps)
    if data is None:
        return await _refuse(event, "too large", _too_large(file), deps=deps)
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        return await _refuse(event, "not UTF-8", Reply.say(
            f"{_shown(file.name)} is not UTF-8 text, so nothing was imported.",
            "In Excel, save it as \"CSV UTF-8 (Comma delimited)\" and send it again."), deps=deps)
    count, errors = await import_people(text, deps=deps, actor=event.actor)
    if errors:
        return await _refuse(event, f"{len(errors)} problem{'' if len(errors) == 1 else 's'}", Reply.say(
            f"Nothing imported from {_shown(file.name)}: fix these and send it again.",
            "\n".join(e if len(e) <= ERROR_SHOWN_MAX else e[: ERROR_SHOWN_MAX - 1] + "…" for e in errors)),
            deps=deps)
    return Reply.say(f"Imported {count} {'person' if count == 1 else 'people'} from {_shown(file.name)}.",
                     "Their level, department, manager and location now come from HR: they win over what people "
                     "typed and cannot be edited away. The previous HR data is replaced.")


async def _refuse(event: FileShared, why: str, reply: Reply, *, deps: Deps) -> Reply:
    """Audit an import that wrote nothing, and give the reply that says why."""
    async with deps.uow() as uow:
        await audit.record(uow, deps.clock, event.actor, ACTION, "invalid", detail=f"{_names(event)}: {why}")
        await uow.commit()
    return reply


def _too_large(file: SharedFile) -> Reply:
    size = f"{file.size / 1_048_576:.1f} MB" if file.size is not None else f"over {MAX_FILE_BYTES // 1_048_576} MB"
    return Reply.say(f"{_shown(file.name)} is {size}; I take HR files of up to {MAX_FILE_BYTES // 1_048_576} MB, "
                     "so nothing was imported.",
                     "Leave out the columns the import does not use, or run `mentorbot import-people FILE.csv` "
                     "where the bot runs.")


def _names(event: FileShared) -> str:
    return ", ".join(_shown(f.name) for f in event.files)[:200]


def _shown(name: str) -> str:
    """A file name fit to quote back: one line, not too long."""
    one_line = " ".join(name.split()) or "the file"
    return one_line if len(one_line) <= 80 else one_line[:79] + "…"


def _read(text: str, levels: Sequence[str]) -> tuple[list[list[HrRecord]], list[str]]:
    """Per row, its records (one per key: email, identity); or the errors, capped for the terminal."""
    errors: list[str] = []
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as problem:
        return [], [f"line {reader.line_num}: {problem}"]
    if header is None or not any(cell.strip() for cell in header):
        return [], ["line 1: the file needs a header row naming its columns, e.g. email,level,department"]
    columns = [cell.strip().lower() for cell in header]
    header_errors = _check_header(columns)
    if header_errors:
        return [], header_errors

    people: list[list[HrRecord]] = []
    first_seen: dict[tuple[str, str], int] = {}  # (column, key) -> line
    line = reader.line_num + 1  # where the next record starts (a quoted cell may span lines)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as problem:
            errors.append(f"line {line}: {problem}")
            break  # the reader cannot find the next row's start after a broken quote
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            errors.append(f"line {start}: {len(cells)} cells, but the header has {len(columns)} columns")
            continue
        keyed, row_errors = _check_row(dict(zip(columns, (c.strip() for c in cells), strict=True)), start, levels)
        for key_column, record in keyed:
            seen = first_seen.setdefault((key_column, record.key), start)
            if seen != start:
                row_errors.append(f"line {start}: duplicate {key_column} {record.key} (first on line {seen})")
        errors.extend(row_errors)
        if not row_errors:
            people.append([record for _, record in keyed])
    if not errors and not people:
        errors.append("the file has a header but no people; an import replaces everything, so this would erase it")
    if len(errors) > MAX_ERRORS:
        errors = [*errors[:MAX_ERRORS], f"...and {len(errors) - MAX_ERRORS} more"]
    return people, errors


def _check_header(columns: list[str]) -> list[str]:
    errors: list[str] = []
    unnamed = [str(i + 1) for i, name in enumerate(columns) if not name]
    if unnamed:
        errors.append(f"line 1: column {', '.join(unnamed)} has no name")
    unknown = [name for name in columns if name and name not in COLUMNS]
    if unknown:
        errors.append(f"line 1: unknown column {', '.join(repr(u) for u in unknown)}; "
                      f"the columns are {', '.join(COLUMNS)}")
    repeated = sorted({name for name in columns if name and columns.count(name) > 1})
    if repeated:
        errors.append(f"line 1: column {', '.join(repr(r) for r in repeated)} appears more than once")
    if "email" not in columns and "identity" not in columns:
        errors.append("line 1: the header needs an email or an identity column to find each person by")
    return errors


def _check_row(cells: dict[str, str], line: int, levels: Sequence[str]
               ) -> tuple[list[tuple[str, HrRecord]], list[str]]:
    """The records one row gives, one per key it has and named by that key's column; or what is wrong."""
    errors: list[str] = []

    def bad(column: str, problem: str) -> None:
        errors.append(f"line {line}, column {column}: {problem}")

    for column, limit in TEXT_LIMITS.items():
        if len(cells.get(column, "")) > limit:
            bad(column, f"{len(cells[column])} characters; at most {limit} are allowed")
    email = cells.get("email", "").lower()
    identity = cells.get("identity", "")
    manager = cells.get("manager", "").lower()
    if email and not is_email(email):
        bad("email", f"{cells['email']!r} is not an email")
    if identity and not _is_identity(identity):
        bad("identity", f"{identity!r} is not a platform identity; write it like slack:T0123:U0456, "
                        "teams:TENANT:USER or console:console:bob")
    if not email and not identity:
        errors.append(f"line {line}: no email or identity; each person needs one to be found by")
    if manager and not is_email(manager):
        bad("manager", f"{cells['manager']!r} is not an email")
    level = cells.get("level", "")
    canonical = _on_ladder(level, levels) if level else ""
    if canonical is None:
        bad("level", f"{level!r} is not on the ladder ({', '.join(levels)})")
    if errors:
        return [], errors
    keys = [(column, key) for column, key in (("email", email), ("identity", _identity_key(identity))) if key]
    return [(column, HrRecord(key=key, level=canonical or "", department=cells.get("department", ""),
                              manager=manager, location=cells.get("location", ""))) for column, key in keys], []


def _is_identity(raw: str) -> bool:
    parts = raw.split(":", 2)  # Teams user ids hold colons themselves ("29:1a2b..."): split twice at most
    return len(parts) == 3 and parts[0].lower() in PLATFORMS and all(p.strip() for p in parts)


def _identity_key(raw: str) -> str:
    """The key the engine builds from an Actor: platform lower-case, the ids as the platform spells them."""
    if not raw:
        return ""
    platform, workspace, user_id = raw.split(":", 2)
    return f"{platform.lower()}:{workspace}:{user_id}"


def _on_ladder(raw: str, levels: Sequence[str]) -> str | None:
    """The ladder's spelling of a level, matched case-insensitively; "L5" finds "L5 Lead" when only one fits."""
    wanted = raw.lower()
    exact = [lv for lv in levels if lv.lower() == wanted]
    if exact:
        return exact[0]
    by_code = [lv for lv in levels if lv.split(" ", 1)[0].lower() == wanted]
    return by_code[0] if len(by_code) == 1 else None
