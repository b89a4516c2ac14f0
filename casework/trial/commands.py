"""``flask trial sequence``: a stratum's sequence for the trial statistician."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from casework.audit import services as audit
from casework.audit.actions import Action
from casework.cli import command_transaction, os_user
from casework.database import utcnow
from casework.extensions import db
from casework.trial import sequence, services
from casework.trial.models import AllocationMethod, Trial

trial_cli = AppGroup("trial", help="Trial sequences for the trial statistician.")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


@trial_cli.command("sequence")
@click.option("--stratum", required=True, help="A stratum key, e.g. coventry or coventry/18-24.")
@click.option("--count", required=True, type=click.IntRange(1, 1_000_000),
              help="How many slots to print, from slot 1.")
@click.option("--trial", "trial_key", help="The trial's key (needed if there is more than one).")
def sequence_command(stratum: str, count: int, trial_key: str | None) -> None:
    """Print slots 1..COUNT of a stratum's permuted-block sequence as CSV
    (slot, arm, block index from 0, block size), regenerated from the trial key. Audited.
    Refused (exit 2, audited) if the trial's allocations record another key's fingerprint."""
    key = current_app.config.get("TRIAL_KEY")
    if not key:
        _fail("The trial key is not configured: set TRIAL_KEY or TRIAL_KEY_FILE.")
    trials = db.session.scalars(select(Trial).order_by(Trial.key)).all()
    if trial_key:
        trial = next((t for t in trials if t.key == trial_key), None)
        if trial is None:
            _fail(f"--trial: no trial has the key {trial_key!r}; "
                  f"known: {', '.join(t.key for t in trials) or 'none'}.")
    elif len(trials) == 1:
        trial = trials[0]
    else:
        _fail("--trial: give the trial's key; "
              f"there are {len(trials)} trials ({', '.join(t.key for t in trials) or 'none'}).")
    if trial.method != AllocationMethod.PERMUTED_BLOCKS:
        _fail(f"{trial.name} uses an uploaded allocation list (SHA-256 "
              f"{trial.allocation_list_sha256}); the statistician holds that file.")
    valid = services.trial_strata(trial)
    if stratum not in valid:
        _fail(f"--stratum: {stratum!r} is not a stratum of {trial.name}; "
              f"use one of {', '.join(valid)}.")
    used = services.key_fingerprints_used(trial)
    if (problem := services.key_change(trial, key, used)) is not None:
        with command_transaction("trial-sequence"):
            audit.record(Action.TRIAL_SEQUENCE_REFUSED, actor=None, now=utcnow(),
                         subject_type="trial", subject_id=trial.id,
                         detail={"stratum": stratum, "count": count,
                                 "os_user": os_user(),
                                 "key_fingerprint": sequence.key_fingerprint(key),
                                 "allocations_key_fingerprints": sorted(used)})
        _fail(f"{problem}. Nothing printed: this key's sequence is not the one its "
              "allocations came from; configure the key they were made with.")
    if unknown := services.allocations_without_key(trial):
        click.echo(f"Warning: {unknown} of {trial.name}'s allocations were stored before "
                   "allocations recorded their key's fingerprint, so nothing shows which key "
                   "made them: check their arms against this sequence.", err=True)
    with command_transaction("trial-sequence"):
        audit.record(Action.TRIAL_SEQUENCE_PRINTED, actor=None, now=utcnow(),
                     subject_type="trial", subject_id=trial.id,
                     detail={"stratum": stratum, "count": count,
                             "os_user": os_user(),
                             "version": sequence.keyed_version(key)})
    click.echo("slot,arm,block,block_size")
    for entry in sequence.slots(key, trial.key, stratum, trial.design):
        if entry.slot > count:
            break
        click.echo(f"{entry.slot},{entry.arm},{entry.block},{entry.block_size}")
