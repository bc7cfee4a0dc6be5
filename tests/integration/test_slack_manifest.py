"""`mentorbot slack-manifest`: a manifest Slack accepts, for HTTP, OAuth and Socket Mode."""

from __future__ import annotations

import yaml

from tests.integration.cli import mentorbot


async def test_the_http_manifest_points_every_slack_feature_at_one_endpoint(tmp_path: object) -> None:
    run = await mentorbot("slack-manifest", "--url", "https://bot.example.com/", "--oauth",
                          database_url="sqlite:///unused.db")
    assert run.code == 0, run.err
    manifest = yaml.safe_load(run.out)
    endpoint = "https://bot.example.com/slack/events"
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/mentor" and command["url"] == endpoint and command["should_escape"] is True
    settings = manifest["settings"]
    assert settings["interactivity"] == {"is_enabled": True, "request_url": endpoint,
                                         "message_menu_options_url": endpoint}
    assert settings["event_subscriptions"]["request_url"] == endpoint
    assert set(settings["event_subscriptions"]["bot_events"]) >= {"app_home_opened", "app_uninstalled",
                                                                  "tokens_revoked", "message.im"}
    assert settings["socket_mode_enabled"] is False
    assert manifest["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]
    assert {"commands", "chat:write", "im:write", "users:read", "files:read"} <= set(
        manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


async def test_the_socket_mode_manifest_needs_no_url() -> None:
    run = await mentorbot("slack-manifest", "--socket-mode", database_url="sqlite:///unused.db")
    assert run.code == 0, run.err
    manifest = yaml.safe_load(run.out)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["interactivity"]


async def test_http_mode_without_a_public_https_url_is_refused_clearly() -> None:
    run = await mentorbot("slack-manifest", "--url", "http://insecure", database_url="sqlite:///unused.db")
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        "mentorbot: slack-manifest needs --url https://your-host (Slack calls it) or --socket-mode"]
