"""``flask users create`` and ``flask seed-demo``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import event, func, select, text

from casework.accounts.models import User
from casework.accounts.passwords import verify_password
from casework.audit.models import AuditEvent
from casework.extensions import db


def test_users_create_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "Lead@Example.org", "--role", "lead",
              "--site", "coventry", "--site", "wolverhampton"],
        input="a long enough passphrase\na long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.email == "lead@example.org")).one()
    assert user.role == "lead"
    assert sorted(s.key for s in user.sites) == ["coventry", "wolverhampton"]
    assert verify_password(user.password_hash, "a long enough passphrase")
    event = db.session.scalars(select(AuditEvent)).one()
    assert (event.action, event.actor_role, event.client_addr) == ("user:created", "system", "cli")


def test_users_create_explains_bad_input_and_writes_nothing(runner):
    cases = [
        (["--site", "atlantis"], "--site: Unknown site atlantis", "a long enough passphrase"),
        ([], "--site: A caseworker needs at least one site", "a long enough passphrase"),
        (["--site", "coventry"], "--password: Password must be 12 characters", "short"),
        (["--site", "coventry"], "--password: Password is too easy to guess", "Coventry2026!"),
        # longer than the columns: PostgreSQL refused with a traceback, SQLite kept them
        (["--site", "coventry", "--name", "N" * 121],
         "--name: The display name must be 120 characters or fewer",
         "a long enough passphrase"),
        (["--site", "coventry", "--name", " "], "--name: Enter a display name",
         "a long enough passphrase"),
        (["--site", "coventry", "--email", "a" * 250 + "@example.org"],
         "--email: The email address must be 254 characters or fewer",
         "a long enough passphrase"),
    ]
    for extra, message, password in cases:
        result = runner.invoke(
            args=["users", "create", "--email", "cw@example.org", "--role", "caseworker", *extra],
            input=f"{password}\n{password}\n",
        )
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_command_run_by_a_user_with_no_name_still_runs_and_says_who(runner, monkeypatch):
    """In a container run as a bare uid there is no passwd entry, and
    getpass.getuser raises (KeyError on Python 3.11, OSError later): every
    audited command failed with a traceback. It now records the uid."""
    import getpass
    import os

    def no_name():
        raise KeyError("getpwuid(): uid not found: 12345")

    monkeypatch.setattr(getpass, "getuser", no_name)
    result = runner.invoke(args=["users", "create", "--email", "ev@example.org", "--role",
                                 "evaluator"],
                           input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 0, result.output
    event = db.session.scalars(select(AuditEvent)).one()
    assert event.detail["os_user"] == f"uid {os.getuid()}"


def test_users_create_reports_every_problem_against_the_option_given(runner):
    # `--email @` was taken, and its empty local part, made the name, was
    # reported as "--name: Enter a display name" though no --name was given
    result = runner.invoke(args=["users", "create", "--email", "@", "--role", "evaluator"],
                           input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 2
    assert result.output.splitlines()[-1:] == [
        "--email: Enter an email address in the correct format, like name@example.org"]
    # an unknown site was the only problem reported, whatever else was wrong
    result = runner.invoke(args=["users", "create", "--email", "a b@c", "--role", "lead",
                                 "--site", "atlantis", "--name", " "], input="short\nshort\n")
    assert result.exit_code == 2
    assert {line.partition(":")[0] for line in result.output.splitlines()
            if line.startswith("--")} == {"--email", "--site", "--name", "--password"}
    assert "--site: Unknown site atlantis" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_users_create_records_who_ran_it(runner, monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "operator-ann")
    result = runner.invoke(args=["users", "create", "--email", "ev@example.org", "--role",
                                 "evaluator"],
                           input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 0, result.output
    event = db.session.scalars(select(AuditEvent)).one()
    # the actor is None (no one is signed in): who ran the command was not recorded
    assert event.actor_id is None and event.detail["os_user"] == "operator-ann"
    assert db.session.scalars(select(User)).one().display_name == "ev"


def test_users_create_drops_nul_from_the_name(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "ada@example.org", "--role", "admin",
              "--name", "Ada\x00 Lovelace"],
        input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 0, result.output  # a traceback on PostgreSQL before
    user = db.session.scalars(select(User).where(User.email == "ada@example.org")).one()
    assert user.display_name == "Ada Lovelace"


def test_users_create_refuses_control_characters_in_the_name(runner):
    """They were kept (found by review): a line break or an escape in a name
    breaks the lines it is shown in."""
    for name in ("a\x01b", "Ada\nLovelace", "Ada\x1b[31m", "Ada\x85Lovelace"):
        result = runner.invoke(
            args=["users", "create", "--email", "ada@example.org", "--role", "admin",
                  "--name", name],
            input="a long enough passphrase\na long enough passphrase\n")
        assert result.exit_code == 2, result.output
        assert "--name: The display name must not contain control characters" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_users_create_refuses_invisible_formatting_characters_in_the_name(runner):
    """A right-to-left override (U+202E) and its kin were kept (found by
    review): the name, and what follows it on its line, is shown backwards."""
    for name in ("Ada\u202eecalevol", "Ada\u2066Lovelace", "Ada\u200bLovelace",
                 "\ufeffAda", "Ada\u00adLovelace"):
        result = runner.invoke(
            args=["users", "create", "--email", "ada@example.org", "--role", "admin",
                  "--name", name],
            input="a long enough passphrase\na long enough passphrase\n")
        assert result.exit_code == 2, result.output
        assert "--name: The display name must not contain invisible formatting" in result.stderr
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    # nor in the email, from which a name left out is made
    result = runner.invoke(
        args=["users", "create", "--email", "ada\u202e@example.org", "--role", "admin"],
        input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 2 and "--email:" in result.stderr
    # the joiners, which Persian and Indic names need, are kept
    result = runner.invoke(
        args=["users", "create", "--email", "ada@example.org", "--role", "admin",
              "--name", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"],
        input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 0, result.output


def test_users_create_rejects_an_unknown_role(runner):
    result = runner.invoke(args=["users", "create", "--email", "x@example.org", "--role", "boss"],
                           input="a long enough passphrase\na long enough passphrase\n")
    assert result.exit_code == 2
    assert "'boss' is not one of" in result.output


def test_seed_demo_prints_one_working_login_per_role(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    logins = {}
    for line in result.output.splitlines()[1:]:
        role, email, password = line.split()
        logins[role] = (email, password)
    assert set(logins) == {"caseworker", "lead", "evaluator", "admin"}
    for role, (email, password) in logins.items():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        assert user.role == role and verify_password(user.password_hash, password)

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 4
    new_password = again.output.splitlines()[1].split()[2]
    assert new_password != logins["caseworker"][1]


def test_seed_demo_refuses_a_production_database_unless_told_it_is_not_live(make_app):
    app = make_app(CASEWORK_ENV="production")
    with app.app_context():
        runner = app.test_cli_runner()
        refused = runner.invoke(args=["seed-demo"])
        assert refused.exit_code == 2 and "--not-live" in refused.output
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0
        done = runner.invoke(args=["seed-demo", "--not-live"])
        assert done.exit_code == 0, done.output
        assert db.session.scalar(select(func.count()).select_from(User)) == 4


def _people_snapshot():
    from casework.intake.models import Person, Referral

    people = db.session.execute(select(
        Person.first_name, Person.last_name, Person.date_of_birth, Person.postcode,
        Person.site_id, Person.ethnicity).order_by(Person.id)).all()
    referrals = db.session.execute(select(
        Referral.referral_date, Referral.source, Referral.status).order_by(Referral.id)).all()
    return people, referrals


def _wipe_people():
    """Remove the seeded people and everything hanging off them (on
    PostgreSQL with the append-only triggers off, as the test teardown does)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL session_replication_role = replica"))
    for table in ("case_assignments", "case_reviews", "note_revisions", "notes",
                  "diversion_cases", "assessments",
                  "pathway_episodes", "pathway_proposals", "protocol_deviations", "triages",
                  "allocations_in_error", "allocations", "referrals", "people"):
        db.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (fixed names)
    db.session.commit()


def test_seed_demo_people_are_reproducible_by_seed(app, runner):
    result = runner.invoke(args=["seed-demo", "--people", "100", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "Added 100 synthetic people" in result.output
    first = _people_snapshot()
    assert len(first[0]) == 100 and len(first[1]) >= 100

    again = runner.invoke(args=["seed-demo", "--people", "10"])
    assert "already holds 100 people; none added" in again.output

    _wipe_people()
    runner.invoke(args=["seed-demo", "--people", "100", "--seed", "7"])
    assert _people_snapshot() == first
    _wipe_people()
    runner.invoke(args=["seed-demo", "--people", "100", "--seed", "8"])
    assert _people_snapshot() != first


def test_a_bulk_load_is_vacuumed_on_postgresql(app, runner, is_postgres):
    """On PostgreSQL the seed ends with VACUUM (ANALYZE), outside its
    transaction (tables never vacuumed have no visibility map: every
    index-only scan read the table too); SQLite's ANALYZE is inside it."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement.strip())

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        result = runner.invoke(args=["seed-demo", "--people", "40", "--seed", "4"])
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert result.exit_code == 0, result.output
    assert ("VACUUM (ANALYZE)" in statements) == is_postgres
    assert "ANALYZE" in statements
    if is_postgres:
        visible = db.session.scalar(text(
            "SELECT relallvisible FROM pg_class WHERE relname = 'people'"))
        assert visible > 0  # the pages the seed wrote are marked all-visible
    again = runner.invoke(args=["seed-demo", "--people", "40"])  # none added: no vacuum
    assert "none added" in again.output


def test_seeded_people_look_like_the_cohort(app, runner):
    from casework.accounts.models import User
    from casework.database import local_today
    from casework.intake import services
    from casework.intake.models import Person, Referral
    from casework.intake.validation import years_between

    runner.invoke(args=["seed-demo", "--people", "1000", "--seed", "3"])
    rows = db.session.execute(
        select(Person.date_of_birth, Referral.referral_date)
        .join(Referral, Referral.person_id == Person.id)
        .where(Person.date_of_birth.is_not(None))).all()
    ages = [years_between(dob, when) for dob, when in rows]
    share_14_24 = sum(14 <= a <= 24 for a in ages) / len(ages)
    assert 0.7 < share_14_24 < 0.95
    assert max(ages) >= 36 and min(ages) >= 10
    assert all(when <= local_today() for _, when in rows)

    # The deliberate near-duplicates are found by the duplicate check.
    lead = db.session.scalars(select(User).where(User.role == "lead")).first()
    lead_sites = {s.id for s in lead.sites}
    found = 0
    for person in db.session.scalars(
            select(Person).where(Person.site_id.in_(lead_sites)).limit(300)):
        details = services.PersonDetails(
            person.first_name, person.last_name, person.date_of_birth, person.gender,
            person.ethnicity, person.local_authority)
        found += any(c.person.id != person.id
                     for c in services.find_candidates(details, actor=lead))
    assert found >= 1


def test_seeded_cases_are_shared_among_caseworkers_of_each_site(app, runner, monkeypatch):
    from casework.accounts.models import User
    from casework.demo import people as demo_people
    from casework.intake.models import Person
    from casework.notes.models import Note

    monkeypatch.setattr(demo_people, "PEOPLE_PER_CASEWORKER", 20)
    result = runner.invoke(args=["seed-demo", "--people", "300", "--seed", "5"])
    assert result.exit_code == 0, result.output
    holders = db.session.execute(
        select(Person.caseworker_id, func.count(), func.min(Person.site_id),
               func.max(Person.site_id)).group_by(Person.caseworker_id)).all()
    assert None not in {h.caseworker_id for h in holders}  # every person has a caseworker
    assert all(h.count <= 20 and h[2] == h[3] for h in holders)  # at most 20, one site
    users = {u.id: u for u in db.session.scalars(select(User))}
    for holder in holders:
        user = users[holder.caseworker_id]
        assert user.role == "caseworker" and [s.id for s in user.sites] == [holder[2]]
    casey = next(u for u in users.values() if u.email == "caseworker@casework.example")
    assert dict((h.caseworker_id, h.count) for h in holders)[casey.id] == 20
    added = int(re.search(r"([\d,]+) synthetic caseworkers", result.output).group(1))
    assert added == len(holders) - 1 > 7
    # most notes are their caseworker's, the rest a lead's of the person's site
    authors = db.session.execute(select(Note.author_id, Person.caseworker_id, Person.site_id)
                                 .join(Person, Person.id == Note.person_id)).all()
    assert all(a == c or (users[a].role == "lead" and site in users[a].site_ids)
               for a, c, site in authors)
    assert sum(a == c for a, c, _ in authors) > len(authors) * 0.7
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    # seeded again from nothing, the same caseworkers take their shares again
    _wipe_people()
    again = runner.invoke(args=["seed-demo", "--people", "300", "--seed", "5"])
    assert again.exit_code == 0, again.output
    assert "; 0 synthetic caseworkers" in again.output
    assert db.session.scalar(select(func.count()).select_from(User)) == len(users)
    assert db.session.scalar(select(func.count()).select_from(Person)
                             .where(Person.caseworker_id.is_(None))) == 0


def test_a_bad_setting_stops_every_command_with_its_message_not_a_traceback(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "CASEWORK_ENV": "test", "IDLE_TIMEOUT_MINUTES": "soon",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "audit", "head"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4  # gunicorn's "App failed to load", for any command too
    assert "casework cannot start: IDLE_TIMEOUT_MINUTES must be a whole number" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_commands_on_a_database_never_migrated_say_so(tmp_path):
    from casework import create_app
    from tests.conftest import base_config

    app = create_app(base_config(f"sqlite:///{tmp_path / 'new.db'}"))
    runner = app.test_cli_runner()
    with app.app_context():
        for args in (["audit", "head"], ["audit", "verify"], ["seed-demo"],
                     ["export", "dictionary", "--out", str(tmp_path / "d")],
                     ["users", "create", "--email", "a@example.org", "--name", "A",
                      "--role", "admin", "--password", "a long enough passphrase"]):
            result = runner.invoke(args=args)
            if args[:2] == ["export", "dictionary"]:  # reads no table: works anywhere
                assert result.exit_code == 0, result.output
                continue
            assert result.exit_code == 2, (args, result.output)
            assert "has not been set up: run `flask --app wsgi db upgrade` first" \
                in result.stderr
            assert "Traceback" not in result.output
        db.engine.dispose()


def test_commands_on_a_database_they_cannot_reach_or_behind_the_code_say_so(tmp_path):
    """A traceback, where the message said what to do: a database that
    cannot be opened, and one at an older revision than the code (new code
    run before ``db upgrade``; found by review)."""
    from flask_migrate import upgrade

    from casework import create_app
    from tests.conftest import base_config

    unreachable = create_app(base_config(f"sqlite:///{tmp_path / 'no folder' / 'x.db'}"))
    with unreachable.app_context():
        result = unreachable.test_cli_runner().invoke(args=["audit", "head"])
        assert result.exit_code == 2, result.output
        assert "cannot be reached: unable to open database file." in result.stderr
        assert "Traceback" not in result.output
        db.engine.dispose()
    behind = create_app(base_config(f"sqlite:///{tmp_path / 'old.db'}"))
    with behind.app_context():
        upgrade(revision="0017")  # before 0018 added users.must_change_password
        result = behind.test_cli_runner().invoke(args=[
            "users", "create", "--email", "a@example.org", "--name", "A", "--role", "admin",
            "--password", "a long enough passphrase"])
        assert result.exit_code == 2, result.output
        assert "is at revision 0017, not this code's 0" in result.stderr
        assert "run `flask --app wsgi db upgrade` first" in result.stderr
        assert "Traceback" not in result.output
        # migrated by a newer version than this one: upgrading cannot help
        db.session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        db.session.commit()
        result = behind.test_cli_runner().invoke(args=[
            "users", "create", "--email", "a@example.org", "--name", "A", "--role", "admin",
            "--password", "a long enough passphrase"])
        assert result.exit_code == 2, result.output
        assert "is at revision 9999, which this code does not know" in result.stderr
        assert "db upgrade" not in result.stderr and "Traceback" not in result.output
        db.engine.dispose()


def _made(email="ann@example.org"):
    from casework.accounts import services
    from casework.database import utcnow

    user = services.create_user(email=email, display_name="Ann", role="caseworker",
                                sites=services.sites_by_keys(["coventry"]),
                                password="the first passphrase", actor=None, now=utcnow())
    db.session.commit()
    return user.id, user.session_token


def test_users_set_password_reads_it_from_standard_input_and_makes_it_temporary(runner,
                                                                                 monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "operator-bob")
    user_id, token = _made()
    result = runner.invoke(args=["users", "set-password", "--email", "ANN@example.org"],
                           input="a new temporary passphrase\n")
    assert result.exit_code == 0, result.output
    assert "must change it when they next sign in" in result.output
    assert "a new temporary passphrase" not in result.output
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert verify_password(user.password_hash, "a new temporary passphrase")
    assert user.must_change_password and user.session_token != token  # signed out
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "user:password_set")).one()
    assert (event.actor_id, event.client_addr) == (None, "cli")
    assert event.detail == {"temporary": True, "os_user": "operator-bob"}


def test_users_set_password_prompts_twice_at_a_terminal_and_can_be_permanent(runner,
                                                                                monkeypatch):
    from casework.accounts import commands

    monkeypatch.setattr(commands, "_interactive", lambda: True)
    user_id, _ = _made()
    result = runner.invoke(args=["users", "set-password", "--email", "ann@example.org",
                                 "--permanent"],
                           input="first attempt passphrase\nmistyped passphrase\n"
                                 "a permanent passphrase\na permanent passphrase\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert verify_password(user.password_hash, "a permanent passphrase")
    assert not user.must_change_password
    assert db.session.scalars(select(AuditEvent.detail).where(
        AuditEvent.action == "user:password_set")).one()["temporary"] is False


def test_users_set_password_refuses_without_writing(runner):
    user_id, token = _made()
    # never as an option: it would stay in the shell's history
    result = runner.invoke(args=["users", "set-password", "--email", "ann@example.org",
                                 "--password", "a long enough passphrase"])
    assert result.exit_code == 2 and "No such option '--password'" in result.output
    result = runner.invoke(args=["users", "set-password", "--email", "nobody@example.org"],
                           input="a long enough passphrase\n")
    assert result.exit_code == 2
    assert result.output.strip() == "--email: No user has this email address"
    for typed, message in (("short", "password: Password must be 12 characters or more"),
                           ("", "password: Password must be 12 characters or more"),
                           ("ann@example.org", "must not be your email address"),
                           ("Password123!", "password: Password is too easy to guess")):
        result = runner.invoke(args=["users", "set-password", "--email", "ann@example.org"],
                               input=f"{typed}\n")
        assert result.exit_code == 2 and message in result.output, result.output
    db.session.expire_all()
    assert db.session.get(User, user_id).session_token == token
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user:password_set")) == 0


def test_users_create_with_a_piped_password_prints_no_warning(tmp_path):
    """A password piped in has no echo to hide: Python's GetPassWarning was
    printed on every scripted run (found by review)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "CASEWORK_ENV": "test",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'piped.db'}"}

    def flask(*args, **kwargs):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                              cwd=root, env=env, capture_output=True, text=True, timeout=120,
                              **kwargs)

    assert flask("db", "upgrade").returncode == 0
    done = flask("users", "create", "--email", "piped@example.org", "--role", "admin",
                 input="a long enough passphrase\na long enough passphrase\n")
    assert done.returncode == 0, done.stderr
    assert "Created admin piped@example.org" in done.stdout
    assert "Warning" not in done.stderr and "warn" not in done.stderr.lower()


def test_people_are_not_added_to_a_demo_trial_made_after_their_history(app, runner):
    """``seed-demo`` then ``seed-demo --people N`` (the trial made the moment
    the first ran): the history would randomise people in the trial two years
    before it was made, and CONSORT would leave out the referrals closed
    before then. It is refused, with nothing written."""
    from casework.intake.models import Person

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    db.session.commit()
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    refused = runner.invoke(args=["seed-demo", "--people", "40"])
    assert refused.exit_code == 2
    assert "The demo trial was made on" in refused.output
    assert "nothing was added" in refused.output
    assert db.session.scalar(select(func.count()).select_from(Person)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
