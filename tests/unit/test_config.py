"""app.yaml and the environment become one typed AppConfig, or one line that says exactly what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import (
    DEFAULT_DATABASE_URL,
    AppConfig,
    ConfigError,
    config_path,
    load_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_shipped_app_yaml_validates_with_an_empty_environment() -> None:
    config = load_config(REPO_ROOT / "app.yaml", {})

    assert isinstance(config, AppConfig)
    assert len(config.program.levels) == 10
    assert len(config.program.topics) >= 15
    assert config.program.admins.for_platform("console") == ("alice",)
    assert config.program.working_time.end == "17:00"
    assert config.server.port == 3978
    assert config.database_url == DEFAULT_DATABASE_URL
    assert not config.has_platform_credentials


def test_the_shipped_app_yaml_takes_port_and_command_from_the_environment() -> None:
    config = load_config(REPO_ROOT / "app.yaml", {"PORT": "8080", "MENTORBOT_COMMAND": "/rm"})

    assert config.server.port == 8080
    assert config.program.command == "/rm"


def test_an_empty_file_means_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), {})

    assert config.program.command == "/mentor"
    assert config.server.tick_seconds == 5
    assert config.server.outbox_batch == 50
    assert config.server.outbox_lease_seconds == 60
    assert config.server.outbox_max_attempts == 8


def test_a_variable_is_expanded_inside_a_string_value(tmp_path: Path) -> None:
    path = write(tmp_path, "program:\n  topics: ['${TOPIC}', 'Open source']\n  command: /${CMD}\n")

    config = load_config(path, {"TOPIC": "GenAI", "CMD": "buddy"})

    assert config.program.topics == ("GenAI", "Open source")
    assert config.program.command == "/buddy"


def test_a_default_is_used_when_the_variable_is_unset_or_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: ${APP_PORT:-4000}\n  tick_seconds: ${TICK:-2.5}\n")

    assert load_config(path, {}).server.port == 4000
    assert load_config(path, {"TICK": ""}).server.tick_seconds == 2.5
    assert load_config(path, {"APP_PORT": "5000"}).server.port == 5000


def test_a_double_dollar_is_a_literal_dollar(tmp_path: Path) -> None:
    path = write(tmp_path, "program:\n  topics: ['Pay $$5 apps']\n")

    assert load_config(path, {}).program.topics == ("Pay $5 apps",)


def test_port_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 9000\n")

    assert load_config(path, {"PORT": "7000"}).server.port == 7000


def test_a_bad_port_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, ""), {"PORT": "http"})

    assert message == "PORT = 'http': expected a port number from 1 to 65535"


def test_database_url_and_secrets_come_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "DATABASE_URL": "postgresql+asyncpg://bot:pw@db/mentorbot",
        "TEAMS_APP_ID": "app-id",
        "TEAMS_APP_PASSWORD": "app-password",
        "SLACK_BOT_TOKEN": "",
    }

    config = load_config(write(tmp_path, ""), environ)

    assert config.database_url == "postgresql+asyncpg://bot:pw@db/mentorbot"
    assert config.database_url_redacted == "postgresql+asyncpg://bot:***@db/mentorbot"
    assert config.secrets.teams_app_password == "app-password"
    assert config.secrets.slack_bot_token is None
    assert config.has_platform_credentials


def test_unknown_key_lists_the_known_keys(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  colour: blue\n"))

    assert message.startswith(f"{tmp_path / 'app.yaml'}: program.colour: unknown key (known keys: command, levels,")
    known = message.partition("(known keys: ")[2].rstrip(")").split(", ")
    assert {"max_pause_weeks", "admins", "matching", "intro", "checkins"} <= set(known)


def test_unknown_top_level_section_lists_the_sections(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "programme: {}\n"))

    assert message == f"{tmp_path / 'app.yaml'}: programme: unknown key (known keys: program, server)"


def test_bad_literal_lists_the_allowed_values(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  cohort:\n    cadence: daily\n"))

    assert message == (
        f"{tmp_path / 'app.yaml'}: program.cohort.cadence = 'daily': "
        "expected one of 'weekly', 'biweekly', 'monthly'"
    )


def test_wrong_type_names_key_value_and_expectation(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  max_pause_weeks: lots\n"))

    assert message.startswith(f"{tmp_path / 'app.yaml'}: program.max_pause_weeks = 'lots': expected a valid integer")


def test_a_scalar_where_a_list_belongs_says_a_list_is_expected(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  topics: GenAI\n"))

    assert message == f"{tmp_path / 'app.yaml'}: program.topics = 'GenAI': expected a list"


def test_a_rule_of_the_settings_is_reported_with_its_own_words(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  working_time:\n    days: [mon, funday]\n"))

    assert message == (
        f"{tmp_path / 'app.yaml'}: program.working_time.days = ['mon', 'funday']: "
        "days must be a non-empty list of mon, tue, wed, thu, fri, sat, sun"
    )


def test_a_bad_list_entry_is_named_by_its_index(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  topics: [GenAI, [nested]]\n"))

    assert message == f"{tmp_path / 'app.yaml'}: program.topics[1] = ['nested']: expected a valid string"


def test_an_unquoted_time_of_day_stays_a_time(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "program:\n  working_time:\n    start: 08:30\n    end: 17:00\n"), {})

    assert (config.program.working_time.start, config.program.working_time.end) == ("08:30", "17:00")


def test_missing_environment_variable_names_the_variable_and_the_key(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "server:\n  port: ${APP_PORT}\n"))

    assert message == (
        f"{tmp_path / 'app.yaml'}: server.port: environment variable APP_PORT is not set "
        "(set it, or write ${APP_PORT:-default})"
    )


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  command: /${oops\n"))

    assert "program.command = '/${oops': malformed reference" in message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  command: /mentor\n  topics: [GenAI\nserver: {}\n"))

    assert message.startswith(f"{tmp_path / 'app.yaml'} line 4: not valid YAML: ")


def test_a_repeated_key_is_an_error(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "program:\n  command: /a\n  command: /b\n"))

    assert message == f"{tmp_path / 'app.yaml'} line 3: not valid YAML: duplicate key 'command'"


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    assert error_of(tmp_path / "app.yaml") == f"{tmp_path / 'app.yaml'}: missing file"


def test_a_file_that_is_not_a_mapping_says_what_is_expected(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "- program\n"))

    assert message == f"{tmp_path / 'app.yaml'}: expected a mapping of sections (program, server), got ['program']"


def test_the_config_path_is_the_argument_then_the_environment_then_app_yaml() -> None:
    assert config_path("custom.yaml", {"MENTORBOT_CONFIG": "env.yaml"}) == Path("custom.yaml")
    assert config_path(None, {"MENTORBOT_CONFIG": "env.yaml"}) == Path("env.yaml")
    assert config_path(None, {}) == Path("app.yaml")


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-very-secret-1",
        "SLACK_SIGNING_SECRET": "very-secret-2",
        "SLACK_APP_TOKEN": "xapp-very-secret-3",
        "SLACK_CLIENT_ID": "very-secret-4",
        "SLACK_CLIENT_SECRET": "very-secret-5",
        "TEAMS_APP_ID": "very-secret-6",
        "TEAMS_APP_PASSWORD": "very-secret-7",
        "DATABASE_URL": "postgresql://bot:very-secret-8@db/mentorbot",
    }

    config = load_config(write(tmp_path, ""), environ)

    for shown in (repr(config), str(config), repr(config.secrets), str(config.secrets)):
        assert "very-secret" not in shown
    assert "secrets" not in config.model_dump()  # the database URL is there: it is what model_dump is for
    assert "slack_bot_token=<set>" in repr(config.secrets)
    assert config.secrets.slack_bot_token == "xoxb-very-secret-1"
