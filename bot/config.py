"""Load app.yaml and the environment into one typed, validated AppConfig, or fail with one clear line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from conversations.settings import ProgramSettings

DEFAULT_CONFIG_PATH = Path("app.yaml")
DEFAULT_DATABASE_URL = "sqlite:///data/mentorbot.db"  # relative to the current directory
_PASSWORD_IN_URL = re.compile(r"^([a-z0-9+.-]+://[^:/@]*:)[^@]*@", re.IGNORECASE)


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming file, key, value and the fix."""


class ServerSettings(BaseModel):
    """How the process serves HTTP and drives its background work: app.yaml's `server` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(default=3978, ge=1, le=65535)
    tick_seconds: float = Field(default=5.0, gt=0)
    outbox_batch: int = Field(default=50, ge=1)
    outbox_lease_seconds: float = Field(default=60.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_concurrency: int = Field(default=16, ge=1)


class ConfigFile(BaseModel):
    """The shape of app.yaml itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: ProgramSettings = Field(default_factory=lambda: ProgramSettings.model_validate({}))
    server: ServerSettings = Field(default_factory=ServerSettings)


_SECRET_ENV = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_client_id": "SLACK_CLIENT_ID",
    "slack_client_secret": "SLACK_CLIENT_SECRET",
    "teams_app_id": "TEAMS_APP_ID",
    "teams_app_password": "TEAMS_APP_PASSWORD",
    "feedback_key": "FEEDBACK_KEY",
    "feedback_key_file": "FEEDBACK_KEY_FILE",
}


@dataclass(frozen=True, repr=False)
class Secrets:
    """Platform credentials from the environment; never in app.yaml, never in a log line."""

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    teams_app_id: str | None = None
    teams_app_password: str | None = None
    feedback_key: str | None = None  # keys anonymous feedback receipts (bot/feedback_key.py)
    feedback_key_file: str | None = None  # where a generated key lives when FEEDBACK_KEY is not set

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Secrets:
        """Read each credential from its variable; an empty variable counts as unset."""
        return cls(**{name: environ.get(var) or None for name, var in _SECRET_ENV.items()})

    @property
    def has_slack(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name.startswith("slack_"))

    @property
    def has_teams(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name.startswith("teams_"))

    @property
    def has_platform_credentials(self) -> bool:
        return self.has_slack or self.has_teams

    def __repr__(self) -> str:
        # Says which credentials are present, so a log line helps, and never what they are.
        shown = ", ".join(f"{f.name}={'<set>' if getattr(self, f.name) else None}" for f in fields(self))
        return f"Secrets({shown})"

    __str__ = __repr__


@dataclass(frozen=True)
class TeamsEnvironment:
    """Teams settings that are not secrets: app type, tenant, and the local-testing and test-only overrides."""

    app_type: str = "MultiTenant"
    tenant_id: str | None = None
    allow_unauthenticated: bool = False
    openid_metadata_url: str | None = None
    login_url: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TeamsEnvironment:
        flag = (environ.get("TEAMS_ALLOW_UNAUTHENTICATED") or "").strip().lower()
        if flag not in ("", "0", "1", "true", "false", "yes", "no"):
            raise ConfigError(f"TEAMS_ALLOW_UNAUTHENTICATED = {flag!r}: expected 1 or 0")
        return cls(
            app_type=environ.get("TEAMS_APP_TYPE") or "MultiTenant",
            tenant_id=environ.get("TEAMS_APP_TENANT_ID") or None,
            allow_unauthenticated=flag in ("1", "true", "yes"),
            openid_metadata_url=environ.get("TEAMS_OPENID_METADATA_URL") or None,
            login_url=environ.get("TEAMS_LOGIN_URL") or None,
        )


class AppConfig(BaseModel):
    """Everything the process needs to start: program rules, server settings, database and credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    program: ProgramSettings
    server: ServerSettings
    # May carry a password: left out of repr; log `database_url_redacted` instead.
    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)
    # Where Slack's Web API lives: tests and enterprise proxies point it elsewhere.
    slack_api_url: str = "https://slack.com/api/"
    teams: TeamsEnvironment = Field(default_factory=lambda: TeamsEnvironment())
    # LOG_FORMAT: "text" (default) or "json", one object a line for a log collector.
    log_format: Literal["text", "json"] = "text"

    @property
    def database_url_redacted(self) -> str:
        """The database URL with any password replaced by ***, fit for a log line."""
        return _PASSWORD_IN_URL.sub(r"\1***@", self.database_url)

    @property
    def has_platform_credentials(self) -> bool:
        """True when any Slack or Teams credential is set; otherwise only the console makes sense."""
        return self.secrets.has_platform_credentials or self.teams.allow_unauthenticated

    @property
    def has_teams(self) -> bool:
        return self.secrets.has_teams or self.teams.allow_unauthenticated


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """Where app.yaml is: `--config PATH`, else $MENTORBOT_CONFIG, else ./app.yaml."""
    if cli_value:
        return Path(cli_value)
    if environ.get("MENTORBOT_CONFIG"):
        return Path(environ["MENTORBOT_CONFIG"])
    return DEFAULT_CONFIG_PATH


def load_config(path: Path, environ: Mapping[str, str]) -> AppConfig:
    """Read app.yaml, expand ${VAR} from `environ`, validate it, and add what comes from the environment."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {_one_line(str(exc))}") from None

    raw = _parse_yaml(path, text)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        known = ", ".join(ConfigFile.model_fields)
        raise ConfigError(f"{path}: expected a mapping of sections ({known}), got {_show(raw)}")
    expanded = _expand(raw, environ, path, ())

    try:
        parsed = ConfigFile.model_validate(expanded)
    except pydantic.ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from None

    server = parsed.server
    port = environ.get("PORT")
    if port:
        try:
            server = ServerSettings.model_validate({**server.model_dump(), "port": port})
        except pydantic.ValidationError:
            raise ConfigError(f"PORT = {port!r}: expected a port number from 1 to 65535") from None

    return AppConfig(
        program=parsed.program,
        server=server,
        database_url=environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        secrets=Secrets.from_environ(environ),
        slack_api_url=_api_url(environ.get("SLACK_API_URL") or "https://slack.com/api/"),
        teams=TeamsEnvironment.from_environ(environ),
        log_format=_log_format(environ.get("LOG_FORMAT") or "text"),
    )


def _log_format(value: str) -> Literal["text", "json"]:
    """LOG_FORMAT, case-insensitive; anything else stops the bot rather than logging in a surprise shape."""
    wanted = value.strip().lower()
    if wanted == "json":
        return "json"
    if wanted == "text":
        return "text"
    raise ConfigError(f"LOG_FORMAT = {value!r}: expected 'text' or 'json'")


def _api_url(url: str) -> str:
    """Slack's clients join method names onto the base URL, so it must end with a slash."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"SLACK_API_URL = {url!r}: expected an http(s) URL such as https://slack.com/api/")
    return url if url.endswith("/") else url + "/"


def format_validation_error(
    path: Path | str, exc: pydantic.ValidationError, *, root: type[BaseModel] = ConfigFile
) -> str:
    """Turn the first validation error into one line: file, dotted key, bad value, what is expected."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    key = _dotted(loc)
    kind = error["type"]
    value = error.get("input")

    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        known = f" (known keys: {', '.join(model.model_fields)})" if model else ""
        return f"{path}: {key}: unknown key{known}"
    if kind == "missing":
        return f"{path}: {key}: missing, a value is required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        model = _model_at(root, loc)
        known = f" (known keys: {', '.join(model.model_fields)})" if model else ""
        return f"{path}: {key} = {_show(value)}: expected a mapping{known}"
    if kind in ("tuple_type", "list_type"):
        return f"{path}: {key} = {_show(value)}: expected a list"
    if kind == "literal_error":
        allowed = _literal_values(root, loc)
        if allowed:
            expected = "expected one of " + ", ".join(repr(v) for v in allowed)
        else:
            expected = f"expected {error.get('ctx', {}).get('expected', 'one of the allowed values')}"
        return f"{path}: {key} = {_show(value)}: {expected}"
    return f"{path}: {key} = {_show(value)}: {_expectation(error['msg'])}"


# --- YAML -------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML as people expect it: 17:00 stays a string, `no` stays a string, a repeated key is an error."""


# PyYAML follows YAML 1.1, where 17:00 is the sexagesimal number 1020 and yes/no/on/off are booleans;
# keep YAML 1.2's narrower rules so times of day and words survive unquoted.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":int", ":float", ":bool"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _construct_unique_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path} line {mark.line + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "unreadable"
        raise ConfigError(f"{where}: not valid YAML: {_one_line(problem)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_one_line(str(exc))}") from None


# --- ${VAR} expansion -------------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


def _expand(node: Any, environ: Mapping[str, str], path: Path, loc: tuple[str | int, ...]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in string values (never keys); `$$` is a literal `$`."""
    if isinstance(node, dict):
        return {k: _expand(v, environ, path, (*loc, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, environ, path, (*loc, i)) for i, v in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None:
            raise ConfigError(
                f"{path}: {_dotted(loc)} = {node!r}: malformed reference, "
                "expected ${VAR} or ${VAR:-default} (write $$ for a literal $)"
            )
        value = environ.get(name)
        if value:
            return value
        if default is not None:
            return default  # shell semantics: `:-` also covers a variable set to ""
        raise ConfigError(
            f"{path}: {_dotted(loc)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )

    return _REFERENCE.sub(substitute, node)


# --- error formatting -------------------------------------------------------------------------------


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _annotation_at(root: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The declared type at `loc`, following nested models and list items; None when it cannot tell."""
    current: Any = root
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif isinstance(part, int) and get_origin(current) in (tuple, list):
            args = [a for a in get_args(current) if a is not Ellipsis]
            current = args[0] if args else None
        else:
            return None
    return current


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    found = _annotation_at(root, loc)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _literal_values(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, ...]:
    found = _annotation_at(root, loc)
    return get_args(found) if get_origin(found) is Literal else ()


def _expectation(msg: str) -> str:
    msg = _one_line(msg)
    for prefix, replacement in (
        ("Input should be greater", "expected a value greater"),
        ("Input should be less", "expected a value less"),
        ("Input should be ", "expected "),
        ("String should match pattern ", "expected text matching the pattern "),
        ("Value error, ", ""),
    ):
        if msg.startswith(prefix):
            return replacement + msg[len(prefix) :]
    return msg[:1].lower() + msg[1:]


def _show(value: Any, limit: int = 80) -> str:
    shown = _one_line(repr(value))
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())
