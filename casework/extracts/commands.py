"""``flask export cohort``, ``export dictionary`` and ``export consort``."""

from __future__ import annotations

import os
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from functools import wraps
from pathlib import Path
from typing import IO

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from casework.cli import command_transaction, os_user
from casework.database import from_replica, utcnow
from casework.extensions import db
from casework.extracts import services
from casework.trial.models import Trial

export_cli = AppGroup("export", help="Anonymised outputs for the trial's evaluators.")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


def _descriptor(path: Path) -> int | None:
    """The descriptor ``path`` names, if it names one this process has open:
    /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N. Such a name is
    the shell's redirection (``> file``, ``>> file``, a pipe): written
    through the descriptor itself, never by the file it leads to. Resolved
    to that file and replaced, ``>> file`` lost what the file held before
    (found by review)."""
    parts = Path(os.path.abspath(path)).parts
    named = {("/", "dev", "stdout"): 1, ("/", "dev", "stderr"): 2}
    if parts in named:
        return named[parts]
    numbered = (len(parts) == 4 and parts[:3] == ("/", "dev", "fd")) or (
        len(parts) == 5 and parts[:2] == ("/", "proc") and parts[3] == "fd"
        and parts[2] in ("self", "thread-self", str(os.getpid())))
    if numbered and parts[-1].isascii() and parts[-1].isdigit():
        return int(parts[-1])
    return None


def _direct(path: Path) -> bool:
    """Whether ``path`` is written directly (a descriptor, a pipe, a device),
    not whole under a temporary name."""
    return _descriptor(path) is not None or (
        path.exists() and not path.is_file() and not path.is_dir())


@contextmanager
def _whole(path: Path, *, private: bool = False) -> Iterator[IO[bytes]]:
    """``path`` written whole or not at all: written beside it under a
    temporary name and renamed onto it once the block ends without an error
    (anything else leaves ``path`` as it was), with the mode a new file would
    have (or the one it had). A link is followed to the file it names; a
    descriptor's name (/dev/stdout, /dev/fd/N: ``_descriptor``) is written
    through that descriptor, so ``>> file`` appends, and a path that is no
    regular file (a pipe, a device) is written directly, by the name given
    (/dev/stdout on a pipe resolves to a /proc name that cannot be opened:
    found by review). A path that cannot be written is refused, naming
    --out (exit 2). ``private`` (a cohort extract: special-category data):
    a new file is 0600 whatever the umask, and a file replaced keeps its
    owner's and group's permissions but none for others (``_mode``)."""
    fd = _descriptor(path)
    if fd is not None:
        try:
            with os.fdopen(os.dup(fd), "wb") as handle:
                yield handle
            return
        except OSError as error:
            _fail(f"--out: cannot write to {path}: {error.strerror or error}")
    if path.exists() and not path.is_file() and not path.is_dir():
        path = path.absolute()
    else:
        path = Path(os.path.realpath(path))
    if path.is_dir():
        _fail(f"--out: {path} is a folder")
    if path.exists() and not path.is_file():
        try:
            with open(path, "wb") as handle:
                yield handle
            return
        except OSError as error:
            _fail(f"--out: cannot write to {path}: {error.strerror or error}")
    if not path.parent.is_dir():
        _fail(f"--out: the folder {path.parent} does not exist")
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, then renamed)
            "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False)
    except OSError as error:
        _fail(f"--out: cannot write to {path.parent}: {error.strerror or error}")
    try:
        with handle:
            yield handle
        os.chmod(handle.name, _mode(path, private=private))
        os.replace(handle.name, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise


def _mode(path: Path, *, private: bool) -> int:
    """The mode ``path`` is written with: the one it has if it exists (for a
    private file, without others' permissions), else a new file's (0600 for
    a private one: a cohort extract is special-category data, for the
    evaluator who wrote it; they share it by choice, with chmod, or by
    replacing a file they made group-readable)."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        return mode & 0o770 if private else mode
    return 0o600 if private else 0o666 & ~_umask()


def _terminable(command: Callable) -> Callable:
    """``command`` stopped by SIGTERM (a service stopped, ``kill``, a
    container's shutdown) as by an exit (SystemExit, exit 143), so its
    cleanup runs: the signal ended the process at once, leaving a temporary
    ``.partial`` file behind (found by review), and a pipe's reader an
    extract nobody audited. The handler before is put back after. Outside
    the main thread (no handler can be set there) the command runs as it is."""
    @wraps(command)
    def run(*args, **kwargs):
        def stop(signum, _frame):
            raise SystemExit(128 + signum)

        try:
            previous = signal.signal(signal.SIGTERM, stop)
        except ValueError:
            return command(*args, **kwargs)
        try:
            return command(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)

    return run


def _umask() -> int:
    mask = os.umask(0o022)  # read it (the only way), then put it back
    os.umask(mask)
    return mask


def _trial(key: str | None) -> Trial:
    trials = db.session.scalars(select(Trial).order_by(Trial.key)).all()
    if key:
        trial = next((t for t in trials if t.key == key), None)
        if trial is None:
            _fail(f"--trial: no trial has the key {key!r}.")
        return trial
    if not trials:  # no key would help (found by review)
        _fail("There is no trial to export: an admin adds one on the Trials page.")
    if len(trials) != 1:
        _fail(f"--trial: give the trial's key; there are {len(trials)} trials.")
    return trials[0]


@export_cli.command("cohort")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write.")
@click.option("--format", "fmt", type=click.Choice(sorted(services.FORMATS)), default="csv",
              show_default=True)
@click.option("--unit", type=click.Choice(services.UNITS), default="person", show_default=True)
@click.option("--level", type=click.IntRange(0, 2), default=1, show_default=True,
              help="Generalisation: 0 most detail, 2 least.")
@click.option("--per-extract-key", is_flag=True,
              help="Pseudonyms under a one-off key, linking to no other extract.")
@click.option("--trial", "trial_key", help="The trial's key (needed if there are several).")
@_terminable
def cohort_command(out, fmt, unit, level, per_extract_key, trial_key) -> None:
    """Write the cohort extract, streamed in constant memory, and audit it."""
    trial = _trial(trial_key)
    req = services.ExtractRequest(trial_id=trial.id, unit=unit, format=fmt, level=level,
                                  per_extract_key=per_extract_key)
    try:
        req.check()
        key = services.choose_key(req, current_app.config.get("PSEUDONYM_KEY"))
    except services.ExtractError as error:
        _fail("; ".join(error.problems.values()))
    outcome = {}

    def finished(rows: int, sha256: str, complete: bool) -> None:
        outcome.update(rows=rows, sha256=sha256, complete=complete)

    chosen, handed_over = None, False
    try:
        # The file appears under its name only once it is whole and audited.
        with _whole(Path(out), private=True) as handle:
            # The passes over the cohort read from the replica, if there is one.
            with from_replica():
                chosen = services.plan(req, current_app.config["EXTRACT_MIN_K"])
                # the rows the plan writes (it counted them), each a line; a CSV's
                # header is one more. (Its length was every allocation, rows left
                # out as under k among them, and none for a referral extract.)
                lines = sum(chosen.groups.values()) + (fmt == "csv")
                chunks = services.serialise(req, key, on_done=finished, chosen=chosen)
                with closing(chunks), click.progressbar(length=lines, label="Writing",
                                                        file=sys.stderr) as bar:
                    for chunk in chunks:
                        handle.write(chunk)
                        handed_over = True
                        bar.update(chunk.count(b"\n"))
                    handle.flush()  # a pipe's reader gone fails here, not once audited
            with command_transaction("export-cohort"):
                services.record_extract(req, key=key, rows_written=outcome["rows"],
                                        sha256=outcome["sha256"], complete=outcome["complete"],
                                        actor=None, now=utcnow(), chosen=chosen,
                                        os_user=os_user())
    except BaseException:
        # written directly (a pipe, /dev/stdout), what was written has gone:
        # audited as incomplete, as a download its reader stops is
        if handed_over and _direct(Path(out)):
            _record_incomplete(req, key, chosen, outcome, out)
        raise
    written = chosen.written
    reached = (f"k {written.k}, target {chosen.target} reached" if written.rows
               else f"no group reached k {chosen.target}")
    # on standard error, as the progress bar is: the extract may be going to
    # standard output (--out /dev/stdout), and a message would join its rows
    click.echo(f"Wrote {outcome['rows']:,} rows to {out} at detail level {chosen.level} "
               f"({reached}; {len(chosen.small_groups)} groups hidden as *; "
               f"{chosen.rows_left_out:,} rows left out as under k even hidden; age at "
               f"referral {'given' if chosen.exact_age else 'left empty'}); "
               f"SHA-256 {outcome['sha256']}", err=True)


def _record_incomplete(req: services.ExtractRequest, key: bytes, chosen: services.Plan,
                       outcome: dict, out: str) -> None:
    """Audit an extract that stopped part-way through being written directly
    (its reader gone, a database error, SIGTERM): its reader has the rows
    before, and every extract is audited (DESIGN.md), so it is recorded with
    ``complete`` false, the rows and the SHA-256 of what was handed over,
    in a transaction of its own; no event was recorded (found by review).
    A file written whole needs none: its temporary copy is removed. If the
    event cannot be recorded either, that is said and the error that
    stopped the export is the one raised."""
    try:
        db.session.rollback()  # a database error leaves its transaction unusable
        with command_transaction("export-cohort"):
            services.record_extract(req, key=key, rows_written=outcome.get("rows", 0),
                                    sha256=outcome.get("sha256", ""), complete=False,
                                    actor=None, now=utcnow(), chosen=chosen,
                                    os_user=os_user())
    except Exception as error:  # said; the export's own error follows
        click.echo(f"The incomplete extract written to {out} could not be audited: {error}",
                   err=True)
        return
    click.echo(f"Stopped after {outcome.get('rows', 0):,} rows written to {out}: audited as "
               f"incomplete (SHA-256 {outcome.get('sha256', '')})", err=True)


@export_cli.command("dictionary")
@click.option("--out", "out", default=".", show_default=True, type=click.Path(file_okay=False),
              help="The folder for dictionary.csv and dictionary.md.")
@_terminable
def dictionary_command(out) -> None:
    """Write the data dictionary, generated from the extract schemas (DESIGN's
    ``export dictionary`` takes no options: by default into the folder it is
    run in)."""
    if not out.strip():  # given, but empty: a slip, not a choice of this folder
        _fail("--out: give the folder to write to")
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _fail(f"--out: cannot make the folder {folder}: {error.strerror or error}")
    outputs = {"dictionary.csv": services.dictionary_csv(),
               "dictionary.md": services.dictionary_markdown()}
    # both files, or neither: each appears only once both are written
    with _whole(folder / "dictionary.csv") as csv_file, \
            _whole(folder / "dictionary.md") as md_file, \
            click.progressbar(length=2, label="Writing", file=sys.stderr) as bar:
        for handle, name in ((csv_file, "dictionary.csv"), (md_file, "dictionary.md")):
            handle.write(outputs[name].encode())
            bar.update(1)
    click.echo(f"Wrote {folder / 'dictionary.csv'} and {folder / 'dictionary.md'}")


@export_cli.command("consort")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The SVG to write; its counts go beside it as .json.")
@click.option("--trial", "trial_key", help="The trial's key (needed if there are several).")
@_terminable
def consort_command(out, trial_key) -> None:
    """Write the CONSORT flow diagram (SVG) and its counts (JSON)."""
    # both names from the path, not its text: "x.svg/" gave "x..json"
    # (found by review); a name ending in a separator is a folder's
    if out.endswith((os.sep, os.altsep or os.sep)):
        _fail("--out: give a file name ending in .svg, not a folder")
    svg_path = Path(out)
    name = svg_path.name
    if not name.endswith(".svg") or not name[:-4].strip():  # ".svg" alone: a hidden file
        _fail("--out: give a file name ending in .svg")
    json_path = svg_path.with_suffix(".json")
    trial = _trial(trial_key)
    with from_replica():  # its counts, as the CONSORT pages' (found by review)
        outputs = services.consort_outputs(trial)
    # both files appear only once both are written and the export audited
    with _whole(svg_path) as svg, _whole(json_path) as counts, \
            click.progressbar(length=2, label="Writing", file=sys.stderr) as bar:
        svg.write(outputs["svg"])
        bar.update(1)
        counts.write(outputs["json"])
        bar.update(1)
        with command_transaction("export-consort"):
            services.record_consort_export(trial, outputs, actor=None, now=utcnow(),
                                           os_user=os_user())
    click.echo(f"Wrote {svg_path} and {json_path}")
