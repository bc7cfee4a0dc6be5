"""The confidential "I need help" thread between one person and the program admins. (Being built.)"""

from __future__ import annotations

from conversations.deps import Deps
from conversations.model import HelpRequest, Pair, Person
from conversations.ports import UnitOfWork


async def open_request(uow: UnitOfWork, deps: Deps, person: Person, pair: Pair | None, text: str,
                       *, topic: str = "help") -> HelpRequest:
    """Open a thread: the person gets an acknowledgement, the admins get the request with its id for
    `admin reply ID text`; the partner never sees any of it. `topic` is "help" or "re-pair"."""
    raise NotImplementedError
