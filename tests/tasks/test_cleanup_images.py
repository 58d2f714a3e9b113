"""tasks.images.cleanup_orphan_images (zappa invoke) and `flask images cleanup`: the same report,
dry run by default, and the deletions only when asked."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tasks.images
import tasks.stats
from tradeapp import create_app

from .conftest import trade_body

# Objects made in these tests are seconds old: let cleanup see them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("objects_past_the_upload_window")


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 120
COUNTS = ("orphans", "stalePending", "staleReferences")


def put(app: Any, key: str, data: bytes = PNG) -> None:
    """Store an object at key the way a browser would, with a signed form of the local store."""
    store = app.images.store
    form = store.upload_form(key, "image/png", 1024, datetime.now(UTC) + timedelta(minutes=5))
    store.accept_upload(form["fields"], io.BytesIO(data))


def attach(app: Any, user: str, trade_id: str) -> Any:
    upload = app.images.request_upload(user, trade_id, "image/png", len(PNG))
    put(app, upload.image.key)
    app.images.complete(user, trade_id, upload.image.image_id)
    return upload.image


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def task_app(use_container: Callable[..., Any], data_dir: Path) -> Any:
    """The container the task uses (tasks.stats._container, put back after the test)."""
    return use_container("sqlite", DATA_DIR=str(data_dir))


@pytest.fixture
def scenario(task_app: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """One of each finding on the embedded store, built through the services; the keys by kind."""
    app = task_app
    trade_id = app.trades.create("alice", trade_body()).trade_id
    attach(app, "alice", trade_id)  # healthy: never reported
    lost = attach(app, "alice", trade_id)
    app.images.store.delete(lost.key)
    real_clock = app.images.clock
    monkeypatch.setattr(app.images, "clock", lambda: real_clock() - timedelta(hours=25))
    stale = app.images.request_upload("alice", trade_id, "image/png", len(PNG)).image
    monkeypatch.setattr(app.images, "clock", real_clock)
    put(app, stale.key)
    orphans = [f"users/alice/trades/{trade_id}/not-referenced", "users/nobody/trades/T1/img"]
    for key in orphans:
        put(app, key)
    return {"orphans": orphans, "stalePending": [stale.key], "staleReferences": [lost.key]}


def test_the_task_and_the_cli_report_the_same_findings(
    task_app: Any, scenario: dict[str, list[str]], data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the task's container, and an app on the same data dir for the CLI
    assert tasks.stats._container is task_app
    flask_app = create_app(
        {"BACKEND": "sqlite", "DATA_DIR": str(data_dir), "AUTH": "local", "SECRETS": "file"}
    )

    # WHEN the task runs with an empty event, and the CLI without --delete
    summary = tasks.images.cleanup_orphan_images({}, None)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    printed = [line for line in printed if line["message"] == "cleanup-orphan-images"]
    output = flask_app.test_cli_runner().invoke(args=["images", "cleanup"])

    # THEN both report one orphan of each kind, by key, and change nothing
    assert summary["deleted"] is False
    assert {name: summary[name] for name in COUNTS} == {"orphans": 2, "stalePending": 1, "staleReferences": 1}
    assert summary["orphanKeys"] == scenario["orphans"]
    assert summary["stalePendingKeys"] == scenario["stalePending"]
    assert summary["staleReferenceKeys"] == scenario["staleReferences"]
    assert printed == [{"message": "cleanup-orphan-images", **summary}]
    assert output.exit_code == 0, output.output
    lines = output.stdout.splitlines()
    assert sorted(lines[:-1]) == sorted(
        [f"orphan: {k}" for k in scenario["orphans"]]
        + [f"stalePending: {k}" for k in scenario["stalePending"]]
        + [f"staleReference: {k}" for k in scenario["staleReferences"]]
    )
    assert lines[-1] == (
        "orphans 2, stale pending 1, stale references 1 (dry run: nothing changed; --delete to clean)"
    )
    for key in scenario["orphans"] + scenario["stalePending"]:
        assert task_app.images.store.stat(key) is not None
    assert tasks.images.cleanup_orphan_images({}, None) == summary


def test_the_task_deletes_only_when_the_event_says_so(
    task_app: Any, scenario: dict[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the task runs with {"delete": true}
    summary = tasks.images.cleanup_orphan_images({"delete": True}, None)

    # THEN it reports what it found and removed it
    assert summary["deleted"] is True
    assert {name: summary[name] for name in COUNTS} == {"orphans": 2, "stalePending": 1, "staleReferences": 1}
    for key in scenario["orphans"] + scenario["stalePending"]:
        assert task_app.images.store.stat(key) is None
    (trade,) = task_app.trades.repo.trades_of("alice")
    assert [i.status for i in trade.images] == ["ready"]
    # AND a later run finds nothing
    again = tasks.images.cleanup_orphan_images({}, None)
    assert {name: again[name] for name in COUNTS} == dict.fromkeys(COUNTS, 0)


def test_the_cli_deletes_with_the_flag(data_dir: Path, scenario: dict[str, list[str]], task_app: Any) -> None:
    flask_app = create_app(
        {"BACKEND": "sqlite", "DATA_DIR": str(data_dir), "AUTH": "local", "SECRETS": "file"}
    )

    output = flask_app.test_cli_runner().invoke(args=["images", "cleanup", "--delete"])

    assert output.exit_code == 0, output.output
    assert output.stdout.splitlines()[-1] == "orphans 2, stale pending 1, stale references 1"
    for key in scenario["orphans"] + scenario["stalePending"]:
        assert task_app.images.store.stat(key) is None
    summary = tasks.images.cleanup_orphan_images({}, None)
    assert {name: summary[name] for name in COUNTS} == dict.fromkeys(COUNTS, 0)


def test_the_task_never_lets_a_type_error_escape(monkeypatch: pytest.MonkeyPatch, task_app: Any) -> None:
    def broken(delete: bool = False) -> Any:
        raise TypeError("boom")

    monkeypatch.setattr(task_app.images, "cleanup", broken)

    with pytest.raises(RuntimeError, match="cleanup_orphan_images failed"):
        tasks.images.cleanup_orphan_images({}, None)


def test_the_task_takes_zappas_positional_call_without_an_event(task_app: Any) -> None:
    assert tasks.images.cleanup_orphan_images()["deleted"] is False
