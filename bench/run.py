"""`make bench`: one table of figures, each a ratio to a floor measured in the same run.

Run as `python -m bench.run` from the project root. Scratch files go to a temporary folder
that is removed afterwards; the table (and notes under it) go to stdout, nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = PROJECT_ROOT / "tests" / "events"
BENCH_VENV = Path("/tmp/benchvenv")
USER = "alice"

# Repetitions: medians of this many runs.
COLD_RUNS = 7
WARM_RUNS = 200
REBUILD_RUNS = {1_000: 7, 10_000: 5, 100_000: 3}
STREAM_RUNS = 5
# rebuild-all sizes (trades, users); the issue's 1,000,000 across 10,000 is scaled down.
REBUILD_ALL_SIZES = ((100_000, 1_000), (1_000_000, 10_000))
PIP_TIMEOUT = 300


@dataclass
class Row:
    name: str
    value: float | None
    floor: float | None
    unit: str
    budget: float | None = None  # on the ratio; None: informational
    note: str = ""
    ok_override: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    @property
    def ok(self) -> str:
        if self.ok_override is not None:
            return "yes" if self.ok_override else "NO"
        if self.budget is None or self.ratio is None:
            return "-"
        return "yes" if self.ratio <= self.budget else "NO"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  .. {row.name}", file=sys.stderr, flush=True)

    def print(self) -> None:
        def fmt(value: float | None, unit: str) -> str:
            if value is None:
                return "not measured"
            if unit == "ms":
                return f"{value:.2f} ms"
            if unit == "MB":
                return f"{value:.1f} MB"
            return f"{value:,.0f} {unit}".strip()

        lines = [("name", "value", "floor", "ratio", "budget", "ok")]
        for row in self.rows:
            lines.append(
                (
                    row.name,
                    fmt(row.value, row.unit),
                    fmt(row.floor, row.unit) if row.floor is not None else "-",
                    f"{row.ratio:.2f}x" if row.ratio is not None else "-",
                    f"<= {row.budget:g}x" if row.budget is not None else "-",
                    row.ok,
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(6)]
        for index, line in enumerate(lines):
            print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
            if index == 0:
                print("  ".join("-" * width for width in widths))
        notes = [f"{row.name}: {row.note}" for row in self.rows if row.note] + self.notes
        if notes:
            print()
            for note in notes:
                print(f"- {note}")


def median_ms(func: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send fds 1 and 2 to /dev/null: the app's log lines are still formatted and written."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def offline_environ(home: Path) -> dict[str, str]:
    """No AWS credentials or profile; any network attempt fails fast (as tests/tasks does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRADEAPP_", "VIRTUAL_ENV"))}
    env.update(
        {
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "",
        }
    )
    return env


# Seeding: the same rows the SQLite adapter writes, in one transaction.

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META", "SPY", "QQQ")
SETUPS = (None, "breakout", "pullback", "reversal")
TAGS = ("a", "b", "c", "d", "e")
START = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def make_trade(rng: random.Random, user_id: str, index: int) -> Any:
    from tradeapp.domain.trade import PartialClose, Trade

    entry_at = START + timedelta(hours=7 * index + rng.randrange(6))
    quantity = Decimal(rng.randrange(1, 200))
    price = Decimal(rng.randrange(1000, 50000)) / 100
    closes: list[Any] = []
    if rng.random() < 0.85:  # closed in one or two closes; the rest stay open
        parts = (
            [quantity] if quantity < 2 or rng.random() < 0.5 else [quantity // 2, quantity - quantity // 2]
        )
        for number, part in enumerate(parts):
            move = Decimal(rng.randrange(-500, 600)) / 100
            closes.append(
                PartialClose(
                    close_id=f"c{number}",
                    quantity=part,
                    price=max(Decimal("0.01"), price + move),
                    closed_at=entry_at + timedelta(hours=number + 1),
                    fees=Decimal("0.50"),
                )
            )
    return Trade(
        user_id=user_id,
        trade_id=f"{index:08d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
        symbol=rng.choice(SYMBOLS),
        side=rng.choice(("long", "short")),
        quantity=quantity,
        entry_price=price,
        entry_at=entry_at,
        created_at=entry_at,
        updated_at=entry_at,
        fees=Decimal("1.00"),
        stop_loss=price - 1 if rng.random() < 0.5 else None,
        setup=rng.choice(SETUPS),
        tags=tuple(rng.sample(TAGS, rng.randrange(3))),
        partial_closes=tuple(closes),
    )


def seed(path: Path, users: dict[str, int]) -> None:
    """users: user_id -> trade count. Rows and revisions exactly as SQLiteTradeRepository writes."""
    from tradeapp.adapters.sqlite import Database, SQLiteTradeRepository

    rng = random.Random(42)
    db = Database(path)
    with db.write() as conn:
        for user_id, count in users.items():
            rows = (SQLiteTradeRepository._row(make_trade(rng, user_id, i)) for i in range(count))
            conn.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute(
                "INSERT INTO trade_stats (user_id, trades_revision) VALUES (?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET trades_revision = excluded.trades_revision",
                (user_id, count),
            )
    db.connection().close()


def sqlite_container(data_dir: Path) -> Any:
    """A container on the embedded backend, its change feed detached (as tests/tasks does)."""
    from tradeapp.bootstrap import build
    from tradeapp.config import load

    app = build(
        load({"BACKEND": "sqlite", "AUTH": "local", "SECRETS": "file", "DATA_DIR": str(data_dir)}, {})
    )
    app.trades.repo.listener = None
    return app


# a. cold start, b. warm requests: Zappa's handler on generated settings.


def generate_settings(work: Path, name: str, stage: dict[str, Any], overrides: dict[str, str]) -> Path:
    """Zappa's own `save-python-settings-file`, then the env overrides on top: a task root."""
    folder = work / f"zappa-{name}"
    (folder / "out").mkdir(parents=True)
    (folder / "zappa_settings.json").write_text(json.dumps({"dev": stage}))
    output = folder / "out" / "zappa_settings.py"
    subprocess.run(
        [sys.executable, "-m", "zappa.cli", "save-python-settings-file", "dev", "--json", "-o", str(output)],
        cwd=folder,
        env=offline_environ(folder),
        check=True,
        capture_output=True,
        timeout=120,
    )
    task_root = work / f"task-{name}"  # like /var/task
    task_root.mkdir()
    text = output.read_text()
    # Zappa copies ENVIRONMENT_VARIABLES into os.environ at the cold start, over anything else.
    text += f"\nENVIRONMENT_VARIABLES = {{**ENVIRONMENT_VARIABLES, **{overrides!r}}}\n"
    (task_root / "zappa_settings.py").write_text(text)
    return task_root


def api_event(method: str, path: str, token: str | None, body: Any = None) -> dict[str, Any]:
    """A REST API (v1) proxy event, from the test suite's recorded one."""
    event = json.loads((EVENTS_DIR / "apigw-rest-v1-get-trades.json").read_text())
    event.update(httpMethod=method, path=path, pathParameters={"proxy": path.lstrip("/")})
    event["requestContext"].update(httpMethod=method, path="/dev" + path, requestId=str(uuid.uuid4()))
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["Content-Type"] = "application/json"
        event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    if token:
        event["headers"]["Authorization"] = f"Bearer {token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    return event


class Context:
    function_name = "tradeapp-dev"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tradeapp-dev"
    memory_limit_in_mb = "512"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/tradeapp-dev"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


COLD_CHILD = """
import json, sys, time
started = time.perf_counter()
from zappa.handler import lambda_handler
class Context:
    function_name = "tradeapp-dev"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tradeapp-dev"
    memory_limit_in_mb = "512"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/tradeapp-dev"
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 120000
response = lambda_handler(json.loads({event!r}), Context())
elapsed = (time.perf_counter() - started) * 1000
body = json.loads(response["body"])
result = {{"ms": elapsed, "status": response["statusCode"], "items": len(body.get("items", []))}}
print("BENCH " + json.dumps(result))
"""


def cold_start(task_root: Path, event: dict[str, Any], importtime: bool = False) -> dict[str, Any]:
    """A fresh interpreter in the task root: import Zappa's handler, serve one event."""
    env = offline_environ(task_root)
    env["PYTHONPATH"] = os.pathsep.join([str(task_root), str(PROJECT_ROOT)])
    code = COLD_CHILD.format(event=json.dumps(event))
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=task_root, env=env, capture_output=True, text=True, timeout=120)
    wall = (time.perf_counter() - started) * 1000
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode or not lines:
        raise RuntimeError(f"cold start failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {**json.loads(lines[-1][6:]), "wall": wall, "stderr": done.stderr}


def top_imports(stderr: str, count: int = 10) -> list[tuple[str, float]]:
    """The costliest top-level imports (cumulative ms) from -X importtime's report."""
    costs: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name.startswith(" ") or name.startswith("  "):
            continue  # only the outermost imports: their cumulative time includes the rest
        costs[name.strip()] = costs.get(name.strip(), 0) + int(cumulative) / 1000
    return sorted(costs.items(), key=lambda item: -item[1])[:count]


def bench_lambda(report: Report, work: Path) -> None:
    stages = json.loads((PROJECT_ROOT / "zappa_settings.json").read_text())
    data_dir = work / "data"
    overrides = {
        "TRADEAPP_BACKEND": "sqlite",
        "TRADEAPP_AUTH": "local",
        "TRADEAPP_SECRETS": "file",
        "TRADEAPP_DATA_DIR": str(data_dir),
    }
    app_root = generate_settings(work, "app", stages["dev"], overrides)
    floor_root = generate_settings(
        work, "floor", {**stages["dev"], "app_function": "bench.floor_app.app"}, {}
    )

    # The seeded user: 50 trades, written through the adapter; a token from the embedded issuer.
    data_dir.mkdir()
    seed(data_dir / "tradeapp.sqlite3", {USER: 50})
    seeded = sqlite_container(data_dir)
    seeded.stats.rebuild(USER)
    token = seeded.issuer.issue(USER, lifetime=3600)

    app_event = api_event("GET", "/v1/trades", token)
    floor_event = api_event("GET", "/v1/items", None)
    for root, event in ((app_root, app_event), (floor_root, floor_event)):  # warm the disk cache
        result = cold_start(root, event)
        if result["status"] != 200 or result["items"] != 50:
            raise RuntimeError(f"cold start answered {result['status']} with {result['items']} items")
    app_runs, floor_runs = [], []
    for _ in range(COLD_RUNS):  # interleaved, so that drift hits both alike
        app_runs.append(cold_start(app_root, app_event))
        floor_runs.append(cold_start(floor_root, floor_event))
    report.add(
        Row(
            "cold start: GET /v1/trades (50)",
            statistics.median(r["ms"] for r in app_runs),
            statistics.median(r["ms"] for r in floor_runs),
            "ms",
            1.3,
            f"import zappa.handler + settings + app + first request, in a fresh interpreter, "
            f"median of {COLD_RUNS}; with interpreter start (process wall): app "
            f"{statistics.median(r['wall'] for r in app_runs):.0f} ms, floor "
            f"{statistics.median(r['wall'] for r in floor_runs):.0f} ms. .pyc caches warm (Zappa's "
            f"package excludes *.pyc, so a real cold start also compiles)",
        )
    )
    for label, root, event in (("app", app_root, app_event), ("floor", floor_root, floor_event)):
        costs = top_imports(cold_start(root, event, importtime=True)["stderr"])
        report.notes.append(
            f"cold start, biggest imports ({label}, -X importtime, cumulative): "
            + ", ".join(f"{name} {ms:.0f} ms" for name, ms in costs)
        )

    bench_warm(report, app_root, floor_root, token)


def start_handler(task_root: Path) -> Any:
    """Cold-start Zappa's LambdaHandler singleton in this process on a task root's settings."""
    from zappa.handler import LambdaHandler

    for name in ("zappa_settings", "wsgi"):
        sys.modules.pop(name, None)
    sys.path.insert(0, str(task_root))
    LambdaHandler._LambdaHandler__instance = None  # type: ignore[attr-defined]
    with quiet():
        handler = LambdaHandler("zappa_settings")
    sys.path.remove(str(task_root))
    return handler


def bench_warm(report: Report, app_root: Path, floor_root: Path, token: str) -> None:
    from zappa.handler import LambdaHandler, lambda_handler

    saved_environ = os.environ.copy()
    os.environ.update(offline_environ(app_root))
    floor = start_handler(floor_root)
    app = start_handler(app_root)  # second: its environment is the one left in os.environ
    container = app.app_module.app.extensions["tradeapp"]
    # In Lambda the stats update runs later, from the stream; here the request path alone.
    container.trades.repo.listener = None
    context = Context()

    def invoke(handler: Any, event: dict[str, Any], status: int = 200) -> dict[str, Any]:
        LambdaHandler._LambdaHandler__instance = handler  # type: ignore[attr-defined]
        response = lambda_handler(event, context)
        if response["statusCode"] != status:
            raise RuntimeError(f"{event['httpMethod']} {event['path']}: {response['statusCode']}")
        return dict(response)

    with quiet():
        listed = invoke(app, api_event("GET", "/v1/trades", token))
    trade_id = json.loads(listed["body"])["items"][0]["tradeId"]
    new_trade = {
        "symbol": "AAPL",
        "side": "long",
        "quantity": "10",
        "entryPrice": "187.25",
        "entryAt": "2026-03-02T14:30:00Z",
        "fees": "1.00",
        "tags": ["breakout"],
    }
    close = {"quantity": "4", "price": "190.10", "closedAt": "2026-03-02T15:30:00Z", "fees": "0.50"}
    created: list[str] = []
    with quiet():
        for handler, path in ((app, "/v1/trades"), (floor, "/v1/items")):
            for _ in range(20):
                invoke(handler, api_event("GET", path, token if handler is app else None))
        floor_ms = median_ms(lambda: invoke(floor, api_event("GET", "/v1/items", None)), WARM_RUNS)
        list_ms = median_ms(lambda: invoke(app, api_event("GET", "/v1/trades", token)), WARM_RUNS)
        get_ms = median_ms(lambda: invoke(app, api_event("GET", f"/v1/trades/{trade_id}", token)), WARM_RUNS)

        def create() -> None:
            response = invoke(app, api_event("POST", "/v1/trades", token, new_trade), 201)
            created.append(json.loads(response["body"])["tradeId"])

        create_ms = median_ms(create, WARM_RUNS)
        pending = iter(created)  # one close on each trade just created: every close is the first
        close_ms = median_ms(
            lambda: invoke(app, api_event("POST", f"/v1/trades/{next(pending)}/closes", token, close), 201),
            WARM_RUNS,
        )
        stats_ms = median_ms(lambda: invoke(app, api_event("GET", "/v1/stats", token)), WARM_RUNS)
    LambdaHandler._LambdaHandler__instance = None  # type: ignore[attr-defined]
    os.environ.clear()
    os.environ.update(saved_environ)

    note = f"warm, through zappa.handler.lambda_handler, REST v1 event, median of {WARM_RUNS}"
    report.add(Row("warm: GET /v1/trades (50)", list_ms, floor_ms, "ms", 2, note))
    report.add(Row("warm: GET /v1/trades/{id}", get_ms, floor_ms, "ms"))
    report.add(
        Row(
            "warm: POST /v1/trades",
            create_ms,
            floor_ms,
            "ms",
            note="embedded change feed detached (in Lambda stats update from the stream, later)",
        )
    )
    report.add(Row("warm: POST /v1/trades/{id}/closes", close_ms, floor_ms, "ms"))
    report.add(Row("warm: GET /v1/stats", stats_ms, floor_ms, "ms"))


# c. stats rebuild vs the fold floor.


def bench_rebuild(report: Report, work: Path) -> None:
    from bench.fold_floor import fold_floor
    from tradeapp.adapters.sqlite import Database, SQLiteStatsRepository, SQLiteTradeRepository
    from tradeapp.services.stats import StatsService

    per_trade: dict[int, float] = {}
    for size, runs in REBUILD_RUNS.items():
        path = work / f"rebuild-{size}.sqlite3"
        started = time.perf_counter()
        seed(path, {USER: size})
        seeded_s = time.perf_counter() - started
        db = Database(path)
        service = StatsService(SQLiteTradeRepository(db), SQLiteStatsRepository(db))
        floor_count = fold_floor(str(path), USER)[0]
        record = service.rebuild(USER)
        if (record.trade_count, floor_count) != (size, size):
            raise RuntimeError(f"rebuild read {record.trade_count}, floor {floor_count}, of {size}")
        floor_ms = median_ms(lambda: fold_floor(str(path), USER), runs)  # noqa: B023
        rebuild_ms = median_ms(lambda: service.rebuild(USER), runs)  # noqa: B023
        per_trade[size] = rebuild_ms / size
        report.add(
            Row(
                f"stats rebuild, {size:,} trades",
                rebuild_ms,
                floor_ms,
                "ms",
                2,
                f"{size / rebuild_ms * 1000:,.0f} trades/s (floor {size / floor_ms * 1000:,.0f}/s), "
                f"median of {runs}; seeded in {seeded_s:.1f} s",
            )
        )
        db.connection().close()
        path.unlink()
    small, large = min(per_trade), max(per_trade)
    report.add(
        Row(
            f"rebuild cost/trade, {large:,} vs {small:,}",
            per_trade[large] * 1000,
            per_trade[small] * 1000,
            "us",
            1.5,
        )
    )


# d. stream batches: 100 records touching k users cost exactly k rebuilds.


def bench_stream(report: Report, work: Path) -> None:
    import tasks.stats

    users = {f"user-{i:02d}": 20 for i in range(50)}
    data_dir = work / "stream"
    data_dir.mkdir()
    seed(data_dir / "tradeapp.sqlite3", users)
    app = sqlite_container(data_dir)
    repo = app.stats.trades
    calls = {"rebuild": 0, "trades_for_stats": 0, "revision": 0, "rows": 0}

    def counted(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            calls[name] += 1
            return func(*args)

        return wrapper

    real_read = repo.trades_for_stats

    def trades_for_stats(user_id: str) -> Iterator[Any]:
        calls["trades_for_stats"] += 1
        for trade in real_read(user_id):
            calls["rows"] += 1
            yield trade

    repo.trades_for_stats = trades_for_stats
    repo.revision = counted("revision", repo.revision)
    app.stats.rebuild = counted("rebuild", app.stats.rebuild)
    saved, tasks.stats._container = tasks.stats._container, app
    names = list(users)
    floor_ms = None
    try:
        for k in (1, 10, 50):
            records = [
                {
                    "eventName": "MODIFY",
                    "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Trades/stream/LABEL",
                    "dynamodb": {
                        "Keys": {"userId": {"S": names[i % k]}, "tradeId": {"S": f"t{i}"}},
                        "SequenceNumber": str(1000 + i),
                    },
                }
                for i in range(100)
            ]
            with contextlib.redirect_stdout(io.StringIO()):
                for key in calls:
                    calls[key] = 0
                result = tasks.stats.update_stats({"Records": records}, None)
                once = dict(calls)
                ms = median_ms(lambda: tasks.stats.update_stats({"Records": records}, None), STREAM_RUNS)  # noqa: B023
            if result["batchItemFailures"]:
                raise RuntimeError(f"stream batch failed: {result}")
            floor_ms = floor_ms or ms
            report.add(
                Row(
                    f"stream batch: 100 records, {k} users",
                    ms,
                    floor_ms,
                    "ms",
                    note=(
                        f"{once['rebuild']} rebuilds (expected {k}), store reads: "
                        f"{once['trades_for_stats']} trades_for_stats, {once['revision']} revision, "
                        f"{once['rows']} rows; "
                        f"floor = the 1-user batch"
                    ),
                    ok_override=once["rebuild"] == k and once["trades_for_stats"] == k,
                )
            )
    finally:
        tasks.stats._container = saved


# e. rebuild-all: wall time and peak memory at two table sizes.


REBUILD_ALL_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bench.run import sqlite_container
app = sqlite_container({data!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
done = app.stats.rebuild_all()
wall = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("BENCH " + json.dumps({{"wall": wall, "grew_kb": after - before, "rss_kb": after, **done.as_dict()}}))
"""


def bench_rebuild_all(report: Report, work: Path) -> None:
    """rebuild_all() over every user, each size in a fresh process (so ru_maxrss is its own)."""
    results = {}
    for trades, users in REBUILD_ALL_SIZES:
        data_dir = work / f"all-{trades}"
        data_dir.mkdir()
        per_user = trades // users
        started = time.perf_counter()
        seed(data_dir / "tradeapp.sqlite3", {f"user-{i:05d}": per_user for i in range(users)})
        seeded_s = time.perf_counter() - started
        code = REBUILD_ALL_CHILD.format(root=str(PROJECT_ROOT), data=str(data_dir))
        child = subprocess.run(
            [sys.executable, "-c", code],
            env={**offline_environ(work), "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            timeout=3600,
        )
        lines = [line for line in child.stdout.splitlines() if line.startswith("BENCH ")]
        if child.returncode or not lines:
            raise RuntimeError(f"rebuild-all failed:\n{child.stdout[-2000:]}\n{child.stderr[-2000:]}")
        done = json.loads(lines[-1][6:])
        if not done["finished"] or done["trades"] != trades or done["failures"]:
            raise RuntimeError(f"rebuild-all: {done}")
        results[trades] = (done, users, seeded_s)
        shutil.rmtree(data_dir)
    (small, (small_run, small_users, _)), (large, (run, users, seeded_s)) = sorted(results.items())
    report.add(
        Row(
            f"rebuild-all wall, {large:,} trades / {users:,} users",
            run["wall"] * 1000,
            small_run["wall"] * 1000 * large / small,
            "ms",
            1.5,
            f"floor = the {small:,}-trade / {small_users:,}-user run scaled linearly "
            f"({small_run['wall']:.1f} s); {large / run['wall']:,.0f} trades/s; seeded in {seeded_s:.0f} s",
        )
    )
    report.add(
        Row(
            f"rebuild-all memory growth, {large:,} vs {small:,} trades",
            run["grew_kb"] / 1024,
            max(small_run["grew_kb"], 1) / 1024,
            "MB",
            1.5,
            f"ru_maxrss after rebuild_all minus before, in a fresh process per size (peak RSS "
            f"{run['rss_kb'] / 1024:.0f} MB vs {small_run['rss_kb'] / 1024:.0f} MB): it must not grow "
            f"with the table",
        )
    )


# f. the Lambda package.


def package(venv: Path, work: Path, name: str) -> tuple[float, float, list[tuple[str, float]]]:
    """`zappa package dev` from a venv, offline: (zipped MB, unzipped MB, biggest top-level dirs)."""
    output = work / f"{name}.zip"
    env = offline_environ(work)
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    subprocess.run(
        [str(venv / "bin" / "zappa"), "package", "dev", "-o", str(output), "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    with zipfile.ZipFile(output) as archive:
        infos = archive.infolist()
    by_top: dict[str, int] = {}
    for info in infos:
        top = info.filename.split("/")[0]
        by_top[top] = by_top.get(top, 0) + info.file_size
    biggest = sorted(((k, v / 1e6) for k, v in by_top.items()), key=lambda item: -item[1])[:8]
    zipped = output.stat().st_size / 1e6
    output.unlink()
    return zipped, sum(i.file_size for i in infos) / 1e6, biggest


def runtime_venv() -> Path | None:
    """/tmp/benchvenv with only requirements.txt (reused while the pins are unchanged)."""
    pins = hashlib.sha256((PROJECT_ROOT / "requirements.txt").read_bytes()).hexdigest()[:12]
    stamp = BENCH_VENV / f".bench-{pins}"
    if stamp.exists():
        return BENCH_VENV
    shutil.rmtree(BENCH_VENV, ignore_errors=True)
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    try:
        subprocess.run(
            [str(base), "-m", "venv", str(BENCH_VENV)], check=True, capture_output=True, timeout=120
        )
        subprocess.run(
            [
                str(BENCH_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "-r",
                str(PROJECT_ROOT / "requirements.txt"),
            ],
            check=True,
            capture_output=True,
            timeout=PIP_TIMEOUT,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    stamp.touch()
    return BENCH_VENV


def bench_package(report: Report, work: Path) -> None:
    dev_venv = Path(sys.prefix)
    for label, venv in (("dev venv", dev_venv), ("requirements.txt only", runtime_venv())):
        if venv is None:
            report.add(Row(f"package zipped ({label})", None, 50, "MB", 1, "not measured: pip timed out"))
            continue
        try:
            zipped, unzipped, biggest = package(venv, work, label.split()[0])
        except (subprocess.SubprocessError, OSError) as error:
            report.add(Row(f"package zipped ({label})", None, 50, "MB", 1, f"not measured: {error}"))
            continue
        report.add(
            Row(f"package zipped ({label})", zipped, 50, "MB", 1, "floor = Lambda's direct-upload limit")
        )
        report.add(
            Row(f"package unzipped ({label})", unzipped, 250, "MB", 1, "floor = Lambda's unzipped limit")
        )
        report.notes.append(
            f"package ({label}), biggest top-level entries unzipped: "
            + ", ".join(f"{name} {mb:.1f} MB" for name, mb in biggest)
        )


def main() -> None:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="tradeapp-bench-"))
    only = set(sys.argv[1:])  # e.g. `python -m bench.run rebuild stream` for a subset
    sections = {
        "lambda": bench_lambda,
        "rebuild": bench_rebuild,
        "stream": bench_stream,
        "all": bench_rebuild_all,
        "package": bench_package,
    }
    try:
        for name, section in sections.items():
            if not only or name in only:
                print(f"{name}...", file=sys.stderr, flush=True)
                section(report, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        report.notes.append(
            f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, median of N runs, time.perf_counter"
        )
        report.print()


if __name__ == "__main__":
    main()
