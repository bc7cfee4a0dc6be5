"""Prebuilt Core statements for the reads every request makes; building a statement costs more than running it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, literal, or_, select

from storage.models import AddressRow, AdminRow, CohortRow, IdentityRow, MembershipRow, PairRow, PersonRow

ACTIVE_STATES = ("signup", "running")

_person: Table = PersonRow.__table__  # type: ignore[attr-defined]
_identity: Table = IdentityRow.__table__  # type: ignore[attr-defined]
_cohort: Table = CohortRow.__table__  # type: ignore[attr-defined]
_member: Table = MembershipRow.__table__  # type: ignore[attr-defined]
_admin: Table = AdminRow.__table__  # type: ignore[attr-defined]
_pair: Table = PairRow.__table__  # type: ignore[attr-defined]
_address: Table = AddressRow.__table__  # type: ignore[attr-defined]

PERSON_BY_ACTOR: Any = (
    select(_person, _identity.c.platform, _identity.c.workspace, _identity.c.user_id)
    .join(_identity, _identity.c.person_id == _person.c.id)
    .where(_identity.c.platform == bindparam("platform"), _identity.c.workspace == bindparam("workspace"),
           _identity.c.user_id == bindparam("user_id"))
)

CURRENT_COHORT: Any = (
    select(_cohort)
    .where(_cohort.c.platform == bindparam("platform"), _cohort.c.workspace == bindparam("workspace"),
           _cohort.c.state.in_(ACTIVE_STATES))
    .limit(1)
)

COHORTS_OF: Any = (
    select(_cohort)
    .join(_member, _member.c.cohort_id == _cohort.c.id)
    .where(_member.c.person_id == bindparam("person_id"))
    .order_by(_cohort.c.created_at, _cohort.c.id)
)

IS_ADMIN: Any = (
    select(literal(1))
    .where(_admin.c.platform == bindparam("platform"), _admin.c.workspace == bindparam("workspace"),
           _admin.c.user_id == bindparam("user_id"))
    .limit(1)
)

ACTIVE_PAIRS_OF: Any = (  # Core rows read by attribute like PairRow; no identity map, so never stale
    select(_pair)
    .where(or_(_pair.c.mentor_id == bindparam("person_id"), _pair.c.mentee_id == bindparam("person_id")),
           _pair.c.state == "active")
    .order_by(_pair.c.created_at, _pair.c.id)
)

ADDRESS_OF: Any = (  # every proactive Teams message reads the person's conversation reference
    select(_address.c.data)
    .where(_address.c.platform == bindparam("platform"), _address.c.workspace == bindparam("workspace"),
           _address.c.user_id == bindparam("user_id"))
    .limit(1)
)
