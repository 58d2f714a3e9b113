"""Instruction counts under valgrind's callgrind: where the list's and the rebuild's costs go.

Wall-clock ratios (bench/run.py) move with the load on a shared 2-core machine; instructions
do not. Each figure is (instructions of a run that does the work) minus (the same run stopped
just before it), divided by how many times the work was done, so imports and set-up cancel out.
Not part of `make bench` (about 5 minutes): `python -m bench.instructions` (needs valgrind).

  list    the floor route, /v1/health, GET /v1/trades?limit=1 and the 50-trade list, per request
  fold    per trade: json.loads; the fold floor; item -> Trade; + figures; + the whole fold
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.run import PROJECT_ROOT, USER, make_trade, offline_environ, seed, sqlite_container

REQUESTS = 20
TRADES = 2_000


def requests_child(data_dir: str, target: str, path: str, run: bool) -> None:
    """In the child: serve `path` a few times to warm up, then REQUESTS times if `run`."""
    import logging

    if target == "floor":
        from bench.floor_app import app

        client, headers = app.test_client(), {}
    else:
        embedded = {"BACKEND": "sqlite", "AUTH": "local", "SECRETS": "file", "DATA_DIR": data_dir}
        os.environ.update({f"TRADEAPP_{name}": value for name, value in embedded.items()})
        from tradeapp import create_app

        app = create_app()
        app.extensions["tradeapp"].trades.repo.listener = None
        token = app.extensions["tradeapp"].issuer.issue(USER, lifetime=3600)
        client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    logging.disable(logging.CRITICAL)  # the log lines are formatted either way; not written here
    for _ in range(3):
        assert client.get(path, headers=headers).status_code == 200
    if run:
        for _ in range(REQUESTS):
            client.get(path, headers=headers)


def fold_child(step: str) -> None:
    """In the child: TRADES items as stored; then one step of reading and folding them."""
    from bench.fold_floor import net_pnl
    from tradeapp.adapters.items import dump_item, from_fold_item, to_item
    from tradeapp.domain.stats import fold

    rng = random.Random(42)
    rows = [dump_item(to_item(make_trade(rng, USER, i))) for i in range(TRADES)]
    items = [json.loads(row) for row in rows]
    steps = {
        "json.loads": lambda: [json.loads(row) for row in rows],
        "fold floor (json.loads + net P&L)": lambda: [net_pnl(json.loads(row)) for row in rows],
        "item -> Trade": lambda: [from_fold_item(item) for item in items],
        "item -> Trade + figures": lambda: [from_fold_item(item).figures for item in items],
        "item -> Trade + figures + fold": lambda: fold(from_fold_item(item) for item in items),
    }
    if step in steps:
        steps[step]()


def count(args: list[str]) -> int:
    """Instructions callgrind collected for `python -m bench.instructions --child ARGS`."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}/callgrind.out",
                sys.executable,
                "-m",
                "bench.instructions",
                "--child",
                *args,
            ],
            cwd=PROJECT_ROOT,
            env={**offline_environ(Path(out)), "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            timeout=1800,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"callgrind failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="tradeapp-instructions-"))
    try:
        data_dir = work / "data"
        data_dir.mkdir()
        seed(data_dir / "tradeapp.sqlite3", {USER: 50})
        sqlite_container(data_dir).stats.rebuild(USER)  # and the issuer's keys, made once here
        print(f"per request ({REQUESTS} requests, Flask test client):")
        for target, path in (
            ("floor", "/v1/items"),
            ("app", "/v1/health"),
            ("app", "/v1/trades?limit=1"),
            ("app", "/v1/trades"),
        ):
            base = count(["requests", str(data_dir), target, path, "warm"])
            full = count(["requests", str(data_dir), target, path, "run"])
            print(f"  {target:5} {path:20} {(full - base) / REQUESTS / 1e6:6.2f} M instructions")
        print(f"per trade ({TRADES} trades):")
        base = count(["fold", "none"])
        for step in (
            "json.loads",
            "fold floor (json.loads + net P&L)",
            "item -> Trade",
            "item -> Trade + figures",
            "item -> Trade + figures + fold",
        ):
            print(f"  {step:36} {(count(['fold', step]) - base) / TRADES / 1e3:6.0f} k instructions")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, *rest = sys.argv[2:]
        if kind == "requests":
            data, target, path, mode = rest
            requests_child(data, target, path, mode == "run")
        else:
            fold_child(rest[0])
    else:
        main()
