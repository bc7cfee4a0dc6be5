"""`mentorbot teams-package`: a zip Teams accepts, or one clear line saying what is missing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from adapters.teams.package import validate_manifest
from tests.integration.cli import mentorbot
from tests.official_schemas import schema_path as official_schema

APP_ID = "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"


async def test_the_package_holds_a_valid_manifest_and_both_icons(tmp_path: Path) -> None:
    out = tmp_path / "mentorbot.zip"
    run = await mentorbot("teams-package", "--out", str(out), database_url="sqlite:///unused.db",
                          TEAMS_APP_ID=APP_ID)
    assert run.code == 0, run.err
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert package.read("color.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert validate_manifest(manifest, official_schema("teams-manifest-v1.17.schema.json")) == []
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    commands = [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    assert {"join", "status", "leave", "admin"} <= set(commands)


async def test_without_an_app_id_it_says_what_to_give(tmp_path: Path) -> None:
    run = await mentorbot("teams-package", "--out", str(tmp_path / "x.zip"), database_url="sqlite:///unused.db")
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        "mentorbot: teams-package needs the bot's Microsoft App ID: --app-id GUID or TEAMS_APP_ID"]


async def test_a_malformed_app_id_is_refused_clearly(tmp_path: Path) -> None:
    run = await mentorbot("teams-package", "--app-id", "not-a-guid", "--out", str(tmp_path / "x.zip"),
                          database_url="sqlite:///unused.db")
    assert run.code == 2
    assert len(run.err.strip().splitlines()) == 1 and "GUID" in run.err
