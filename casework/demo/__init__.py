"""``flask seed-demo``: demo users (one per role) and, with --people, synthetic
people, reproducible by seed. For demonstrations and development only."""

from __future__ import annotations

import secrets
import sys

import click
from flask import current_app
from sqlalchemy import text

from casework.accounts import services as accounts
from casework.accounts.roles import Role
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.cli import command_transaction
from casework.database import bulk_load, utcnow, vacuum_after_bulk_load
from casework.dates import local_date, long_date
from casework.extensions import db

DEMO_USERS = (
    ("caseworker@casework.example", "Casey Worker", Role.CASEWORKER, ("coventry",)),
    ("lead@casework.example", "Lee Lead", Role.LEAD, ("coventry", "wolverhampton")),
    ("evaluator@casework.example", "Eva Luator", Role.EVALUATOR, ()),
    ("admin@casework.example", "Ada Admin", Role.ADMIN, ()),
)


def seed_demo_users(now, *, joined=None) -> list[tuple[str, Role, str]]:
    """Create the demo users (at ``joined``, by default ``now``), or give
    existing ones a new password.

    Passwords are random and returned once to be printed; they are stored
    only as argon2 hashes, so running the command again issues new ones.
    """
    logins = []
    for email, name, role, site_keys in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        user = accounts.find_user_by_email(email)
        if user is None:
            accounts.create_user(
                email=email, display_name=name, role=role,
                sites=accounts.sites_by_keys(site_keys), password=password,
                actor=None, now=joined or now,
            )
        else:
            accounts.set_password(user, password, actor=None, now=now)
            if not user.active:
                accounts.reactivate_user(user, actor=None, now=now)
        logins.append((email, role, password))
    return logins


@click.command("seed-demo")
@click.option("--people", type=click.IntRange(min=0), default=0, show_default=True,
              help="Synthetic people (with referrals) to add.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed: the same seed gives the same people.")
@click.option("--not-live", is_flag=True,
              help="With CASEWORK_ENV=production: this database is not a live service's "
                   "(a benchmark's, say), so demo users may be made.")
def seed_demo_command(people: int, seed: int, not_live: bool) -> None:
    """Seed demo users (one per role), and synthetic people, and print the sign-ins."""
    if current_app.config["CASEWORK_ENV"] == "production" and not not_live:
        # Demo users are administrators and leads whose passwords are printed:
        # on a live service they would be a way in.
        click.echo("seed-demo makes demo users whose passwords it prints, so it does not run "
                   "with CASEWORK_ENV=production unless given --not-live (for a database "
                   "that is not a live service's, such as a benchmark's).", err=True)
        sys.exit(2)
    from casework.demo.activity import seed_activity
    from casework.demo.diversion import seed_diversion
    from casework.demo.people import (
        history_start,
        people_count,
        seed_people,
        share_out,
        site_leads,
    )
    from casework.demo.trial import demo_trial, plan_triage, seed_trial

    with command_transaction("seed-demo"), bulk_load():
        now = utcnow()
        existing = people_count() if people else 0
        start = history_start(now)
        trial = demo_trial()
        if people and not existing and trial is not None and trial.created_at > start:
            # Its allocations would be dated before it was made, and its
            # CONSORT diagram would leave out the referrals closed before then
            # (found by review). Refused, rather than randomising only from
            # when it was made: made by a bare seed-demo (as the README's
            # first run), that is today, and the demo would have nobody in
            # the trial; nor can the trial be dated back, its creation being
            # in the audit log.
            click.echo(f"The demo trial was made on {long_date(local_date(trial.created_at))}, "
                       "after the start of the two years of history --people adds, whose "
                       "triage randomises people in the trial from then on: nothing was added. "
                       "To seed people, start from a new database (seed-demo --people N there "
                       "makes the trial too).", err=True)
            sys.exit(2)
        # The users who act in the synthetic history, and the trial it
        # randomises in, are made before it begins: made the moment the seed
        # ran, their events came before the history's, two years older.
        joined = start if people and not existing else now
        logins = seed_demo_users(now, joined=joined)
        seed_trial(now=joined)
        if people and existing:
            click.echo(f"The database already holds {existing:,} people; none added.")
        elif people:
            added, referrals, person_ids = seed_people(people, seed, now=now)
            caseworkers = share_out(accounts.find_user_by_email(DEMO_USERS[0][0]), seed,
                                    now=now, joined=joined)
            leads, leads_added = site_leads(accounts.find_user_by_email(DEMO_USERS[1][0]),
                                            seed, now=joined)
            history = plan_triage(min(60, max(added // 5, 1)), seed, leads=leads,
                                  key=current_app.config["TRIAL_KEY"], now=now)
            notes, events = seed_activity(person_ids, seed, leads=leads, now=now,
                                          history=history)
            click.echo(f"Added {added:,} synthetic people with {referrals:,} referrals "
                       f"(seed {seed}), {notes:,} notes and contacts and {events:,} "
                       f"audit events of their history; {caseworkers:,} synthetic caseworkers "
                       f"and {leads_added:,} synthetic leads (nobody can sign in as them) "
                       "share the cases.")
            click.echo(f"Triaged {history.triaged} referrals at the trial sites; "
                       f"randomised {history.randomised}.")
            assessed = seed_diversion(min(12, max(added // 25, 1)), seed, now=now)
            click.echo(f"Assessed {assessed} children for Checkpoint.")
            # last: the events of the seed's history come before it
            audit.record(Action.DEMO_SEEDED, actor=None, now=now,
                         detail={"people": added, "referrals": referrals, "seed": seed,
                                 "caseworkers_added": caseworkers, "leads_added": leads_added})
            # Fresh planner statistics after a bulk load: without them SQLite
            # sorts every referral of a lead's sites for the first page of the
            # list instead of reading the date index backwards.
            db.session.execute(text("ANALYZE"))
    if people and not existing:
        vacuum_after_bulk_load(db.engine)
    click.echo("Demo sign-ins (shown once; run seed-demo again for new passwords):")
    for email, role, password in logins:
        click.echo(f"  {role.value:<11} {email:<30} {password}")
