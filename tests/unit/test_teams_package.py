"""The Teams app package: the manifest validates against the official v1.17 schema, icons are what Teams asks for,
and the zip is deterministic with its three files at the root."""

from __future__ import annotations

import copy
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from adapters.teams import package
from adapters.teams.package import (
    DEFAULT_SCHEMA_PATH,
    build_package,
    color_icon_png,
    outline_icon_png,
    teams_manifest,
    validate_manifest,
)
from tests.official_schemas import schema_path as official_schema

APP_ID = "8f0c5a51-3b0e-4a7e-9b5c-2d6f1e0a9c11"
BOT_ID = "0d6c1a2b-7e4f-4c3d-8a9b-112233445566"


@pytest.fixture
def schema_path() -> Path:
    return official_schema("teams-manifest-v1.17.schema.json")


def manifest(**kw: Any) -> dict[str, Any]:
    return teams_manifest(app_id=APP_ID, **kw)


# --- the manifest -------------------------------------------------------------------------------------------------

def test_schema_default_path_is_beside_the_repo(schema_path: Path) -> None:
    repo = Path(package.__file__).resolve().parents[2]
    expected = repo.parent / "shared" / "schemas" / "teams-manifest-v1.17.schema.json"
    assert expected == DEFAULT_SCHEMA_PATH
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"


def test_default_manifest_validates(schema_path: Path) -> None:
    assert validate_manifest(manifest(), schema_path) == []


def test_full_manifest_validates(schema_path: Path) -> None:
    m = manifest(bot_id=BOT_ID, name="Acme Mentoring", version="2.3.4", developer_url="https://mentoring.acme.test/",
                 valid_domains=["https://bot.acme.test/api/messages", "bot.acme.test", "*.acme.test"])
    assert validate_manifest(m, schema_path) == []
    assert m["bots"][0]["botId"] == BOT_ID
    assert m["id"] == APP_ID
    assert m["validDomains"] == ["bot.acme.test", "*.acme.test"]
    assert m["developer"]["websiteUrl"] == "https://mentoring.acme.test"
    assert m["name"]["short"] == "Acme Mentoring"


def test_manifest_shape() -> None:
    m = manifest()
    assert m["$schema"] == "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    assert m["manifestVersion"] == "1.17"
    assert m["version"] == "1.0.0"
    assert m["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert m["permissions"] == ["identity", "messageTeamMembers"]
    (bot,) = m["bots"]
    assert bot["botId"] == APP_ID  # defaults to the app id
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert bot["supportsFiles"] is True and bot["isNotificationOnly"] is False  # the HR CSV comes as a file
    assert "packageName" not in m  # not in the v1.17 schema, which forbids extra properties
    assert "reverse mentoring" in m["description"]["short"].lower()
    full = m["description"]["full"].lower()
    for words in ("senior leaders", "working hours", "anonymous", "paired"):
        assert words in full
    json.dumps(m)  # plain JSON


def test_command_list_within_teams_limits() -> None:
    (bot,) = manifest()["bots"]
    (commands,) = bot["commandLists"]
    assert commands["scopes"] == ["personal"]
    titles = [c["title"] for c in commands["commands"]]
    assert titles == ["join", "status", "profile", "pause", "resume", "leave", "help", "admin"]
    assert len(commands["commands"]) <= 10
    for c in commands["commands"]:
        assert 0 < len(c["title"]) <= 32
        assert 0 < len(c["description"]) <= 128


def test_text_limits() -> None:
    m = manifest()
    assert len(m["name"]["short"]) <= 30 and len(m["name"]["full"]) <= 100
    assert len(m["description"]["short"]) <= 80
    assert len(m["description"]["full"]) <= 4000


@pytest.mark.parametrize("bad", ["", "not-a-guid", "8f0c5a51-3b0e-4a7e-9b5c-2d6f1e0a9c1", "{8f0c5a51-3b0e-4a7e}"])
def test_bad_app_id_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="app_id must be a GUID"):
        teams_manifest(app_id=bad)


def test_bad_bot_id_raises() -> None:
    with pytest.raises(ValueError, match="bot_id must be a GUID"):
        teams_manifest(app_id=APP_ID, bot_id="28:abc")


@pytest.mark.parametrize(("kw", "match"), [
    ({"version": "1.0"}, "semver"),
    ({"name": "x" * 31}, "30 characters"),
    ({"name": "  "}, "30 characters"),
    ({"developer_url": "http://example.com"}, "https://"),
    ({"valid_domains": ["bad host"]}, "host name"),
    ({"valid_domains": [f"d{i}.example.com" for i in range(17)]}, "16 valid domains"),
])
def test_bad_arguments_raise(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        manifest(**kw)


# --- the validator can fail -------------------------------------------------------------------------------------

def broken(change: Any) -> dict[str, Any]:
    m = copy.deepcopy(manifest())
    change(m)
    return m


@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m["name"].__setitem__("short", "x" * 40), "name.short"),
    (lambda m: m.__setitem__("id", "not-a-guid"), "id"),
    (lambda m: m["bots"][0].__setitem__("botId", "1234"), "bots[0].botId"),
    (lambda m: m.__setitem__("manifestVersion", "1.16"), "manifestVersion"),  # `const`, draft-06 in a draft-04 schema
    (lambda m: m.__setitem__("packageName", "com.mentorbot"), "(manifest)"),
    (lambda m: m["description"].__setitem__("short", "x" * 81), "description.short"),
    (lambda m: m.__setitem__("accentColor", "navy"), "accentColor"),
    (lambda m: m["bots"][0]["commandLists"][0]["commands"].extend(
        {"title": f"c{i}", "description": "d"} for i in range(3)), "bots[0].commandLists[0].commands"),
    (lambda m: m["bots"][0]["commandLists"][0]["commands"][0].__setitem__("title", "t" * 33),
     "bots[0].commandLists[0].commands[0].title"),
    (lambda m: m["bots"][0]["commandLists"][0]["commands"][0].__setitem__("description", "d" * 129),
     "bots[0].commandLists[0].commands[0].description"),
    (lambda m: m["permissions"].append("admin"), "permissions"),
    (lambda m: m["developer"].__delitem__("privacyUrl"), "developer"),
    (lambda m: m.__setitem__("version", "v1"), "version"),
])
def test_invalid_manifest_is_reported(schema_path: Path, change: Any, field: str) -> None:
    errors = validate_manifest(broken(change), schema_path)
    assert errors, "the check must be able to fail"
    assert any(e.startswith(f"{field}:") for e in errors), errors


def test_missing_schema_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="schema not found"):
        validate_manifest(manifest(), tmp_path / "nope.json")


# --- icons --------------------------------------------------------------------------------------------------------

def decode_png(data: bytes) -> tuple[int, int, int, list[list[tuple[int, ...]]]]:
    """(width, height, colour type, rows of RGBA pixels) for the 8-bit, filter-0 PNGs the package writes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, comp, filt, interlace) == (8, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    channels = {6: 4, 2: 3}[ctype]
    stride = 1 + width * channels
    assert len(raw) == stride * height
    rows = []
    for y in range(height):
        line = raw[y * stride:(y + 1) * stride]
        assert line[0] == 0  # filter type None
        rows.append([tuple(line[1 + x * channels:1 + (x + 1) * channels]) for x in range(width)])
    return width, height, ctype, rows


def test_color_icon() -> None:
    width, height, ctype, rows = decode_png(color_icon_png())
    assert (width, height, ctype) == (192, 192, 6)
    pixels = {px for row in rows for px in row}
    assert all(px[3] == 255 for px in pixels)  # opaque
    assert len({px[:3] for px in pixels}) > 3  # full colour, not a flat square
    assert rows[0][0][:3] == (0x1D, 0x35, 0x57)  # the accent colour behind the mark


def test_outline_icon_is_white_on_transparent() -> None:
    width, height, ctype, rows = decode_png(outline_icon_png())
    assert (width, height, ctype) == (32, 32, 6)
    white = [px for row in rows for px in row if px[3] != 0]
    assert white, "the outline must draw something"
    assert all(px == (255, 255, 255, 255) for px in white)  # only white and fully transparent
    assert rows[0][0][3] == 0  # transparent background


def test_icons_are_stable() -> None:
    assert color_icon_png() == color_icon_png()
    assert outline_icon_png() == outline_icon_png()


# --- the zip ------------------------------------------------------------------------------------------------------

def test_package_contents(tmp_path: Path) -> None:
    m = manifest(bot_id=BOT_ID)
    out = build_package(tmp_path / "out" / "app.zip", m)
    assert out == tmp_path / "out" / "app.zip"
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert zf.testzip() is None
        assert json.loads(zf.read("manifest.json")) == m
        assert zf.read("color.png") == color_icon_png()
        assert zf.read("outline.png") == outline_icon_png()
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in zf.infolist())


def test_package_into_a_directory(tmp_path: Path) -> None:
    out = build_package(tmp_path, manifest())
    assert out == tmp_path / "mentorbot-teams.zip" and out.is_file()


def test_build_twice_gives_identical_bytes(tmp_path: Path) -> None:
    m = manifest(valid_domains=["bot.example.com"])
    first = build_package(tmp_path / "a.zip", m).read_bytes()
    second = build_package(tmp_path / "b.zip", copy.deepcopy(m)).read_bytes()
    assert first == second
    zipfile.ZipFile(io.BytesIO(first)).testzip()


def test_package_refuses_other_icon_names(tmp_path: Path) -> None:
    m = manifest()
    m["icons"] = {"color": "big.png", "outline": "small.png"}
    with pytest.raises(ValueError, match="icons"):
        build_package(tmp_path / "x.zip", m)
