"""The Teams app package: a v1.17 manifest, two generated icons and the zip that Teams admins upload.

`mentorbot teams-package` builds it. Everything here is pure Python (no Pillow): the icons are written as
PNGs with zlib and struct, and the zip has fixed timestamps so that two builds give identical bytes.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

MANIFEST_VERSION = "1.17"
MANIFEST_SCHEMA_URL = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
# In CI the repo is a fresh clone with ../shared beside it: <repo>/../shared/schemas/...
SCHEMA_NAME = "teams-manifest-v1.17.schema.json"
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "schemas" / SCHEMA_NAME

COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
MANIFEST_FILE = "manifest.json"
COLOR_SIZE = 192
OUTLINE_SIZE = 32
ACCENT_COLOR = "#1d3557"  # the Slack app's background colour

# Teams limits (schema v1.17): at most 10 commands per list, title <= 32 chars, description <= 128 chars.
MAX_COMMANDS = 10
MAX_COMMAND_TITLE = 32
MAX_COMMAND_DESCRIPTION = 128
MAX_SHORT_NAME = 30
MAX_SHORT_DESCRIPTION = 80
MAX_FULL_DESCRIPTION = 4000

BOT_SCOPES = ("personal", "team", "groupChat")
PERMISSIONS = ("identity", "messageTeamMembers")

COMMANDS: tuple[tuple[str, str], ...] = (
    ("join", "Sign up for reverse mentoring, or join the cohort that is open"),
    ("status", "Where you stand: your cohort, your pair and your next check-in"),
    ("profile", "See your profile; 'profile edit' changes role, topics, goals or time zone"),
    ("pause", "No check-ins or nudges for a while: 'pause 2' pauses for two weeks"),
    ("resume", "End a pause early"),
    ("leave", "Leave the program and delete your data"),
    ("help", "What you can ask me"),
    ("admin", "Program admins: cohorts, matching, reports, exports ('admin help' lists them)"),
)

SHORT_DESCRIPTION = "Reverse mentoring: junior colleagues mentor senior leaders."
FULL_DESCRIPTION = (
    "mentorbot runs reverse-mentoring programs in Microsoft Teams: junior or less-tenured colleagues mentor "
    "senior leaders on technology, digital trends, new generations' expectations at work and inclusion, and "
    "the leaders give organisational context back.\n\n"
    "Send 'join' to the bot to sign up and fill a short profile. You are paired fairly on goals and topics, "
    "not departments, and every pair comes with the reasons it was made. Check-ins arrive in a direct message "
    "in your own time zone and working hours, with buttons to answer; you can pause, see your status or leave "
    "(and have your data deleted) at any time. Feedback is truly anonymous: admins only ever see aggregates.\n\n"
    "Program admins run cohorts with 'admin' commands: open and close sign-up, preview and confirm matching, "
    "re-pair, see outcomes and export them. Every admin action is audited."
)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


def _require_guid(value: str, what: str) -> str:
    if not isinstance(value, str) or not _GUID.match(value.strip()):
        raise ValueError(f"{what} must be a GUID like 00000000-0000-0000-0000-000000000000 "
                         f"(the Microsoft App ID of the Azure Bot), got {value!r}")
    return value.strip().lower()


def _require_https(value: str, what: str) -> str:
    if not re.match(r"^https://[^\s/]+", value):
        raise ValueError(f"{what} must be an https:// URL, got {value!r}")
    return value.rstrip("/")


def _domain(value: str) -> str:
    """'https://bot.example.com/api/messages' -> 'bot.example.com'; Teams wants bare host names."""
    host = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", value.strip()).split("/", 1)[0]
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"valid domain {value!r} is not a host name")
    return host.lower()


def teams_manifest(*, app_id: str, bot_id: str | None = None, name: str = "mentorbot", version: str = "1.0.0",
                   developer_url: str = "https://github.com/mentorbot/mentorbot",
                   valid_domains: Sequence[str] = ()) -> dict[str, Any]:
    """The Teams app manifest (v1.17) as a dict, for a bot whose Microsoft App ID is `bot_id` (default `app_id`).

    Raises ValueError on a malformed GUID, version, URL or name, with a message saying what to fix.
    """
    app_id = _require_guid(app_id, "app_id")
    bot = _require_guid(bot_id, "bot_id") if bot_id is not None else app_id
    if not _SEMVER.match(version):
        raise ValueError(f"version must be MAJOR.MINOR.PATCH (semver, e.g. 1.0.0), got {version!r}")
    name = name.strip()
    if not name or len(name) > MAX_SHORT_NAME:
        raise ValueError(f"name must be 1 to {MAX_SHORT_NAME} characters (Teams short name), got {name!r}")
    site = _require_https(developer_url, "developer_url")
    domains: list[str] = []
    for d in valid_domains:
        host = _domain(d)
        if host not in domains:
            domains.append(host)
    if len(domains) > 16:
        raise ValueError(f"Teams allows at most 16 valid domains, got {len(domains)}")
    full_name = name if name.lower() == "mentorbot" else f"{name} (mentorbot)"
    return {
        "$schema": MANIFEST_SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": app_id,
        "developer": {
            "name": "mentorbot",
            "websiteUrl": site,
            "privacyUrl": f"{site}#privacy",
            "termsOfUseUrl": f"{site}#terms",
        },
        "name": {"short": name, "full": f"{full_name}: reverse mentoring"[:100]},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT_COLOR,
        "bots": [{
            "botId": bot,
            "scopes": list(BOT_SCOPES),
            "supportsFiles": True,  # admins send the HR CSV in their 1:1 chat with the bot
            "isNotificationOnly": False,
            "commandLists": [{
                "scopes": ["personal"],
                "commands": [{"title": t, "description": d} for t, d in COMMANDS],
            }],
        }],
        "permissions": list(PERMISSIONS),
        "validDomains": domains,
    }


# --- validation -------------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _load_schema(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"Teams manifest schema not found at {path}; pass schema_path explicitly") from None
    schema: dict[str, Any] = json.loads(text)
    return schema


def _validator_class() -> Any:
    # The official schema says draft-04 but uses `const` (draft-06) for manifestVersion; Draft4Validator would
    # silently ignore it, so add it back.
    from jsonschema import Draft4Validator, Draft6Validator, validators

    return validators.extend(Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})


def _where(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(manifest)"


def validate_manifest(manifest: Mapping[str, Any], schema_path: Path | str = DEFAULT_SCHEMA_PATH) -> list[str]:
    """Errors of `manifest` against the official Teams v1.17 schema (plus semver), as 'field: message'; [] = valid."""
    from jsonschema import Draft4Validator

    schema = _load_schema(Path(schema_path).resolve())
    cls = _validator_class()
    validator = cls(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(dict(manifest)), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    out = [f"{_where(e.absolute_path)}: {e.message}" for e in errors]
    version = manifest.get("version")
    if isinstance(version, str) and not _SEMVER.match(version):
        out.append(f"version: {version!r} is not MAJOR.MINOR.PATCH (semver)")
    return out


# --- icons --------------------------------------------------------------------------------------------------------

Pixel = tuple[int, int, int, int]


def _png(width: int, height: int, pixels: Sequence[Sequence[Pixel]]) -> bytes:
    """An 8-bit RGBA (colour type 6), non-interlaced PNG; each row uses filter 0 (None)."""
    raw = bytearray()
    for row in pixels:
        raw.append(0)
        for px in row:
            raw.extend(px)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b""))


def _hex(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _coverage(x: int, y: int, cx: float, cy: float, r: float) -> float:
    """How much of pixel (x, y) a disc covers, anti-aliased over one pixel of edge."""
    d = math.hypot(x + 0.5 - cx, y + 0.5 - cy)
    return max(0.0, min(1.0, r + 0.5 - d))


def _mix(a: tuple[float, float, float], b: tuple[int, int, int], t: float) -> tuple[float, float, float]:
    return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t


@lru_cache(maxsize=1)
def color_icon_png() -> bytes:
    """192x192 full-colour icon: two overlapping discs (a pair) on the accent colour, inside Teams' safe area."""
    size = COLOR_SIZE
    bg, left, right, both = _hex(ACCENT_COLOR), _hex("#f4a261"), _hex("#a8dadc"), _hex("#ffffff")
    r = 36.0
    lc, rc, cy = size / 2 - 22, size / 2 + 22, size / 2
    rows: list[list[Pixel]] = []
    for y in range(size):
        row: list[Pixel] = []
        for x in range(size):
            cl, cr = _coverage(x, y, lc, cy, r), _coverage(x, y, rc, cy, r)
            c: tuple[float, float, float] = (float(bg[0]), float(bg[1]), float(bg[2]))
            c = _mix(c, left, cl)
            c = _mix(c, right, cr)
            c = _mix(c, both, min(cl, cr))
            row.append((round(c[0]), round(c[1]), round(c[2]), 255))
        rows.append(row)
    return _png(size, size, rows)


@lru_cache(maxsize=1)
def outline_icon_png() -> bytes:
    """32x32 outline icon: two overlapping rings, white on transparent (no other colours, no partial alpha)."""
    size = OUTLINE_SIZE
    white: Pixel = (255, 255, 255, 255)
    clear: Pixel = (255, 255, 255, 0)
    r_out, r_in = 9.0, 7.0
    centres = ((12.0, 16.0), (20.0, 16.0))
    rows: list[list[Pixel]] = []
    for y in range(size):
        row: list[Pixel] = []
        for x in range(size):
            px, py = x + 0.5, y + 0.5
            on = any(r_in ** 2 <= (px - cx) ** 2 + (py - cy) ** 2 <= r_out ** 2 for cx, cy in centres)
            row.append(white if on else clear)
        rows.append(row)
    return _png(size, size, rows)


# --- the zip ------------------------------------------------------------------------------------------------------

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "mentorbot"


def build_package(path: Path, manifest: Mapping[str, Any]) -> Path:
    """Write the app package (manifest.json, color.png, outline.png at the root) and return its path.

    `path` is the .zip to write, or an existing directory to write `<name>-teams.zip` into. The bytes depend
    only on the manifest: fixed timestamps and permissions, so building twice gives the same file.
    """
    icons = manifest.get("icons") or {}
    if icons.get("color") != COLOR_ICON or icons.get("outline") != OUTLINE_ICON:
        raise ValueError(f"manifest icons must be {{'color': {COLOR_ICON!r}, 'outline': {OUTLINE_ICON!r}}}, "
                         f"the files this package contains; got {icons!r}")
    path = Path(path)
    if path.is_dir():
        short = (manifest.get("name") or {}).get("short") or "mentorbot"
        path = path / f"{_slug(str(short))}-teams.zip"
    files = (
        (MANIFEST_FILE, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")),
        (COLOR_ICON, color_icon_png()),
        (OUTLINE_ICON, outline_icon_png()),
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the build machine
            info.external_attr = 0o100644 << 16
            zf.writestr(info, data, compresslevel=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path
