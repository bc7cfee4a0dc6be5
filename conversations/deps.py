"""What every flow may use, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from conversations.events import Actor
from conversations.ports import Clock, FeedbackScrubber, Messenger, UnitOfWork, UnitOfWorkFactory
from conversations.settings import ProgramSettings


@dataclass(frozen=True, slots=True)
class Deps:
    uow: UnitOfWorkFactory
    settings: ProgramSettings
    clock: Clock
    messengers: Mapping[str, Messenger]  # per platform: find_user, and delivery for the outbox
    feedback_key: bytes = b""  # keys the receipts of anonymous feedback; bot/ loads it (FEEDBACK_KEY or a key file)
    scrubber: FeedbackScrubber | None = None  # physically removes closed rounds' old rows (None: nothing to scrub)

    def command_hint(self, actor: Actor, words: str) -> str:
        """How the person types a command on their platform: `/mentor join` in Slack, `join` elsewhere."""
        if actor.platform == "slack":
            return f"{self.settings.command} {words}".strip()
        return words

    async def is_admin(self, uow: UnitOfWork, actor: Actor) -> bool:
        """Bootstrap admins come from app.yaml; the others from the admins table."""
        return self.is_bootstrap_admin(actor) or await uow.admins.is_admin(actor)

    def is_bootstrap_admin(self, actor: Actor) -> bool:
        return actor.user_id in self.settings.admins.for_platform(actor.platform)
