"""SlackMessenger against the fake Slack Web API: DMs opened once, group DMs, pacing, failures mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import messenger as slack_messenger
from adapters.slack.messenger import SlackMessenger
from conversations.events import Actor, MessageRef
from conversations.messages import Button, Message, TextFile
from conversations.ports import DeliveryError
from tests.fakes.memory import FakeClock, MemoryUnitOfWorkFactory
from tests.fakes.slack_api import FakeSlackApi

ANN = Actor("slack", "T0001", "U0ANN")
BEN = Actor("slack", "T0001", "U0BEN")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api
        assert api.invalid == []


def _messenger(fake: FakeSlackApi, uow: MemoryUnitOfWorkFactory | None = None) -> SlackMessenger:
    client = AsyncWebClient(token="xoxb-test", base_url=fake.base_url)

    async def client_for(workspace: str) -> AsyncWebClient:
        return client

    return SlackMessenger(client_for=client_for, uow=uow or MemoryUnitOfWorkFactory(),
                          clock=FakeClock(datetime(2027, 1, 1, tzinfo=UTC)))


async def test_a_dm_channel_is_opened_once_and_reused(fake: FakeSlackApi,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_messenger, "CHANNEL_PACE_SECONDS", 0.0)
    uow = MemoryUnitOfWorkFactory()
    first = _messenger(fake, uow)
    await first.send([ANN], Message("one"))
    await first.send([ANN], Message("two"))
    await _messenger(fake, uow).send([ANN], Message("three"))  # another process, same database
    assert len(fake.calls_to("conversations.open")) == 1
    posts = fake.calls_to("chat.postMessage")
    assert [p.params["text"] for p in posts] == ["one", "two", "three"]
    assert len({p.params["channel"] for p in posts}) == 1


async def test_a_pair_gets_a_group_dm(fake: FakeSlackApi) -> None:
    ref = await _messenger(fake).send([ANN, BEN], Message("Meet your partner", buttons=(Button("Hi", "x.y"),)))
    (opened,) = fake.calls_to("conversations.open")
    assert opened.params["users"] == "U0ANN,U0BEN"
    (posted,) = fake.calls_to("chat.postMessage")
    assert posted.params["channel"].startswith("G")
    assert ref.startswith(f"msg:T0001:{posted.params['channel']}:")


async def test_messages_to_one_channel_are_paced(fake: FakeSlackApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slack_messenger, "CHANNEL_PACE_SECONDS", 0.3)
    messenger = _messenger(fake)
    await messenger.send([ANN], Message("a"))
    await messenger.send([ANN], Message("b"))
    await messenger.send([ANN], Message("c"))
    a, b, c = (p.at for p in fake.calls_to("chat.postMessage"))
    assert b - a >= 0.29 and c - b >= 0.29


async def test_a_rate_limit_becomes_a_retry_after(fake: FakeSlackApi) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=17)
    with pytest.raises(DeliveryError) as failure:
        await _messenger(fake).send([ANN], Message("hello"))
    assert failure.value.retry_after == 17 and not failure.value.permanent


@pytest.mark.parametrize("error", ["user_not_found", "account_inactive", "channel_not_found", "not_in_channel"])
async def test_a_person_gone_is_a_permanent_failure(fake: FakeSlackApi, error: str) -> None:
    fake.fail("chat.postMessage", status=200, error=error)
    with pytest.raises(DeliveryError) as failure:
        await _messenger(fake).send([ANN], Message("hello"))
    assert failure.value.permanent and failure.value.reason == error


async def test_a_server_error_is_transient(fake: FakeSlackApi) -> None:
    fake.fail("chat.postMessage", status=500)
    with pytest.raises(DeliveryError) as failure:
        await _messenger(fake).send([ANN], Message("hello"))
    assert not failure.value.permanent and failure.value.retry_after is None


async def test_update_rewrites_the_message_it_sent(fake: FakeSlackApi) -> None:
    messenger = _messenger(fake)
    ref = await messenger.send([ANN], Message("before"))
    await messenger.update(ref, Message("after"))
    (updated,) = fake.calls_to("chat.update")
    assert updated.params["text"] == "after"
    with pytest.raises(DeliveryError):
        await messenger.update(MessageRef("view:V1"), Message("x"))


async def test_users_are_found_by_mention_id_or_email(fake: FakeSlackApi) -> None:
    fake.add_user("U0DANA", name="Dana", email="dana@example.com")
    messenger = _messenger(fake)
    assert await messenger.find_user("T0001", "<@U0DANA|dana>") == Actor("slack", "T0001", "U0DANA")
    assert await messenger.find_user("T0001", "U0DANA") == Actor("slack", "T0001", "U0DANA")
    assert await messenger.find_user("T0001", "dana@example.com") == Actor("slack", "T0001", "U0DANA")
    assert await messenger.find_user("T0001", "nobody@example.com") is None
    assert await messenger.find_user("T0001", "dana") is None
    assert await messenger.find_user("T0001", "Ursula") is None



async def test_a_file_goes_up_with_the_message_in_three_steps(fake: FakeSlackApi) -> None:
    await _messenger(fake).send([ANN], Message("Preview", file=TextFile("preview-1.csv", "a,b\n=1,2\n")))
    assert [c.method for c in fake.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]
    assert any(b"=1,2" in upload for upload in fake.uploads.values())
