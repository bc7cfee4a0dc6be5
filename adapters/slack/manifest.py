"""A ready Slack app manifest: the slash command, scopes, interactivity, options and events (or Socket Mode)."""

from __future__ import annotations

from typing import Any

from adapters.slack.app import BOT_SCOPES, EVENTS_PATH, REDIRECT_PATH

BOT_EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked", "message.im")


def slack_manifest(*, command: str, public_url: str | None, socket_mode: bool, oauth: bool,
                   name: str = "mentorbot") -> dict[str, Any]:
    """The manifest as a dict; HTTP mode needs the public URL Slack will call."""
    base = (public_url or "").rstrip("/")
    events_url = f"{base}{EVENTS_PATH}"
    slash: dict[str, Any] = {
        "command": command,
        "description": "Reverse mentoring: join, status, pause, leave, admin",
        "usage_hint": "join | status | profile | pause [weeks] | leave | admin help",
        "should_escape": True,  # Slack: mentions arrive as <@U123|name>, which USER arguments accept (2026-11)
    }
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": list(BOT_EVENTS)},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": False,
    }
    if not socket_mode:
        slash["url"] = events_url
        settings["event_subscriptions"]["request_url"] = events_url
        settings["interactivity"]["request_url"] = events_url
        settings["interactivity"]["message_menu_options_url"] = events_url
    oauth_config: dict[str, Any] = {"scopes": {"bot": list(BOT_SCOPES)}}
    if oauth and not socket_mode:
        oauth_config["redirect_urls"] = [f"{base}{REDIRECT_PATH}"]
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Reverse mentoring: junior colleagues mentor senior leaders.",
            "long_description": (
                "mentorbot runs reverse-mentoring programs in Slack: people sign up with a slash command, get "
                "paired fairly on goals and topics, receive check-ins in their own working hours, and give truly "
                "anonymous feedback, while program admins steer cohorts with admin commands."),
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": oauth_config,
        "settings": settings,
    }
