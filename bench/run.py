"""Benchmark casework at national scale and write bench/results.md.

One run, against one database (SQLite by default, or BENCH_DATABASE_URL):

1. seed it with ``flask seed-demo --people N`` if it holds fewer people
   (timed, with ``audit verify`` after), or reuse it;
2. count the SQL queries of each page (in process, signed in for real);
3. start the app under gunicorn (2 workers) and load each page with wrk at
   16 connections: /health as the ceiling (measured before each page and
   after the last, each page compared with the runs either side of it), the
   referrals list, a person page with about 200 timeline items, the lead
   dashboard, a search by name, and the lead's caseloads by caseworker (not
   one of the issue's pages);
4. time the cohort extract (rows per second, peak memory) against a raw dump
   of the same columns (sqlite3 CSV mode or psql COPY);
5. time ``audit verify`` (events per second);
6. append the figures, against the targets of issue #10, to bench/results.md.

It prints figures and asserts nothing; ``make bench`` runs it.

    .venv/bin/python bench/run.py --people 100000
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/casework_bench \\
        .venv/bin/python bench/run.py --people 100000
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results.md"
LUA = ROOT / "bench" / "report.lua"
BENCH_EMAIL = "bench-lead@casework.example"
CONNECTIONS = 16
TARGETS = {"queries": 10, "p95_ms": 50.0, "ceiling_share": 0.20, "extract_share": 0.50,
           "extract_mb": 200.0, "verify_per_s": 100_000}


@dataclass
class PageResult:
    name: str
    path: str
    queries: int | None = None
    rps: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    requests: int = 0
    non2xx: int = 0
    errors: int = 0
    # the ceiling's req/s measured just before and just after this page
    ceilings: list[float] = field(default_factory=list)

    @property
    def ceiling(self) -> float:
        return sum(self.ceilings) / len(self.ceilings) if self.ceilings else 0.0


@dataclass
class Run:
    url: str
    people: int
    started: datetime
    notes: list[str] = field(default_factory=list)
    seed: dict = field(default_factory=dict)
    pages: list[PageResult] = field(default_factory=list)
    extract: dict = field(default_factory=dict)
    verify: dict = field(default_factory=dict)


def log(message: str) -> None:
    print(message, flush=True)


def backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def app_env(url: str, secret: str) -> dict:
    """The environment of a production deployment, pointed at the bench database."""
    return {**os.environ, "DATABASE_URL": url, "CASEWORK_ENV": "production",
            "SECRET_KEY": secret, "TRIAL_KEY": "bench-trial-key-not-secret",
            "PSEUDONYM_KEY": "bench-pseudonym-key-not-secret",
            "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://")}


def flask(args: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env,
                          text=True, capture_output=True, **kwargs)


LAST_CPU = {"seconds": 0.0}


TIME = Path("/usr/bin/time")  # GNU time (Debian's package "time")


def peak_rss(cmd: list[str], env: dict, out_path: Path | None = None) -> tuple[float, float, int,
                                                                                str]:
    """Run ``cmd``; return (seconds, its own peak RSS in MB, exit code, its
    output: stderr, and stdout unless it went to ``out_path``). Its CPU time
    (user + system) is left in LAST_CPU: on a shared machine, wall time says
    as much about the neighbours as about the code.

    The peak is read by GNU time, which starts the command from its own
    small process: a child forked from this one counts this process's memory
    in its peak (wait4's ru_maxrss includes the memory it had before exec),
    and this one has loaded the app to count queries. Without GNU time, that
    larger figure is reported."""
    with tempfile.NamedTemporaryFile(prefix="casework-time-") as measured:
        timed = [str(TIME), "-o", measured.name, "-f", "%M %U %S", *cmd] if TIME.exists() \
            else cmd
        started = time.perf_counter()
        with open(out_path, "wb") if out_path else tempfile.TemporaryFile() as sink, \
                tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(timed, cwd=ROOT, env=env, stdout=sink, stderr=errors)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            text = ""
            if out_path is None:
                sink.seek(0)
                text = sink.read().decode(errors="replace")
            errors.seek(0)
            text += errors.read().decode(errors="replace")
        figures = Path(measured.name).read_text().split() if TIME.exists() else []
    if len(figures) >= 3:
        # GNU time's last line: "%M %U %S" (a line before it may say the
        # command exited non-zero)
        kb, user, system = figures[-3:]
        LAST_CPU["seconds"] = float(user) + float(system)
        return elapsed, int(kb) / 1024, proc.returncode, text
    LAST_CPU["seconds"] = usage.ru_utime + usage.ru_stime
    return elapsed, usage.ru_maxrss / 1024, proc.returncode, text


# 1. the database


def people_in(url: str, env: dict) -> int:
    script = ("from casework import create_app\n"
              "from casework.demo.people import people_count\n"
              "app = create_app()\n"
              "with app.app_context():\n"
              "    try:\n"
              "        print(people_count())\n"
              "    except Exception:\n"
              "        print(-1)\n")
    out = subprocess.run([str(BIN / "python"), "-c", script], cwd=ROOT, env=env, text=True,
                         capture_output=True, check=True).stdout.strip().splitlines()
    return int(out[-1])


def prepare(run: Run, env: dict) -> None:
    existing = people_in(run.url, env)
    if existing >= run.people:
        run.seed = {"reused": True, "people": existing}
        log(f"Reusing the database: {existing:,} people.")
        return
    if existing > 0:
        sys.exit(f"The bench database holds {existing:,} people, fewer than {run.people:,}; "
                 "drop it (or point BENCH_DATABASE_URL elsewhere) and run again.")
    log("Migrating and seeding (this is the seed-demo benchmark)...")
    upgraded = flask(["db", "upgrade"], env)
    if upgraded.returncode:
        sys.exit(upgraded.stderr)
    elapsed, _, code, text = peak_rss(
        [str(BIN / "flask"), "--app", "wsgi", "seed-demo", "--not-live", "--people",
         str(run.people), "--seed", "1"], env)
    if code:
        sys.exit(text)
    cpu = LAST_CPU["seconds"]
    verified = flask(["audit", "verify"], env)
    run.seed = {"reused": False, "people": run.people, "seconds": elapsed, "cpu": cpu,
                "verify_exit": verified.returncode, "verify": verified.stdout.strip()}
    log(f"Seeded in {elapsed:.0f} s; audit verify exit {verified.returncode}")


def bench_user(env: dict) -> tuple[str, int, str, int]:
    """A lead of every site with a fresh password (set through the services, so
    it is audited); also picks the person page and the search term."""
    password = secrets.token_urlsafe(18)
    script = f"""
from sqlalchemy import func, select
from casework import create_app
from casework.accounts import services as accounts
from casework.cli import command_transaction
from casework.database import utcnow
from casework.intake.models import Person
from casework.notes.models import Note
app = create_app()
with app.app_context(), command_transaction("bench"):
    from casework.extensions import db
    user = accounts.find_user_by_email({BENCH_EMAIL!r})
    if user is None:
        user = accounts.create_user(email={BENCH_EMAIL!r}, display_name="Bench Lead",
            role="lead", sites=accounts.all_sites(), password={password!r}, actor=None,
            now=utcnow())
    else:
        accounts.set_password(user, {password!r}, actor=None, now=utcnow())
    counts = select(Note.person_id, func.count().label("n")).group_by(Note.person_id).subquery()
    person_id, n = db.session.execute(select(counts.c.person_id, counts.c.n)
        .order_by(func.abs(counts.c.n - 200), counts.c.person_id).limit(1)).one()
    person = db.session.get(Person, person_id)
    print("BENCH", person_id, n, person.last_name)
"""
    out = subprocess.run([str(BIN / "python"), "-c", script], cwd=ROOT, env=env, text=True,
                         capture_output=True)
    if out.returncode:
        sys.exit(out.stderr)
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH "))
    _, person_id, notes, surname = line.split(maxsplit=3)
    return password, int(person_id), surname, int(notes)


# 2. queries per page, in process


def count_queries(env: dict, password: str, pages: list[PageResult]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import event

    from casework import create_app
    from casework.extensions import db

    app = create_app()
    # Count what a page costs when it works its figures out, not when the
    # dashboard's are kept (the load below runs as deployed, keeping them).
    app.config["DASHBOARD_FIGURES_SECONDS"] = 0
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    signed = client.post("/sign-in", data={"csrf_token": token, "email": BENCH_EMAIL,
                                           "password": password})
    assert signed.status_code == 302, "bench sign-in failed"
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        # transaction control (SQLite's BEGIN IMMEDIATE) is not a query
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    for item in pages:
        client.get(item.path)  # warm caches (and the first-request setup)
        statements.clear()
        response = client.get(item.path)
        item.queries = len(statements)
        if response.status_code != 200:
            item.queries = None
            log(f"  {item.path} answered {response.status_code}")
    event.remove(engine, "before_cursor_execute", count)


# 3. the pages under gunicorn and wrk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sign_in(port: int, password: str) -> str:
    """The real sign-in over HTTP: fetch the form's CSRF token, post it with
    the credentials, and return the session cookie to hand to wrk."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/sign-in")
    response = conn.getresponse()
    body = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)
    conn.request("POST", "/sign-in", body=urlencode(
        {"csrf_token": token, "email": BENCH_EMAIL, "password": password}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        sys.exit(f"bench sign-in answered {response.status}")
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    conn.close()
    return cookie


def wrk(port: int, path: str, cookie: str | None, seconds: int) -> dict:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA)]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], text=True,
                         capture_output=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    values = dict(part.split("=") for part in line.split()[1:])
    return {k: float(v) for k, v in values.items()}


def measure(port: int, item: PageResult, cookie: str | None, seconds: int, *,
            warm: int) -> float:
    """Load ``item`` with wrk (after ``warm`` seconds to warm both workers);
    its figures go into ``item``; returns its req/s."""
    wrk(port, item.path, cookie, warm)
    figures = wrk(port, item.path, cookie, seconds)
    item.requests = int(figures["requests"])
    item.rps = figures["requests"] / (figures["duration_us"] / 1e6)
    item.p50, item.p95, item.p99 = figures["p50"], figures["p95"], figures["p99"]
    item.non2xx, item.errors = int(figures["non2xx"]), int(figures["errors"])
    log(f"  {item.name:<34} {item.rps:8.1f} req/s  p50 {item.p50:6.1f} ms  "
        f"p95 {item.p95:6.1f} ms  non-2xx {item.non2xx}")
    return item.rps


def load_pages(run: Run, env: dict, password: str, seconds: int) -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--workers", "2",
         "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        ceiling, pages = run.pages[0], run.pages[1:]
        # The ceiling is measured before every page and after the last: a
        # shared machine's speed drifts by a quarter within minutes, so each
        # page is compared with the ceiling measured either side of it.
        ceilings = [measure(port, ceiling, None, seconds, warm=3)]
        for item in pages:
            # A fresh session for each page, so the idle timeout never ends it.
            measure(port, item, sign_in(port, password), seconds, warm=3)
            ceilings.append(measure(port, PageResult(ceiling.name, ceiling.path), None,
                                    seconds, warm=1))
            item.ceilings = ceilings[-2:]
        ceiling.ceilings = ceilings
        first = ceiling.rps
        ceiling.rps = sum(ceilings) / len(ceilings)
        log(f"  ceiling runs {', '.join(f'{x:.0f}' for x in ceilings)} req/s "
            f"(the first {first:.0f}; its p50 and p95 are the first run's)")
    finally:
        server.terminate()
        server.wait(timeout=30)


# 4. the extract against a raw dump


RAW_COLUMNS = """SELECT r.id, r.person_id, s.key, r.referral_date, r.source,
  r.risk_indicators, r.status, p.date_of_birth, t.computed_result, t.decision, a.arm
FROM referrals r JOIN sites s ON s.id = r.site_id JOIN people p ON p.id = r.person_id
LEFT JOIN triages t ON t.referral_id = r.id
LEFT JOIN allocations a ON a.referral_id = r.id
WHERE s.key IN ('coventry', 'wolverhampton') ORDER BY r.id"""


def extract(run: Run, env: dict, workdir: Path) -> None:
    out = workdir / "cohort.csv"
    cmd = [str(BIN / "flask"), "--app", "wsgi", "export", "cohort", "--out", str(out),
           "--unit", "referral", "--format", "csv"]
    elapsed, peak, code, text = peak_rss(cmd, env)
    cpu = LAST_CPU["seconds"]
    if code:
        log(text)
    rows = max(0, sum(1 for _ in out.open()) - 1) if out.exists() else 0
    # What the command costs before its first row: the app and its commands
    # loaded, as `export --help` loads them (reported beside the rate, which
    # includes it; the target is judged on the whole).
    startup, _, _, _ = peak_rss([str(BIN / "flask"), "--app", "wsgi", "export", "--help"], env)
    raw = workdir / "raw.csv"
    if backend(run.url) == "sqlite":
        path = urlsplit(run.url).path
        path = path[1:] if path.startswith("//") else path
        raw_cmd = ["sqlite3", "-csv", "-header", path, RAW_COLUMNS]
    else:
        plain = run.url.replace("postgresql+psycopg://", "postgresql://")
        one_line = " ".join(RAW_COLUMNS.split())
        raw_cmd = ["psql", plain, "-q", "-c", f"\\copy ({one_line}) TO STDOUT WITH CSV HEADER"]
    raw_elapsed, raw_peak, raw_code, raw_text = peak_rss(raw_cmd, env, raw)
    if raw_code:
        log(raw_text)
    raw_rows = max(0, sum(1 for _ in raw.open()) - 1)
    run.extract = {"rows": rows, "seconds": elapsed, "peak_mb": peak, "exit": code, "cpu": cpu,
                   "raw_rows": raw_rows, "raw_seconds": raw_elapsed, "raw_peak_mb": raw_peak,
                   "startup": startup,
                   "rows_per_s": rows / elapsed if elapsed else 0,
                   "raw_rows_per_s": raw_rows / raw_elapsed if raw_elapsed else 0}
    log(f"  extract {rows:,} rows in {elapsed:.2f} s (peak {peak:.0f} MB); raw dump "
        f"{raw_rows:,} rows in {raw_elapsed:.2f} s")


# 5. audit verify


def verify(run: Run, env: dict) -> None:
    elapsed, peak, code, text = peak_rss(
        [str(BIN / "flask"), "--app", "wsgi", "audit", "verify"], env)
    found = re.search(r"(\d+) events checked", text)
    run.verify = {"seconds": elapsed, "exit": code, "peak_mb": peak, "cpu": LAST_CPU["seconds"],
                  "events": int(found.group(1)) if found else 0}
    run.verify["per_s"] = run.verify["events"] / elapsed if elapsed else 0
    log(f"  audit verify: exit {code}, {run.verify['events']:,} events in {elapsed:.1f} s")


# 6. results.md


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                   if x.startswith("MemTotal"))
        memory = f"{mem / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        memory = "unknown RAM"
    return f"{cpu}, {os.cpu_count()} cores, {memory}, {platform.system()} {platform.release()}"


def database_label(url: str) -> str:
    if backend(url) == "sqlite":
        path = urlsplit(url).path
        size = Path(path[1:] if path.startswith("//") else path)
        mb = size.stat().st_size / 1e6 if size.exists() else 0
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} ({mb:,.0f} MB file)"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    version = subprocess.run(["psql", plain, "-Atc", "SHOW server_version"], text=True,
                             capture_output=True).stdout.strip()
    return f"PostgreSQL {version.split()[0] if version else '?'}"


def mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _after_startup(e: dict) -> str:
    """The extract's rate once the app has started, if it had time for rows."""
    streaming = e["seconds"] - e.get("startup", 0)
    if not e.get("startup") or streaming <= 0 or not e.get("raw_rows_per_s"):
        return ""
    rate = e["rows"] / streaming
    return (f" Of its time, {e['startup']:.2f} s is the app starting (`flask export --help`"
            f" takes that long); after it, {rate:,.0f} rows/s, "
            f"{rate / e['raw_rows_per_s']:.0%} of the raw dump's rate.")


def write_results(run: Run, label: str) -> str:
    ceiling = next(p for p in run.pages if p.path == "/health")
    lines = [f"## {run.started:%Y-%m-%d %H:%M} UTC, {database_label(run.url)}, "
             f"{run.people:,} people{': ' + label if label else ''}", "",
             f"Machine: {machine()}; load average at the start "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}. gunicorn 2 sync workers "
             f"(gunicorn.conf.py), wrk 2 threads, {CONNECTIONS} connections, app, database "
             "and load generator on the same machine.", ""]
    if run.seed.get("reused"):
        lines.append(f"Database reused ({run.seed['people']:,} people).")
    else:
        lines.append(f"`seed-demo --people {run.people}`: {run.seed['seconds']:.0f} s "
                     f"(target under 600 s: {mark(run.seed['seconds'] < 600)}; "
                     f"{run.seed['cpu']:.0f} s of CPU in the command, the database's own "
                     "work not counted); "
                     f"`audit verify` afterwards exited {run.seed['verify_exit']}.")
    lines += ["", f"The ceiling (`/health`) was measured before each page and after the last "
              f"({', '.join(f'{x:,.0f}' for x in ceiling.ceilings)} req/s; its row gives "
              "their mean, with the first run's latencies), and each page's share is of the "
              "mean of the two runs either side of it.",
              "", "| page | SQL queries | req/s | p50 ms | p95 ms | share of ceiling | "
              "non-2xx | targets |", "|---|---|---|---|---|---|---|---|"]
    for p in run.pages:
        beside = ceiling.rps if p is ceiling else p.ceiling
        share = p.rps / beside if beside else 0
        if p is ceiling:
            verdict = "ceiling"
        else:
            ok_q = p.queries is not None and p.queries <= TARGETS["queries"]
            verdict = (f"queries {mark(ok_q)}, p95 {mark(p.p95 <= TARGETS['p95_ms'])}, "
                       f"throughput {mark(share >= TARGETS['ceiling_share'])}")
        lines.append(f"| {p.name} (`{p.path}`) | {p.queries if p.queries is not None else '?'}"
                     f" | {p.rps:.1f} | {p.p50:.1f} | {p.p95:.1f} | {share:.0%} | "
                     f"{p.non2xx + p.errors} | {verdict} |")
    e = run.extract
    dump_tool = "sqlite3 -csv" if backend(run.url) == "sqlite" else "psql \\copy"
    share = e["rows_per_s"] / e["raw_rows_per_s"] if e.get("raw_rows_per_s") else 0
    lines += ["", f"Cohort extract (`export cohort --unit referral --format csv`, the trial "
              f"sites' referrals): {e['rows']:,} rows in {e['seconds']:.2f} s = "
              f"{e['rows_per_s']:,.0f} rows/s ({e['cpu']:.1f} s of CPU), peak memory "
              f"{e['peak_mb']:.0f} MB. Raw dump of "
              f"the same columns ({dump_tool}): {e['raw_rows']:,} rows in "
              f"{e['raw_seconds']:.2f} s = {e['raw_rows_per_s']:,.0f} rows/s. Share "
              f"{share:.0%} (target 50%: {mark(share >= TARGETS['extract_share'])}); memory "
              f"target 200 MB: {mark(e['peak_mb'] <= TARGETS['extract_mb'])}."
              + _after_startup(e),
              "", f"`audit verify`: {run.verify['events']:,} events in "
              f"{run.verify['seconds']:.1f} s = {run.verify['per_s']:,.0f} events/s, exit "
              f"{run.verify['exit']}, peak memory {run.verify['peak_mb']:.0f} MB (target "
              f"100,000/s: {mark(run.verify['per_s'] >= TARGETS['verify_per_s'])}); "
              f"{run.verify['cpu']:.1f} s of CPU, so "
              f"{run.verify['events'] / max(run.verify['cpu'], 0.001):,.0f} events per CPU "
              "second, app start-up included.", ""]
    lines += [f"{note}" for note in run.notes]
    text = "\n".join(lines).rstrip() + "\n\n"
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    existing = RESULTS.read_text()
    marker = "<!-- runs, newest first -->\n\n"
    head, _, rest = existing.partition(marker)
    RESULTS.write_text(head + marker + text + rest)
    return text


HEADER = """# Benchmark results

Written by `make bench` (`bench/run.py`); each run is added at the top of the
list below. Targets (issue #10): at most 10 SQL queries per page whatever the
size; p95 at most 50 ms at 16 connections; throughput at least 20% of the bare
endpoint's (`/health`); the extract at least half the speed of a raw dump of
the same columns, in at most 200 MB; `audit verify` at least 100,000 events/s.

The machine is shared (2 cores, another engineer's test suites running at the
same time), and the app, the database and wrk all run on it, so figures vary
from run to run by tens of percent; read them as orders of magnitude.

<!-- runs, newest first -->

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20, help="wrk duration per page")
    parser.add_argument("--label", default="", help="a note for the results heading")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk); `make bench` installs it")
    if not (BIN / "gunicorn").exists():
        sys.exit("gunicorn is not installed in .venv (the `bench` extra); `make bench` installs it")

    url = os.environ.get("BENCH_DATABASE_URL") or \
        f"sqlite:///{ROOT / 'bench' / 'data' / f'casework-{args.people}.db'}"
    (ROOT / "bench" / "data").mkdir(exist_ok=True)
    run = Run(url=url, people=args.people, started=datetime.now(UTC))
    env = app_env(url, secrets.token_urlsafe(32))
    log(f"Database: {url}")
    prepare(run, env)
    password, person_id, surname, notes = bench_user(env)
    run.pages = [
        PageResult("bare endpoint (ceiling)", "/health"),
        PageResult("referrals list", "/referrals"),
        PageResult(f"person page ({notes} notes)", f"/people/{person_id}"),
        PageResult("lead dashboard", "/dashboard"),
        PageResult("search by name", f"/referrals?{urlencode({'q': surname})}"),
        PageResult("caseloads by caseworker", "/caseload"),
    ]
    log("Counting queries...")
    count_queries(env, password, run.pages)
    log("Loading pages under gunicorn...")
    load_pages(run, env, password, args.seconds)
    with tempfile.TemporaryDirectory(prefix="casework-bench-") as workdir:
        log("Extract...")
        extract(run, env, Path(workdir))
    log("Audit verify...")
    verify(run, env)
    print(write_results(run, args.label))


if __name__ == "__main__":
    main()
