"""The `mentorbot` command: serve, shell, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from bot.config import AppConfig, ConfigError, config_path, load_config
from bot.errors import StartupError
from bot.logging_setup import configure_logging, secret_values

# Each verb imports what it needs when it runs: `migrate` or a configuration error never load the engine,
# the server or the platforms (a second or more of start-up, for every run of the command).

log = logging.getLogger("mentorbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentorbot", description="A reverse-mentoring bot for Slack, Microsoft Teams and the terminal.")
    parser.add_argument("--config", metavar="PATH", help="app.yaml to use (default: $MENTORBOT_CONFIG or ./app.yaml)")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.add_parser("serve", help="run the server: every configured platform, the scheduler, the outbox")
    shell = verbs.add_parser("shell", help="chat with the bot in this terminal (the console platform)")
    shell.add_argument("--as", dest="user", metavar="USER", help="who you are (switch later with `/as NAME`)")
    verbs.add_parser("migrate", help="bring the database schema up to date")
    people = verbs.add_parser("import-people", help="load level, department, manager and location from an HR CSV")
    people.add_argument("file", metavar="FILE.csv", help="header row, then one person a row (see README)")
    manifest = verbs.add_parser("slack-manifest", help="print a Slack app manifest (YAML) to create the app from")
    manifest.add_argument("--url", metavar="URL", help="the public https URL of `serve` (HTTP mode)")
    manifest.add_argument("--socket-mode", action="store_true", help="Socket Mode: no public URL needed")
    manifest.add_argument("--oauth", action="store_true", help="multi-workspace install (adds the redirect URL)")
    simulate = verbs.add_parser("simulate", help="run a whole cohort of synthetic people in simulated time "
                                "(console platform, temporary database): timeline and summary")
    simulate.add_argument("--people", type=_bounded(2, 2000), default=20, metavar="N", help="how many (default 20)")
    simulate.add_argument("--weeks", type=_bounded(1, 104), default=12, metavar="W", help="cohort length (default 12)")
    simulate.add_argument("--seed", type=int, default=1, metavar="S", help="same seed, same run (default 1)")
    simulate.add_argument("--cadence", choices=("weekly", "biweekly", "monthly"),
                          help="check-in cadence (default: program.cohort.cadence in app.yaml)")
    package = verbs.add_parser("teams-package", help="build the Teams app package (manifest.json + icons, zipped)")
    package.add_argument("--app-id", metavar="GUID", help="the bot's Microsoft App ID (default: $TEAMS_APP_ID)")
    package.add_argument("--out", metavar="PATH", default="mentorbot-teams.zip", help="where to write the zip")
    package.add_argument("--domain", action="append", default=[], metavar="HOST",
                         help="a domain the app may open (repeatable)")
    report = verbs.add_parser("report", help="print a cohort's report and write its chart as a PNG")
    report.add_argument("--cohort", metavar="NAME", help="which cohort (default: the running one, else the latest)")
    report.add_argument("--out", metavar="PATH", default="report.png", help="where to write the chart (PNG)")
    export = verbs.add_parser("export", help="write a cohort's aggregates and its pairs with their reasons as CSV")
    export.add_argument("--cohort", metavar="NAME", help="which cohort (default: the running one, else the latest)")
    export.add_argument("--out", metavar="DIR", default="data/exports", help="the folder to write the CSV files to")
    person = verbs.add_parser("export-person", help="write everything stored about one person as JSON")
    person.add_argument("who", metavar="USER", help="platform:workspace:user_id (e.g. slack:T0123:U0456) or email")
    person.add_argument("--out", metavar="PATH", help="where to write the JSON (default: standard output)")
    return parser


def _bounded(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (argparse turns the error into one line, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: expected {low} to {high}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for configuration and start-up problems)."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(config_path(args.config, os.environ), os.environ)
    except ConfigError as problem:
        print(f"mentorbot: {problem}", file=sys.stderr)
        return 2
    verb = args.verb or ("serve" if config.has_platform_credentials else "shell")
    if verb == "slack-manifest":
        return _print_manifest(config, args.url, socket_mode=args.socket_mode, oauth=args.oauth)
    if verb == "teams-package":
        return _teams_package(args.app_id or config.secrets.teams_app_id, Path(args.out), args.domain)
    level = os.environ.get("LOG_LEVEL", "INFO" if verb == "serve" else "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        print(f"mentorbot: LOG_LEVEL = {level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL", file=sys.stderr)
        return 2
    configure_logging(level=level, log_format=config.log_format, secrets=secret_values(config))
    try:
        if verb == "migrate":
            asyncio.run(_migrate(config))
        elif verb == "serve":
            asyncio.run(_serve(config))
        elif verb == "simulate":
            return asyncio.run(_simulate(config, args))
        elif verb == "import-people":
            return asyncio.run(_import_people(config, Path(args.file)))
        elif verb == "export-person":
            from bot.export_person import export_person_command

            return asyncio.run(export_person_command(config, args.who, Path(args.out) if args.out else None))
        elif verb in ("report", "export"):
            from bot import reports_cli  # matplotlib and the report code load only for these verbs

            command = reports_cli.report_command if verb == "report" else reports_cli.export_command
            return asyncio.run(command(config, args.cohort, Path(args.out)))
        else:
            asyncio.run(_shell(config, getattr(args, "user", None)))
    except StartupError as problem:
        print(f"mentorbot: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _print_manifest(config: AppConfig, url: str | None, *, socket_mode: bool, oauth: bool) -> int:
    from adapters.slack.manifest import slack_manifest

    if not socket_mode and not (url and url.startswith("https://")):
        print("mentorbot: slack-manifest needs --url https://your-host (Slack calls it) or --socket-mode",
              file=sys.stderr)
        return 2
    manifest = slack_manifest(command=config.program.command, public_url=url, socket_mode=socket_mode, oauth=oauth)
    print(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), end="")
    return 0


def _teams_package(app_id: str | None, out: Path, domains: list[str]) -> int:
    from adapters.teams.package import build_package, teams_manifest, validate_manifest

    if not app_id:
        print("mentorbot: teams-package needs the bot's Microsoft App ID: --app-id GUID or TEAMS_APP_ID",
              file=sys.stderr)
        return 2
    try:
        manifest = teams_manifest(app_id=app_id, valid_domains=domains)
    except ValueError as problem:
        print(f"mentorbot: {problem}", file=sys.stderr)
        return 2
    try:  # the official schema sits beside a development checkout; an installed bot may not have it
        errors = validate_manifest(manifest)
    except FileNotFoundError:
        errors = []
    if errors:
        print(f"mentorbot: the manifest does not validate: {errors[0]}", file=sys.stderr)
        return 2
    written = build_package(out, manifest)
    print(f"mentorbot: wrote {written}; upload it in Teams: Apps > Manage your apps > Upload an app")
    return 0


async def _migrate(config: AppConfig) -> None:
    from bot.migration_lock import migration_lock
    from storage.db import redact
    from storage.migrate import schema_state, upgrade

    try:
        async with migration_lock(config.database_url):  # replicas that migrate on start take turns
            await upgrade(config.database_url)
    except Exception as failure:
        reason = str(failure).splitlines()[0][:200] if str(failure) else type(failure).__name__
        raise StartupError(f"could not migrate the database at {redact(config.database_url)}: {reason}") from None
    current, _ = await schema_state(config.database_url)
    print(f"mentorbot: database {redact(config.database_url)} is at revision {current}")


async def _simulate(config: AppConfig, args: argparse.Namespace) -> int:
    from bot.simulate import SimulationError, SimulationOptions, simulate

    options = SimulationOptions(people=args.people, weeks=args.weeks, seed=args.seed, cadence=args.cadence)
    try:
        await simulate(config, options, sys.stdout, sys.stderr)
    except SimulationError as problem:
        print(f"mentorbot: the simulation stopped: {problem}", file=sys.stderr)
        return 1
    return 0


async def _import_people(config: AppConfig, path: Path) -> int:
    from bot.wiring import build_bot, check_database
    from conversations.hr_import import import_people

    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")  # Excel writes a byte-order mark
    except OSError as problem:
        print(f"mentorbot: cannot read {path}: {problem.strerror or problem}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"mentorbot: {path} is not UTF-8 text; save it as CSV UTF-8", file=sys.stderr)
        return 2
    await check_database(config.database_url)
    bot = await build_bot(config, {})
    try:
        count, errors = await import_people(text, deps=bot.deps)
    finally:
        await bot.close()
    for error in errors:
        print(f"mentorbot: {error}", file=sys.stderr)
    if errors:
        print(f"mentorbot: nothing imported from {path}", file=sys.stderr)
        return 2
    print(f"mentorbot: imported {count} people from {path}")
    return 0


async def _serve(config: AppConfig) -> None:
    from adapters.console import ConsoleMessenger
    from bot.server import build_web_app, serve
    from bot.wiring import add_slack, add_teams, build_bot, check_database, start_scheduler
    from storage.db import redact

    await check_database(config.database_url)
    bot = await build_bot(config, {"console": ConsoleMessenger(sys.stdout)})
    slack = add_slack(bot, config)
    teams = add_teams(bot, config)
    routes = (slack.routes() if slack else []) + (teams.routes() if teams else [])
    if slack is not None:
        await slack.start()
        log.info("Slack: %s", "Socket Mode" if slack.config.socket_mode else
                 "HTTP at /slack/events" + (" with OAuth install at /slack/install" if slack.config.oauth else ""))
    if teams is not None:
        await teams.start()
        log.info("Teams: Bot Framework messages at /api/messages (%s)",
                 "authenticated" if teams.config.authenticated else "NO AUTHENTICATION")
    scheduler = start_scheduler(bot, config.server.tick_seconds)
    log.info("mentorbot serving on port %s with database %s", config.server.port, redact(config.database_url))

    async def on_stop() -> None:
        scheduler.shutdown(wait=False)
        if slack is not None:
            await slack.stop()
        if teams is not None:
            await teams.stop()
        await bot.close()

    await serve(build_web_app(ping=bot.ping, routes=routes, metrics=bot.metrics), port=config.server.port,
                on_stop=on_stop)


async def _shell(config: AppConfig, user: str | None) -> None:
    from adapters.console import ConsoleMessenger, ConsoleSession
    from bot.wiring import build_bot, check_database, start_scheduler

    await check_database(config.database_url)
    messenger = ConsoleMessenger(sys.stdout, files=Path("data") / "exports")
    bot = await build_bot(config, {"console": messenger})
    admins = config.program.admins.console
    who = user or (admins[0] if admins else "you")
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"mentorbot console: you are {who}. Type `help` for commands, `/help` for the console, `/quit` to leave.")
    scheduler = start_scheduler(bot, config.server.tick_seconds) if interactive else None

    async def after_input() -> None:
        await bot.tick()
        await bot.sender.drain()

    session = ConsoleSession(dispatch=bot.engine.dispatch, messenger=messenger, after_input=after_input,
                             user=who, command=config.program.command, inp=sys.stdin, out=sys.stdout,
                             echo=not interactive)
    try:
        await session.run()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await bot.close()


if __name__ == "__main__":
    sys.exit(main())
