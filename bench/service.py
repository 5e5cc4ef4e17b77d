"""Authorized partner reads per second, and their latency, beside a bare endpoint of the same app.

    python -m bench.service [--duration 10] [--concurrency 1,8,32]
                            [--database-url sqlite --database-url postgresql+psycopg://...]

For each database: builds a home with a published score for each of ``--users`` people and
one partner (its rate limit far above what the machine can serve) holding an active
authorization from every one of them, starts the real server (``pentascore --home H serve``:
uvicorn, uvloop, httptools) as a subprocess, and drives it over loopback with HTTP/1.1
keep-alive from a load generator in a separate process: N connections, each with one request
in flight, written as soon as the previous answer is read (a closed loop). For each
concurrency the bare endpoint (GET /v1/ping, a constant) and partner reads
(GET /v1/scores/{user}?purpose=hotel, round-robin over every authorized person) are measured
in alternating windows of the same run, so their ratio holds on a noisy machine. Every
answer's status is counted, and at the end the inquiries table must hold one record per read
answered. Before the server starts, one row is inserted and committed alone a few hundred
times on the same database (`commit_probe`): on PostgreSQL that commit waits for the disk,
and no read, which commits its query record before it answers, can take less.

The load generator is a raw asyncio (uvloop) protocol: request bytes built beforehand,
answers framed by Content-Length. Its ceiling is measured in the same run against a trivial
server (a constant answer written by a raw protocol, in its own process): it must stay well
above the bare endpoint's rate, or the generator, not the service, is what was measured.

``--database-url`` (repeatable): ``sqlite`` (the default) is a SQLite file in the home; with a
PostgreSQL URL the benchmark creates a scratch database (``bench_service_<hex>``) on that
server, uses it, and drops it at the end (the URL's own database is only used to connect).
The inquiries export (allowed reads written to the lake every minute) is pushed past the run
(``--export-seconds``), so that it does not land in one window and not the other.
Results go to docs/benchmarks.md, section "Score service (issue 5)".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from bench._report import write_section
from pentascore.core.settings import Settings
from pentascore.core.types import Dimension
from pentascore.events.pseudonym import pseudonymize_value
from pentascore.scores.batch import SCORE_SCHEMA
from pentascore.service import authorizations
from pentascore.service.authorizations import Decision, Scope
from pentascore.service.db import Database, Partner, open_database
from pentascore.service.identities import add_partner
from pentascore.service.published import publish

SECTION = "Score service (issue 5)"
PURPOSE = "hotel"
GOAL_RATIO = 0.5
GOAL_P99_MS = 20.0
GOAL_CONCURRENCY = 8


# -- the load generator (runs in its own process) --------------------------------------------


@dataclass
class Window:
    """What one measurement window saw."""

    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds
    answered: int = 0  # every answer, the warm-up's and the window's


class _Client(asyncio.Protocol):
    """One keep-alive connection with one request in flight: send, read the answer (headers,
    then Content-Length bytes), send the next."""

    def __init__(self, requests: list[bytes], first: int, run: _Run) -> None:
        self.requests = requests
        self.next = first
        self.run = run
        self.buffer = b""
        self.need = -1
        self.status = 0
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.run.stopping:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.next])
        self.next = (self.next + 1) % len(self.requests)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError("an answer without Content-Length")
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop > 0 else len(head)])
            self.need = end + 4 + length
        if len(self.buffer) < self.need:
            return
        done = time.perf_counter()
        self.buffer = self.buffer[self.need :]
        self.need = -1
        self.run.record(self.status, done - self.sent_at, self.sent_at)
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.closed(self, exc)


class _Run:
    def __init__(self, warmup: float, seconds: float, connections: int) -> None:
        self.start = time.perf_counter()
        self.measure_from = self.start + warmup
        self.measure_to = self.measure_from + seconds
        self.stopping = False
        self.window = Window(seconds=seconds)
        self.open = connections
        self.errors: list[str] = []
        self.finished = asyncio.get_running_loop().create_future()

    def record(self, status: int, latency: float, sent_at: float) -> None:
        self.window.answered += 1
        # Measure the answers to requests sent inside the window.
        if self.measure_from <= sent_at < self.measure_to:
            self.window.requests += 1
            self.window.statuses[status] += 1
            self.window.latencies.append(latency)

    def closed(self, _client: _Client, exc: Exception | None) -> None:
        if exc is not None or not self.stopping:
            self.errors.append(repr(exc) if exc else "the server closed a connection")
        self.open -= 1
        if self.open == 0 and not self.finished.done():
            self.finished.set_result(None)


async def _drive(
    port: int, requests: list[bytes], connections: int, seconds: float, warmup: float
) -> Window:
    loop = asyncio.get_running_loop()
    run = _Run(warmup, seconds, connections)
    step = max(1, len(requests) // connections)
    for i in range(connections):
        await loop.create_connection(
            lambda i=i: _Client(requests, (i * step) % len(requests), run), "127.0.0.1", port
        )
    await asyncio.sleep(run.measure_to - time.perf_counter())
    run.stopping = True
    # Each connection closes after its answer in flight; a stuck one is an error.
    await asyncio.wait_for(run.finished, timeout=30)
    if run.errors:
        raise RuntimeError(f"load generator: {run.errors[:3]}")
    return run.window


def drive(
    port: int, requests: list[bytes], connections: int, seconds: float, warmup: float
) -> Window:
    """One window of ``seconds`` after ``warmup`` seconds, on ``connections`` connections."""
    import uvloop

    return uvloop.run(_drive(port, requests, connections, seconds, warmup))


_CONSTANT = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: application/json\r\n\r\n"


class _Constant(asyncio.Protocol):
    """The trivial server of the generator's ceiling: a constant answer per request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write((_CONSTANT + b'{"ok":true}') * data.count(b"\r\n\r\n"))


def constant_server(port: int, seconds: float) -> None:
    """Serves the constant on ``port`` for ``seconds`` (run in its own process)."""
    import uvloop

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(_Constant, "127.0.0.1", port)
        async with server:
            await asyncio.sleep(seconds)

    uvloop.run(serve())


# -- the home, the server --------------------------------------------------------------------


def _score_table(key: bytes, users: list[str], as_of: date, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = len(users)
    base = 600
    points = {d: rng.integers(-50, 60, n) for d in Dimension}
    score = np.clip(base + sum(points.values()), 350, 950)
    bands = np.array(["poor", "fair", "good", "very_good", "excellent"])
    columns: dict[str, pa.Array] = {
        "user_id": pa.array([pseudonymize_value(key, "user_id", u) for u in users], pa.string()),
        "as_of": pa.array([as_of] * n, pa.date32()),
        "model": pa.array(["bench-model"] * n, pa.string()),
        "score": pa.array(score, pa.int32()),
        "band": pa.array(bands[np.minimum((score - 350) // 120, 4)], pa.string()),
        "base": pa.array(np.full(n, base), pa.int32()),
    }
    for d in Dimension:
        columns[d.value] = pa.array(points[d], pa.int32())
    for d in Dimension:
        columns[f"{d.value}_radar"] = pa.array((points[d] + 50) * 100 // 110, pa.int8())
    return pa.Table.from_pydict(columns, schema=SCORE_SCHEMA)


def build_home(home: Path, database_url: str | None, people: int) -> tuple[str, list[str], str]:
    """A home with ``people`` published scores and one partner authorized by all of them;
    returns the partner's key, the people's ids and a description of the database."""
    settings = Settings(home=home, database_url=database_url)
    key = settings.resolve_pseudonym_key()
    database = open_database(settings.database)
    now = datetime.now(UTC)
    users = [f"bench-user-{i:06d}" for i in range(people)]
    publish(database, _score_table(key, users, date(2025, 10, 1), seed=5), now)
    made = add_partner(database, "Bench Reader", now, reads_per_minute=1_000_000_000)
    with database.session() as session:
        partner = session.get(Partner, made.partner_id)
        assert partner is not None
        for user in users:
            ref = pseudonymize_value(key, "user_id", user)
            asked, _ = authorizations.request(session, partner, ref, PURPOSE, Scope.SCORE, 365, now)
            authorizations.decide(session, ref, asked.id, Decision.GRANT, now)
    with database.engine.connect() as connection:
        version = connection.exec_driver_sql(
            "select sqlite_version()"
            if database.engine.url.get_backend_name() == "sqlite"
            else "show server_version"
        ).scalar()
    kind = database.engine.url.get_backend_name()
    database.dispose()
    return made.api_key, users, f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'} {version}"


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A new database on the server of ``url``, dropped at the end."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"bench_service_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    home: Path, database_url: str | None, port: int, workers: int, export_seconds: float
) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, PENTASCORE_INQUIRY_EXPORT_SECONDS=str(export_seconds))
    if database_url:
        env["PENTASCORE_DATABASE_URL"] = database_url
    command = [
        str(Path(sys.executable).with_name("pentascore")),
        "--home",
        str(home),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/ping", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(path: str, api_key: str | None = None) -> bytes:
    headers = [b"GET ", path.encode(), b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"]
    if api_key:
        headers.append(f"X-API-Key: {api_key}\r\n".encode())
    headers.append(b"\r\n")
    return b"".join(headers)


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, w: Window) -> None:
        self.requests += w.requests
        self.seconds += w.seconds
        self.statuses.update(w.statuses)
        self.latencies.extend(w.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def ms(self, q: float) -> float:
        return float(np.quantile(np.array(self.latencies), q)) * 1000.0

    @property
    def not_ok(self) -> int:
        return self.requests - self.statuses[200]


def measure(
    pool: ProcessPoolExecutor,
    port: int,
    ping: list[bytes],
    reads: list[bytes],
    args: argparse.Namespace,
) -> tuple[dict[int, tuple[Result, Result]], int]:
    """ping and reads at each concurrency, in alternating windows; and how many reads were
    answered in all (warm-ups included)."""
    results: dict[int, tuple[Result, Result]] = {}
    window = args.duration / args.rounds
    answered = 0
    for c in args.concurrency:
        bare, read = Result(), Result()
        for r in range(args.rounds):
            # Alternate which goes first, so that neither always follows the other.
            order = [(ping, bare), (reads, read)]
            for requests, into in order if r % 2 == 0 else order[::-1]:
                seen = pool.submit(drive, port, requests, c, window, args.warmup).result()
                into.add(seen)
                answered += seen.answered if into is read else 0
        results[c] = (bare, read)
        print(
            f"{c:>3} clients: ping {bare.rate:8,.0f}/s p50 {bare.ms(0.5):6.2f} ms "
            f"p99 {bare.ms(0.99):6.2f} ms | read {read.rate:8,.0f}/s p50 {read.ms(0.5):6.2f} ms "
            f"p99 {read.ms(0.99):6.2f} ms | ratio {read.rate / bare.rate:.2f} "
            f"| non-200 reads {read.not_ok} pings {bare.not_ok}",
            flush=True,
        )
    return results, answered


def generator_ceiling(pool: ProcessPoolExecutor, concurrency: list[int]) -> dict[int, float]:
    """Requests/s the load generator reaches against a server that does nothing."""
    port = _free_port()
    seconds = 1.0
    server = get_context("spawn").Process(
        target=constant_server, args=(port, (seconds + 1.5) * len(concurrency) + 10)
    )
    server.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the constant server did not start") from None
                time.sleep(0.1)
        rates = {}
        for c in concurrency:
            seen = pool.submit(drive, port, [_get("/")], c, seconds, 0.3).result()
            rates[c] = seen.requests / seen.seconds
        return rates
    finally:
        server.terminate()
        server.join()


def table(results: dict[int, tuple[Result, Result]]) -> list[str]:
    rows = [
        "| clients | ping req/s | read req/s | read / ping | ping p50 | ping p99 "
        "| read p50 | read p99 | non-200 reads |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c, (bare, read) in results.items():
        bad = ", ".join(f"{n} x {s}" for s, n in sorted(read.statuses.items()) if s != 200)
        rows.append(
            f"| {c} | {bare.rate:,.0f} | {read.rate:,.0f} | {read.rate / bare.rate:.2f} "
            f"| {bare.ms(0.5):.2f} ms | {bare.ms(0.99):.2f} ms | {read.ms(0.5):.2f} ms "
            f"| {read.ms(0.99):.2f} ms | {read.not_ok}{f' ({bad})' if bad else ''} |"
        )
    return rows


def verdict(results: dict[int, tuple[Result, Result]]) -> str:
    if GOAL_CONCURRENCY not in results:
        return f"(the goals are judged at {GOAL_CONCURRENCY} clients, which this run left out)"
    bare, read = results[GOAL_CONCURRENCY]
    ratio, p99 = read.rate / bare.rate, read.ms(0.99)
    met = ratio >= GOAL_RATIO and p99 <= GOAL_P99_MS and read.not_ok == 0
    return (
        f"At {GOAL_CONCURRENCY} clients reads ran at {ratio:.0%} of the bare endpoint's rate "
        f"(goal >= {GOAL_RATIO:.0%}) with p99 {p99:.1f} ms (goal <= {GOAL_P99_MS:.0f} ms): "
        f"{'met' if met else 'not met'}."
    )


@dataclass
class Run:
    database: str  # what and which version
    results: dict[int, tuple[Result, Result]]
    answered: int  # reads answered, warm-ups included
    recorded: int  # query records in the inquiries table afterwards
    commit_ms: tuple[float, float]  # one row inserted and committed, alone: p50, p99
    load: tuple[float, float]  # the machine's 1-minute load average before and after


def commit_probe(url: str, n: int = 300) -> tuple[float, float]:
    """p50 and p99 milliseconds of inserting one row and committing it, one at a time, on
    the service's database with the service's settings (on PostgreSQL, the commit waits for
    the WAL to reach the disk: the floor under a read's latency)."""
    database = Database(url)
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TABLE bench_commit_probe (id INTEGER PRIMARY KEY, v TEXT)")
        raw.commit()
        seconds = []
        for i in range(n):
            started = time.perf_counter()
            cursor.execute(f"INSERT INTO bench_commit_probe VALUES ({i}, 'x')")
            raw.commit()
            seconds.append(time.perf_counter() - started)
        cursor.execute("DROP TABLE bench_commit_probe")
        raw.commit()
    finally:
        raw.close()
        database.dispose()
    ms = np.array(seconds) * 1000.0
    return float(np.quantile(ms, 0.5)), float(np.quantile(ms, 0.99))


def run_database(args: argparse.Namespace, pool: ProcessPoolExecutor, url: str | None) -> Run:
    with tempfile.TemporaryDirectory(prefix="pentascore-bench-service-") as tmp:
        home = Path(tmp) / "home"
        started = time.perf_counter()
        api_key, users, database = build_home(home, url, args.users)
        print(
            f"home with {len(users):,} authorized people on {database} in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        settings = Settings(home=home, database_url=url)
        commit_ms = commit_probe(settings.database)
        print(f"one-row commit alone: p50 {commit_ms[0]:.2f} ms, p99 {commit_ms[1]:.2f} ms")
        ping = [_get("/v1/ping")]
        reads = [_get(f"/v1/scores/{u}?purpose={PURPOSE}", api_key) for u in users]
        port = args.port or _free_port()
        load_before = os.getloadavg()[0]
        with server(home, url, port, args.workers, args.export_seconds):
            # One read by hand: the body is a score, not only a 200.
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/scores/{users[0]}?purpose={PURPOSE}",
                headers={"X-API-Key": api_key},
            )
            with urllib.request.urlopen(request) as answer:
                body = answer.read()
            assert b'"score"' in body and b'"inquiry_id"' in body, body
            results, answered = measure(pool, port, ping, reads, args)
        load = (load_before, os.getloadavg()[0])
        engine = sa.create_engine(settings.database)
        with engine.connect() as connection:
            recorded = connection.execute(sa.text("select count(*) from inquiries")).scalar_one()
        engine.dispose()
    return Run(database, results, answered + 1, int(recorded), commit_ms, load)


def _ceiling(rates: dict[int, float]) -> str:
    return ", ".join(f"{c} client{'s' if c > 1 else ''} {r:,.0f}/s" for c, r in rates.items())


def versions() -> str:
    from importlib.metadata import version

    names = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "SQLAlchemy"]
    return ", ".join(f"{n} {version(n)}" for n in [*names, "psycopg", "asyncpg"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="Seconds measured per endpoint and concurrency (split into --rounds windows).",
    )
    parser.add_argument("--rounds", type=int, default=4, help="Alternating windows per endpoint.")
    parser.add_argument("--warmup", type=float, default=0.5, help="Seconds before each window.")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 32],
        help="Comma-separated numbers of concurrent keep-alive connections.",
    )
    parser.add_argument(
        "--database-url",
        action="append",
        default=None,
        help="'sqlite' (default: a file in the home) or a PostgreSQL URL (a scratch database "
        "is made on that server and dropped after); repeat to run each.",
    )
    parser.add_argument("--users", type=int, default=5000, help="Authorized people read.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument("--port", type=int, default=0, help="Server port (default: a free one).")
    parser.add_argument(
        "--export-seconds",
        type=float,
        default=24 * 3600.0,
        help="The service's inquiry export period (default: after the run).",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="Print only; leave docs/benchmarks.md alone."
    )
    args = parser.parse_args()
    urls = args.database_url or ["sqlite"]

    runs: list[Run] = []
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        ceiling = generator_ceiling(pool, args.concurrency)
        print(
            "load generator against a do-nothing server: " + _ceiling(ceiling),
            flush=True,
        )
        for url in urls:
            if url.startswith("postgresql"):
                with scratch_postgres(url) as scratch:
                    runs.append(run_database(args, pool, scratch))
            else:
                runs.append(run_database(args, pool, None if url == "sqlite" else url))

    lines = []
    for run in runs:
        rows = table(run.results)
        ok = run.answered == run.recorded
        print("\n".join(rows))
        print(verdict(run.results))
        print(f"reads answered {run.answered:,}, query records {run.recorded:,}")
        lines += [
            f"**{run.database}**. {verdict(run.results)} Reads answered: {run.answered:,}; "
            f"query records afterwards: {run.recorded:,}"
            + (" (one each)." if ok else " (MISMATCH).")
            + f" One row inserted and committed alone: p50 {run.commit_ms[0]:.2f} ms, p99 "
            f"{run.commit_ms[1]:.2f} ms. Load average (1 min) {run.load[0]:.1f} before, "
            f"{run.load[1]:.1f} after.",
            "",
            *rows,
            "",
        ]
    if args.no_report:
        return
    workers = f"{args.workers} uvicorn worker{'s' if args.workers > 1 else ''}"
    options = f"--duration {args.duration:g} --users {args.users}" + "".join(
        " --database-url " + ("sqlite" if u == "sqlite" else "postgresql+psycopg://...")
        for u in urls
    )
    body = "\n".join(
        [
            f"`python -m bench.service {options}`: the real server (`pentascore serve`, "
            f"{workers}, uvloop and httptools) with {args.users:,} people, each with a "
            "published score and an active authorization (scope `score`) for one partner; "
            "driven over loopback by a keep-alive load generator in another process on the "
            "same 2 cores (a raw asyncio client: N connections, one request in flight each). "
            "*ping* is `GET /v1/ping` (an `async` endpoint returning a constant, same app); "
            "*read* is `GET /v1/scores/{user}?purpose=hotel`, round-robin over every authorized "
            "person: partner key, rate limit, authorization check, latest score, and the query "
            "record committed in the same transaction before the answer. Each figure is "
            f"{args.duration:g} s of each endpoint per concurrency, in {args.rounds} "
            "alternating windows; the inquiry export (every minute) is held off the run. "
            "The load generator alone, against a do-nothing server: " + _ceiling(ceiling) + ". "
            "Beside each database's verdict: one row inserted and committed alone on it, "
            "with the service's settings (on PostgreSQL the commit waits for the WAL to reach "
            "the disk, which no read can beat; SQLite's WAL in synchronous=NORMAL syncs at "
            "checkpoints), and the machine's load average around the run.",
            f"Goals: reads >= {GOAL_RATIO:.0%} of the bare endpoint's throughput and read p99 "
            f"<= {GOAL_P99_MS:.0f} ms at {GOAL_CONCURRENCY} clients. Versions: {versions()}.",
            "",
            *lines,
        ]
    )
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
