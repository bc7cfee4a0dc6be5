"""Everything stored about one person, table by table, for a data-subject access request (export-person).

Read straight from the tables so nothing is missed, and only what is theirs: their own check-ins and notes,
never their partner's; their own avoid list, never anyone else's that names them; the count of admin
exclusions, never who the other person is. Anonymous feedback answers cannot be found, by design."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col, or_, select

from storage.models import (
    AddressRow,
    AdminRow,
    AuditRow,
    CheckInRow,
    CohortRow,
    ExclusionRow,
    HelpMessageRow,
    HelpRequestRow,
    HrRecordRow,
    IdentityRow,
    JobRow,
    MembershipRow,
    NudgeRow,
    ObjectiveRow,
    OutboxRow,
    PairRow,
    PersonRow,
    PseudonymRow,
)

ANONYMOUS_FEEDBACK = ("Your anonymous feedback answers are stored with no link to you (no name, no time, no "
                      "order), so they cannot be found or exported; nobody else can attribute them to you either.")


def _when(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


async def find_person(engine: AsyncEngine, who: str) -> str | None:
    """The person id for `platform:workspace:user_id` or an email address, if they are stored."""
    async with AsyncSession(engine) as session:
        parts = who.split(":", 2)
        if len(parts) == 3 and all(parts):
            row = (await session.execute(select(IdentityRow.person_id).where(
                col(IdentityRow.platform) == parts[0].lower(), col(IdentityRow.workspace) == parts[1],
                col(IdentityRow.user_id) == parts[2]))).first()
            return None if row is None else str(row[0])
        if "@" in who:
            rows = (await session.execute(select(PersonRow.id).where(
                func.lower(col(PersonRow.email)) == who.strip().lower()))).all()
            if len(rows) > 1:
                raise LookupError(f"{len(rows)} people have this email (in different workspaces); "
                                  "name one as platform:workspace:id")
            return str(rows[0][0]) if rows else None
    return None


async def export_person(engine: AsyncEngine, person_id: str, *, now: datetime) -> dict[str, Any]:
    """One person's data as JSON-ready dicts; raises LookupError if they are not stored."""
    async with AsyncSession(engine) as session:
        person = await session.get(PersonRow, person_id)
        if person is None:
            raise LookupError("no such person")
        identities = list(await session.scalars(select(IdentityRow).where(col(IdentityRow.person_id) == person_id)))
        keys = [(i.platform, i.workspace, i.user_id) for i in identities]

        def for_identity(table: Any) -> Any:
            return or_(*((col(table.platform) == p) & (col(table.workspace) == w) & (col(table.user_id) == u)
                         for p, w, u in keys)) if keys else col(table.platform).is_(None)

        memberships = (await session.execute(
            select(MembershipRow, CohortRow).join(CohortRow, col(CohortRow.id) == col(MembershipRow.cohort_id))
            .where(col(MembershipRow.person_id) == person_id).order_by(col(MembershipRow.joined_at)))).all()
        pairs = list(await session.scalars(select(PairRow).where(
            or_(col(PairRow.mentor_id) == person_id, col(PairRow.mentee_id) == person_id))
            .order_by(col(PairRow.created_at))))
        pair_list = []
        for pair in pairs:
            partner_id = pair.mentee_id if pair.mentor_id == person_id else pair.mentor_id
            partner = await session.get(PersonRow, partner_id)
            cohort = await session.get(CohortRow, pair.cohort_id)
            objectives = await session.scalars(select(ObjectiveRow).where(col(ObjectiveRow.pair_id) == pair.id)
                                               .order_by(col(ObjectiveRow.created_at)))
            pair_list.append({
                "cohort": cohort.name if cohort else None, "your_role": "mentor" if pair.mentor_id == person_id
                else "mentee", "partner": partner.name if partner else None, "state": pair.state,
                "score": pair.score, "reasons": [r[2] for r in pair.reasons if len(r) > 2],
                "paired_at": _when(pair.created_at), "ended_at": _when(pair.ended_at),
                "objectives": [{"text": o.text, "proposed_by": "you" if o.proposed_by == person_id else "your partner",
                                "agreed": o.agreed, "progress": o.progress} for o in objectives]})
        checkins = await session.scalars(select(CheckInRow).where(col(CheckInRow.person_id) == person_id)
                                         .order_by(col(CheckInRow.due_at)))
        nudges = await session.scalars(select(NudgeRow).where(col(NudgeRow.person_id) == person_id)
                                       .order_by(col(NudgeRow.due_at)))
        requests = list(await session.scalars(select(HelpRequestRow).where(col(HelpRequestRow.person_id) == person_id)
                                              .order_by(col(HelpRequestRow.opened_at))))
        help_list = []
        for request in requests:
            messages = await session.scalars(select(HelpMessageRow).where(
                col(HelpMessageRow.request_id) == request.id).order_by(col(HelpMessageRow.at)))
            help_list.append({"id": request.id, "opened_at": _when(request.opened_at), "state": request.state,
                              "messages": [{"from": m.author, "text": m.text, "at": _when(m.at)} for m in messages]})
        in_group = [(col(OutboxRow.workspace) == w) & col(OutboxRow.also).contains(json.dumps(u))
                    for _, w, u in keys]  # a group message (a Slack pair intro) names them in `also`
        outbox = await session.scalars(select(OutboxRow).where(or_(for_identity(OutboxRow), *in_group))
                                       .order_by(col(OutboxRow.id)))
        addresses = await session.scalars(select(AddressRow).where(for_identity(AddressRow)))
        admins = await session.scalars(select(AdminRow).where(for_identity(AdminRow)))
        tokens = [p.token for p in await session.scalars(select(PseudonymRow).where(for_identity(PseudonymRow)))]
        audit = await session.scalars(select(AuditRow).where(
            or_(col(AuditRow.actor).in_(tokens), col(AuditRow.target).in_(tokens))).order_by(col(AuditRow.at)))
        hr_keys = [f"{p}:{w}:{u}" for p, w, u in keys] + ([person.email.lower()] if person.email else [])
        hr = await session.scalars(select(HrRecordRow).where(col(HrRecordRow.key).in_(hr_keys)))
        jobs = await session.scalars(select(JobRow).where(col(JobRow.subject) == person_id))
        exclusions = len((await session.execute(select(ExclusionRow.a).where(
            or_(col(ExclusionRow.a) == person_id, col(ExclusionRow.b) == person_id)))).all())
        return {
            "exported_at": now.isoformat(),
            "profile": {
                "id": person.id, "name": person.name, "role": person.role, "level": person.level,
                "department": person.department, "manager": person.manager, "email": person.email,
                "time_zone": person.time_zone, "working_days": person.working_days, "work_start": person.work_start,
                "work_end": person.work_end, "topics_teach": person.topics_teach,
                "topics_learn": person.topics_learn, "goals": person.goals, "languages": person.languages,
                "prefer_not_to_be_paired_with": person.avoid, "status": person.status,
                "paused_until": _when(person.paused_until), "signed_up_at": _when(person.created_at),
                "updated_at": _when(person.updated_at)},
            "identities": [{"platform": p, "workspace": w, "user_id": u} for p, w, u in keys],
            "program_admin": [{"platform": a.platform, "workspace": a.workspace, "since": _when(a.added_at)}
                              for a in admins],
            "memberships": [{"cohort": c.name, "cohort_state": c.state, "joined_at": _when(m.joined_at)}
                            for m, c in memberships],
            "pairs": pair_list,
            "checkins": [{"round": c.round, "due_at": _when(c.due_at), "state": c.state, "sent_at": _when(c.sent_at),
                          "answer": c.answer, "answered_at": _when(c.answered_at), "note": c.note,
                          "progress": c.progress} for c in checkins],
            "nudges_received": [{"trigger": n.trigger, "due_at": _when(n.due_at), "sent_at": _when(n.sent_at)}
                                for n in nudges],
            "help_requests": help_list,
            "messages_to_you": [{"state": o.state, "created_at": _when(o.created_at), "sent_at": _when(o.sent_at),
                                 "message": json.loads(o.message_json)} for o in outbox],
            "addresses": [{"platform": a.platform, "workspace": a.workspace, "data": a.data,
                           "updated_at": _when(a.updated_at)} for a in addresses],
            "scheduled_for_you": [{"kind": j.kind, "due_at": _when(j.due_at), "state": j.state} for j in jobs],
            "hr_records": [{"level": r.level, "department": r.department, "manager": r.manager,
                            "location": r.location, "imported_at": _when(r.imported_at)} for r in hr],
            "audit_entries": [{"at": _when(e.at), "action": e.action, "outcome": e.outcome,
                               "you_were": "actor" if e.actor in tokens else "target", "detail": e.detail}
                              for e in audit],
            "kept_apart_by_admins_from": f"{exclusions} {'person' if exclusions == 1 else 'people'}",
            "anonymous_feedback": ANONYMOUS_FEEDBACK,
        }
