"""``woobridge connect``, ``check``, ``rotate`` and ``connections``: storing a store's credentials and keeping
them healthy.

The consumer secret is never taken from a command-line argument (it would land in shell history and ``ps``): it
comes from standard input (``--secret-stdin``), the ``WOOBRIDGE_CONSUMER_SECRET`` environment variable, or a
hidden prompt. It is wrapped in a ``Secret`` the moment it is read, registered with the log redactor, and stored
only encrypted.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from woobridge.commands import render
from woobridge.commands.guardrails import (
    EXIT_MEANINGS,
    ExitCode,
    Finding,
    key_age_findings,
    most_severe,
    permission_findings,
    required_permission,
)
from woobridge.commands.services import Services
from woobridge.logging import protect
from woobridge.secrets import MasterKeyError
from woobridge.state import Connection
from woobridge.state.connections import UnknownConnection, all_connections, find_connection, get_connection, valid_name
from woobridge.woo import Credentials, InputError, Secret, check_inputs
from woobridge.woo.auth import AuthMode

SECRET_ENV = "WOOBRIDGE_CONSUMER_SECRET"  # noqa: S105 (the variable's name, not a secret)
KEY_ENV = "WOOBRIDGE_CONSUMER_KEY"

# Diagnoses about what the key may do map to their own exit code; retryable ones say "try again later".
_PERMISSION_CODES = {"WB305", "WB306"}

EXIT_CODES_HELP = "\n\n".join(f"{int(code)}: {meaning}" for code, meaning in EXIT_MEANINGS.items())


class CommandFailed(Exception):
    """Stops a command with a message and an exit code (the message is already safe to show)."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- what one validation found -----------------------------------------------------------------------------------


@dataclass
class Report:
    """The outcome of validating one connection's credentials, with the guardrails applied."""

    name: str
    store_url: str
    fingerprint: str
    auth: str
    flows: list[str]
    key_created_at: datetime
    exit_code: ExitCode = ExitCode.OK
    diagnosis: Any = None
    validation: Any = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    input_notes: list[str] = field(default_factory=list)  # what check_inputs changed in what was given
    diagnosis_shown: bool = False  # already printed (before asking a question): don't print it twice

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.OK

    @property
    def permission(self) -> str | None:
        return getattr(self.validation, "permission", None) if self.validation is not None else None

    def to_dict(self) -> dict[str, Any]:
        validation = self.validation
        store = validation.store.to_dict() if validation is not None and validation.ok and validation.store else None
        return {
            "name": self.name,
            "ok": self.ok,
            "exit_code": int(self.exit_code),
            "store_url": self.store_url,
            "fingerprint": self.fingerprint,
            "auth": self.auth,
            "key_created_at": self.key_created_at.date().isoformat(),
            "permission": self.permission,
            "flows": list(self.flows),
            "can_run": dict(validation.flows) if validation is not None and validation.ok else {},
            "store": store,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis is not None else None,
            "findings": [finding.to_dict() for finding in self.findings],
            "notes": [*self.input_notes, *self.notes],
            "requests": getattr(validation, "requests", None),
        }


def _exit_code_for(diagnosis: Any) -> ExitCode:
    if diagnosis.code in _PERMISSION_CODES:
        return ExitCode.PERMISSION_TOO_LOW
    if diagnosis.retryable:
        return ExitCode.TRY_AGAIN_LATER
    return ExitCode.VALIDATION_FAILED


def _flow_permissions() -> dict[str, str]:
    from woobridge.flows import FLOW_PERMISSIONS

    return dict(FLOW_PERMISSIONS)


def assess(services: Services, report: Report, credentials: Credentials) -> Report:
    """Validate ``credentials`` against the store and apply the guardrails; fills ``report`` in and returns it."""
    table = _flow_permissions()
    need_write = required_permission(report.flows, table) == "read_write"
    validation = asyncio.run(services.validate(credentials, need_write))
    report.validation = validation
    codes: list[ExitCode] = []
    if not validation.ok:
        report.diagnosis = validation.diagnosis
        codes.append(_exit_code_for(validation.diagnosis))
    else:
        report.findings.extend(permission_findings(validation.permission, report.flows, table))
    # The permission guardrail speaks for itself; validate's own remark on it would say the same twice.
    said = {finding.code for finding in report.findings}
    for note in validation.notes:
        if "permission-more-than-needed" in said and "Read is enough" in note:
            continue
        report.notes.append(note)
    report.findings.extend(key_age_findings(report.name, report.key_created_at, services.now()))
    codes.extend(finding.exit_code for finding in report.findings)
    report.exit_code = most_severe(codes)
    return report


# -- reading what the user gives ---------------------------------------------------------------------------------


def read_secret(secret_stdin: bool, services: Services) -> Secret:
    """The consumer secret from stdin, the environment, or a hidden prompt — never from an argument."""
    if secret_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line.strip():
            raise CommandFailed("--secret-stdin was given but standard input is empty.", ExitCode.BAD_INPUT)
        secret = Secret(line)
    elif services.environ.get(SECRET_ENV):
        secret = Secret(services.environ[SECRET_ENV])
    elif _stdin_is_terminal():
        secret = Secret(typer.prompt("Consumer secret (cs_…, input hidden)", hide_input=True))
    else:
        raise CommandFailed(
            f"No consumer secret given. Pipe it in with --secret-stdin, set {SECRET_ENV}, or run in a terminal to "
            "be prompted. (It is never taken as an argument: that would leave it in your shell history.)",
            ExitCode.BAD_INPUT,
        )
    protect(secret.reveal())
    protect(secret.reveal().strip())
    return secret


def parse_flows(text: str | None) -> list[str]:
    """``orders,customers`` → the enabled flows; all known flows when not given."""
    table = _flow_permissions()
    if text is None:
        return list(table)
    flows = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [flow for flow in flows if flow not in table]
    if unknown:
        raise CommandFailed(
            f"Unknown flow(s): {', '.join(unknown)}. Known flows: {', '.join(table)}.", ExitCode.BAD_INPUT
        )
    return list(dict.fromkeys(flows))


def parse_key_created(text: str | None, services: Services) -> datetime:
    if text is None:
        return services.now()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CommandFailed(f"--key-created {text!r} is not a date like 2025-01-31.", ExitCode.BAD_INPUT) from None
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment > services.now():
        raise CommandFailed(f"--key-created {text} is in the future.", ExitCode.BAD_INPUT)
    return moment


def check_ca_file(ca_file: Path | None) -> str | None:
    if ca_file is None:
        return None
    if not ca_file.is_file():
        raise CommandFailed(f"--ca-file {ca_file}: no such file.", ExitCode.BAD_INPUT)
    return str(ca_file.resolve())


def credentials_of(connection: Connection, services: Services) -> Credentials:
    """The stored connection's credentials, unsealed with the master key."""
    vault = services.vault()
    secret = Secret(connection.unseal_secret(vault))
    protect(secret.reveal())
    auth: AuthMode = "query" if connection.auth == "query" else "basic"
    return Credentials(connection.store_url, connection.unseal_key(vault), secret, auth, connection.ca_file)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _interactive() -> bool:
    """A person at a terminal, who can answer a question (not a script, not a pipe)."""
    return _stdin_is_terminal() and sys.stdout.isatty()


# -- output ------------------------------------------------------------------------------------------------------


def _show_report(console: Console, report: Report, *, verb: str) -> None:
    validation = report.validation
    render.print_notes(console, report.input_notes)
    if report.diagnosis is not None:
        console.print(render.failure_header(f"{report.name}: {report.store_url} {verb} failed"))
        if not report.diagnosis_shown:
            render.print_diagnosis(console, report.diagnosis)
    elif validation is not None:
        header = render.success_header if report.ok else render.failure_header
        console.print(header(f"{report.name}: {report.store_url}"))
        console.print(
            render.store_table(
                validation.store.to_dict() if validation.store else {},
                fingerprint=report.fingerprint,
                permission=validation.permission,
                enabled_flows=report.flows,
                runnable=validation.flows or {},
                key_created=report.key_created_at.date().isoformat(),
            )
        )
    render.print_findings(console, report.findings)
    render.print_notes(console, report.notes)


def _fail(console: Console, json_output: bool, error: CommandFailed, **extra: Any) -> NoReturn:
    if json_output:
        render.emit_json(console, {"ok": False, "exit_code": int(error.exit_code), "error": str(error), **extra})
    else:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(str(error)))
    raise typer.Exit(int(error.exit_code))


def _guarded(console: Console, json_output: bool, services: Services) -> Any:
    """Turns the errors a person can act on into a message and an exit code; closes the services."""
    from contextlib import contextmanager

    @contextmanager
    def guard() -> Any:
        try:
            yield
        except CommandFailed as error:
            _fail(console, json_output, error)
        except UnknownConnection as error:
            _fail(console, json_output, CommandFailed(str(error), ExitCode.BAD_INPUT))
        except MasterKeyError as error:
            _fail(console, json_output, CommandFailed(str(error), ExitCode.STATE_ERROR))
        except SQLAlchemyError as error:
            # The driver's message may echo a statement but never a secret: secrets are sealed before binding.
            orig = getattr(error, "orig", None)
            reason = type(orig).__name__ if orig is not None else type(error).__name__
            url = services.locations.state_url.split("@")[-1]
            _fail(
                console,
                json_output,
                CommandFailed(f"the state database ({url}) failed: {reason}", ExitCode.STATE_ERROR),
            )
        finally:
            services.close()

    return guard()


def _services(ctx: typer.Context) -> Services:
    return ctx.obj if isinstance(ctx.obj, Services) else Services.from_environment()


# -- the commands ------------------------------------------------------------------------------------------------

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]
SecretStdin = Annotated[
    bool,
    typer.Option(
        "--secret-stdin",
        help=f"Read the consumer secret from the first line of standard input (else ${SECRET_ENV}, else a hidden "
        "prompt).",
    ),
]
QueryAuth = Annotated[
    bool,
    typer.Option(
        "--query-auth",
        help="Send the credentials in the query string (over HTTPS) instead of the Authorization header: for hosts "
        "that strip the header. Also accepts the offer woobridge makes when it detects that.",
    ),
]
KeyCreated = Annotated[
    str | None,
    typer.Option(
        "--key-created",
        metavar="YYYY-MM-DD",
        help="When the key was created in WooCommerce (default: today). Drives the 12-month rotation guardrail.",
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``connect``, ``check``, ``rotate`` and ``connections`` to the command line."""
    # Typer's pretty tracebacks print local variables by default; a secret must never end up on screen that way.
    app.pretty_exceptions_show_locals = False

    @app.command(epilog="Exit codes:\n\n" + EXIT_CODES_HELP)
    def connect(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="A name for this store, e.g. 'shop' (letters, digits, . _ -).")],
        url: Annotated[str, typer.Option("--url", help="Store URL, e.g. https://shop.example.com")],
        key: Annotated[str, typer.Option("--key", envvar=KEY_ENV, help="Consumer key (ck_…).")],
        secret_stdin: SecretStdin = False,
        query_auth: QueryAuth = False,
        ca_file: Annotated[
            Path | None, typer.Option("--ca-file", help="PEM bundle of CAs to trust for this store's TLS.")
        ] = None,
        flows: Annotated[
            str | None,
            typer.Option("--flows", help="Comma-separated flows to enable (default: all), e.g. orders,customers."),
        ] = None,
        key_created: KeyCreated = None,
        replace: Annotated[
            bool, typer.Option("--replace", help="Overwrite an existing connection of that name.")
        ] = False,
        json_output: JsonOption = False,
    ) -> None:
        """Validate a store's URL and API key, then save them as connection NAME.

        Create the key in WooCommerce → Settings → Advanced → REST API (a Shop Manager user, Read/Write). The
        secret is read from --secret-stdin, $WOOBRIDGE_CONSUMER_SECRET or a hidden prompt, never from an argument.
        """
        services = _services(ctx)
        console = Console(stderr=False)
        with _guarded(console, json_output, services):
            if not valid_name(name):
                raise CommandFailed(
                    f"{name!r} is not a usable name: letters, digits, '.', '_' and '-', at most 64.",
                    ExitCode.BAD_INPUT,
                )
            enabled = parse_flows(flows)
            created = parse_key_created(key_created, services)
            trusted_ca = check_ca_file(ca_file)
            with services.state().session() as session:
                if find_connection(session, name) is not None and not replace:
                    raise CommandFailed(
                        f"A connection named {name!r} exists. To change its key run: woobridge rotate {name}; to "
                        "start over add --replace.",
                        ExitCode.BAD_INPUT,
                    )
            secret = read_secret(secret_stdin, services)
            try:
                checked = check_inputs(url, key, secret)
            except InputError as error:
                _input_failed(console, json_output, error)
            credentials = Credentials(
                checked.store_url,
                checked.consumer_key,
                checked.consumer_secret,
                "query" if query_auth else "basic",
                trusted_ca,
            )
            report = Report(name, checked.store_url, credentials.fingerprint, credentials.auth, enabled, created)
            report.input_notes.extend(checked.notes)
            assess(services, report, credentials)
            diagnosis = report.diagnosis
            if diagnosis is not None and diagnosis.suggest_query_auth and credentials.auth == "basic":
                asking = _interactive() and not json_output
                if asking:
                    render.print_notes(console, report.input_notes)
                    report.input_notes = []
                    render.print_diagnosis(console, diagnosis)
                    report.diagnosis_shown = True
                if asking and typer.confirm(
                    "The key works when sent in the query string. Store this connection with query-string "
                    "authentication?",
                    default=True,
                ):
                    credentials = credentials.with_auth("query")
                    report = Report(name, checked.store_url, credentials.fingerprint, "query", enabled, created)
                    assess(services, report, credentials)
                else:
                    report.notes.append("To store query-string authentication, run the same command with --query-auth.")
            saved = False
            if report.ok:
                save_connection(services, report, credentials)
                saved = True
            if json_output:
                render.emit_json(console, {**report.to_dict(), "saved": saved})
            else:
                _show_report(console, report, verb="validation")
                if saved:
                    console.print(render.success_header(f"Saved connection {name!r}."))
                else:
                    console.print(Text(f"Connection {name!r} was not saved.", style="red"))
        raise typer.Exit(int(report.exit_code))

    @app.command(epilog="Exit codes:\n\n" + EXIT_CODES_HELP)
    def check(
        ctx: typer.Context,
        name: Annotated[str | None, typer.Argument(help="The connection to check (default: all).")] = None,
        json_output: JsonOption = False,
    ) -> None:
        """Re-validate stored connections: credentials, the key's age and its permission against the flows.

        Warns from 11 months of key age and fails past 12 ("rotate the key"); fails when the key has less
        permission than the enabled flows need, and notes when it has more.
        """
        services = _services(ctx)
        console = Console()
        reports: list[Report] = []
        with _guarded(console, json_output, services):
            # Read what is needed, then validate outside any transaction: a slow store must not hold the database.
            with services.state().session() as session:
                connections = [get_connection(session, name)] if name else all_connections(session)
                if not connections:
                    raise CommandFailed(
                        "No connections yet: woobridge connect NAME --url … --key …", ExitCode.BAD_INPUT
                    )
                pending: list[tuple[Report, Credentials | MasterKeyError]] = []
                for connection in connections:
                    report = Report(
                        connection.name,
                        connection.store_url,
                        connection.key_fingerprint,
                        connection.auth,
                        list(connection.flows),
                        connection.key_created_at,
                    )
                    try:
                        pending.append((report, credentials_of(connection, services)))
                    except MasterKeyError as error:
                        pending.append((report, error))
            for report, credentials in pending:
                if isinstance(credentials, MasterKeyError):
                    report.findings.append(Finding("error", "master-key", str(credentials), ExitCode.STATE_ERROR))
                    report.exit_code = ExitCode.STATE_ERROR
                else:
                    assess(services, report, credentials)
                    with services.state().session() as session:
                        record_check(get_connection(session, report.name), report, services)
                reports.append(report)
                if not json_output:
                    _show_report(console, report, verb="check")
                    console.print()
            exit_code = most_severe(report.exit_code for report in reports)
            if json_output:
                render.emit_json(
                    console,
                    {
                        "ok": exit_code == ExitCode.OK,
                        "exit_code": int(exit_code),
                        "connections": [r.to_dict() for r in reports],
                    },
                )
        raise typer.Exit(int(exit_code))

    @app.command(epilog="Exit codes:\n\n" + EXIT_CODES_HELP)
    def rotate(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="The connection whose key to replace.")],
        key: Annotated[str, typer.Option("--key", envvar=KEY_ENV, help="The new consumer key (ck_…).")],
        secret_stdin: SecretStdin = False,
        query_auth: QueryAuth = False,
        key_created: KeyCreated = None,
        json_output: JsonOption = False,
    ) -> None:
        """Replace connection NAME's key with a new one — only after the new key passes validation.

        Create the new key in WooCommerce → Settings → Advanced → REST API first; revoke the old one after.
        """
        services = _services(ctx)
        console = Console()
        with _guarded(console, json_output, services):
            created = parse_key_created(key_created, services)
            with services.state().session() as session:
                connection = get_connection(session, name)
                store_url, auth, ca_file = connection.store_url, connection.auth, connection.ca_file
                old_fingerprint, enabled = connection.key_fingerprint, list(connection.flows)
            secret = read_secret(secret_stdin, services)
            try:
                checked = check_inputs(store_url, key, secret)
            except InputError as error:
                _input_failed(console, json_output, error)
            mode: AuthMode = "query" if query_auth or auth == "query" else "basic"
            credentials = Credentials(store_url, checked.consumer_key, checked.consumer_secret, mode, ca_file)
            report = Report(name, store_url, credentials.fingerprint, mode, enabled, created)
            assess(services, report, credentials)
            rotated = False
            if report.ok:
                replace_key(services, report, credentials)
                rotated = True
            if json_output:
                render.emit_json(console, {**report.to_dict(), "rotated": rotated, "old_fingerprint": old_fingerprint})
            else:
                _show_report(console, report, verb="validation of the new key")
                if rotated:
                    console.print(
                        render.success_header(
                            f"Key of {name!r} replaced: …{old_fingerprint} → …{report.fingerprint}. Now revoke the old "
                            "key in WooCommerce → Settings → Advanced → REST API."
                        )
                    )
                else:
                    console.print(Text(f"The old key (…{old_fingerprint}) was kept.", style="red"))
        raise typer.Exit(int(report.exit_code))

    @app.command("connections")
    def list_connections(ctx: typer.Context, json_output: JsonOption = False) -> None:
        """List stored connections: names, store URLs and key fingerprints (never keys or secrets)."""
        services = _services(ctx)
        console = Console()
        with _guarded(console, json_output, services), services.state().session() as session:
            rows = [(c.name, c.store_url, c.key_fingerprint) for c in all_connections(session)]
        if json_output:
            render.emit_json(console, [{"name": n, "store_url": u, "fingerprint": f} for n, u, f in rows])
            return
        if not rows:
            console.print("No connections yet: woobridge connect NAME --url … --key …")
            return
        table = Table("Name", "Store URL", "Key")
        for row_name, row_url, fingerprint in rows:
            table.add_row(Text(row_name), Text(row_url), Text(f"…{fingerprint}"))
        console.print(table)


def _input_failed(console: Console, json_output: bool, error: InputError) -> NoReturn:
    """The inputs were refused before anything was sent: show the diagnosis, exit 2."""
    if json_output:
        render.emit_json(
            console,
            {"ok": False, "exit_code": int(ExitCode.BAD_INPUT), "diagnosis": error.diagnosis.to_dict(), "saved": False},
        )
    else:
        render.print_diagnosis(console, error.diagnosis)
    raise typer.Exit(int(ExitCode.BAD_INPUT))


def save_connection(services: Services, report: Report, credentials: Credentials) -> None:
    """Store a validated connection (``report.ok``) under ``report.name``: sealed key, flows, what the check found.
    Used by ``connect`` and by the web page's configuration form."""
    with services.state().session() as session:
        connection = find_connection(session, report.name) or Connection(name=report.name)
        connection.store_url = credentials.store_url
        connection.auth = credentials.auth
        connection.ca_file = credentials.ca_file
        connection.store_key(services.vault(), credentials.consumer_key, credentials.secret.reveal())
        connection.key_created_at = report.key_created_at
        connection.flows = list(report.flows)
        record_check(connection, report, services)
        session.add(connection)


def replace_key(services: Services, report: Report, credentials: Credentials) -> None:
    """Put a validated new key on connection ``report.name`` (``rotate`` and the web page's rotation form)."""
    with services.state().session() as session:
        connection = get_connection(session, report.name)
        connection.store_key(services.vault(), credentials.consumer_key, credentials.secret.reveal())
        connection.auth = credentials.auth
        connection.key_created_at = report.key_created_at
        record_check(connection, report, services)


def record_check(connection: Connection, report: Report, services: Services) -> None:
    """Keep what the last validation found on the connection (never the credentials)."""
    validation = report.validation
    connection.last_checked_at = services.now()
    connection.last_check_ok = report.ok
    connection.last_check_code = report.diagnosis.code if report.diagnosis is not None else None
    summary = report.to_dict()
    summary.pop("notes", None)
    connection.last_check = summary
    if validation is not None and validation.ok:
        connection.permission = validation.permission
        if validation.store is not None:
            connection.store_info = validation.store.to_dict()
            connection.namespace = validation.store.namespace or connection.namespace
