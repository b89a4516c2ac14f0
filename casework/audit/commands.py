"""``flask audit verify [--anchor ID:HASH]`` and ``flask audit head``."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from casework.audit import chain
from casework.audit import services as audit

audit_cli = AppGroup("audit", help="Check the audit log's hash chain.")


@audit_cli.command("verify")
@click.option(
    "--anchor", help="A head recorded earlier, as ID:HASH, that must still be in the chain."
)
@click.option(
    "--processes", type=click.IntRange(1, audit.PROCESSES_LIMIT), default=None,
    help="Check a long chain in this many stretches at once (default: one a CPU, up to "
         f"{audit.MAX_PROCESSES}).",
)
def verify_command(anchor: str | None, processes: int | None) -> None:
    """Walk the chain; exit 0 if intact, 1 naming the first bad event, 2 for
    an --anchor that is not ID:HASH (an empty one included)."""
    parsed = None
    if anchor is not None:  # "" too: `--anchor "$(cat head.txt)"` with the file lost
        try:
            parsed = chain.Anchor.parse(anchor)
        except ValueError as error:
            click.echo(f"--anchor: {error}", err=True)
            sys.exit(2)
    result = audit.verify_chain(parsed, processes=processes or audit.default_processes())
    if result.ok:
        head = f"{result.head.id}:{result.head.hash}" if result.head else "empty"
        click.echo(f"Audit chain intact: {result.checked} events checked; head {head}")
        if parsed:
            click.echo(f"Anchor {parsed.id} is in the chain with the recorded hash.")
        sys.exit(0)
    click.echo(
        f"Audit chain broken at event {result.bad_event_id}: {result.problem}. "
        f"{result.checked} events before it are intact.",
        err=True,
    )
    sys.exit(1)


@audit_cli.command("head")
def head_command() -> None:
    """Print the newest event as ID:HASH, to keep outside the database."""
    head = audit.head()
    if head is None:
        click.echo("The audit log is empty.", err=True)
        sys.exit(1)
    click.echo(f"{head.id}:{head.hash}")
