"""slack_bolt's async installation and OAuth state stores, kept in the project's database through the engine's ports."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from conversations.ports import Clock, UnitOfWorkFactory

PLATFORM = "slack"
STATE_LIFETIME = timedelta(minutes=10)


def _workspace(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> str:
    # Slack: an org-wide (Enterprise Grid) install has no team id; it is keyed by the enterprise (2026-11)
    if is_enterprise_install and enterprise_id:
        return f"E:{enterprise_id}"
    return team_id or f"E:{enterprise_id}"


def _encode(installation: Installation) -> str:
    data: dict[str, Any] = installation.to_dict()
    data["installed_at"] = installation.installed_at  # a float timestamp, as Installation() takes it back
    return json.dumps(data, default=str)


class SqlSlackInstallationStore(AsyncInstallationStore):
    """Installations per workspace, shared by every replica (latest one wins)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def async_save(self, installation: Installation) -> None:
        workspace = _workspace(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        async with self._uow() as uow:
            await uow.installations.save(PLATFORM, workspace, _encode(installation), self._clock.now())
            await uow.commit()

    async def async_save_bot(self, bot: Bot) -> None:
        """Bots are saved as part of their installation."""

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        async with self._uow() as uow:
            raw = await uow.installations.find(PLATFORM, _workspace(enterprise_id, team_id, is_enterprise_install))
        if raw is None:
            return None
        data = json.loads(raw)
        data.pop("custom_values", None)
        return Installation(**data)

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        installation = await self.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        return installation.to_bot() if installation and installation.bot_token else None

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is not None:
            return  # we keep one installation per workspace; a user's revoked token changes nothing
        await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        async with self._uow() as uow:
            await uow.installations.delete(PLATFORM, _workspace(enterprise_id, team_id, team_id is None))
            await uow.commit()


class SqlOAuthStateStore(AsyncOAuthStateStore):
    """OAuth `state` values in the database, so the install can finish on another replica."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        async with self._uow() as uow:
            await uow.oauth_states.issue(state, self._clock.now() + STATE_LIFETIME)
            await uow.commit()
        return state

    async def async_consume(self, state: str) -> bool:
        async with self._uow() as uow:
            ok = await uow.oauth_states.consume(state, self._clock.now())
            await uow.commit()
        return ok
