"""Fixtures that run the app the way Lambda does: Zappa's generated settings module and its real handler.

The settings module is produced by Zappa's own CLI (`zappa save-python-settings-file STAGE`) from
the repository's zappa_settings.json, offline and without AWS credentials.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_JSON = PROJECT_ROOT / "zappa_settings.json"
EVENTS_DIR = PROJECT_ROOT / "tests" / "events"
ACCOUNT_ID = "123456789012"

# Modules that a cold start imports and that must be fresh for the next one.
COLD_START_MODULES = ("zappa_settings", "wsgi")


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that Zappa or the app may read."""

    function_name: str = "tradeapp-dev"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:tradeapp-dev"
    memory_limit_in_mb: str = "512"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/tradeapp-dev"
    log_stream_name: str = "2026/03/10/[$LATEST]0123456789abcdef0123456789abcdef"
    timeout_ms: int = 30_000
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self.started) * 1000))


@dataclass
class RunningLambda:
    """One warm container: the LambdaHandler singleton after its cold start."""

    handler: Any
    settings: ModuleType

    def invoke(self, event: dict[str, Any], context: LambdaContext | None = None) -> Any:
        """What the Lambda runtime does: call the configured entry point, handler.lambda_handler."""
        from zappa.handler import lambda_handler

        return lambda_handler(event, context or LambdaContext())

    @property
    def app(self) -> Any:
        return self.handler.app_module.app


def settings_stages() -> dict[str, Any]:
    """The stages of zappa_settings.json, read as strict JSON (Zappa's hjson would forgive more)."""
    return json.loads(SETTINGS_JSON.read_text())


def offline_environ(home: Path) -> dict[str, str]:
    """The environment with no AWS credentials or profile, and any network attempt failing fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TRADEAPP_"))}
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


def start_zappa_cli(stage: str, workdir: Path) -> subprocess.Popen[str]:
    """Run Zappa's CLI in a copy of the project's settings, writing workdir/out/zappa_settings.py.

    --json keeps Zappa from checking PyPI for a newer version (cli.py, handle: check_for_update).
    """
    workdir.mkdir(parents=True)
    shutil.copy(SETTINGS_JSON, workdir / "zappa_settings.json")
    (workdir / "out").mkdir()  # Zappa does not create the output folder
    output = str(workdir / "out" / "zappa_settings.py")
    return subprocess.Popen(
        [sys.executable, "-m", "zappa.cli", "save-python-settings-file", stage, "--json", "-o", output],
        cwd=workdir,
        env=offline_environ(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="session")
def generated_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """stage -> the zappa_settings.py Zappa generates for it, as packaged into the Lambda zip."""
    root = tmp_path_factory.mktemp("zappa-settings")
    runs = {stage: start_zappa_cli(stage, root / stage) for stage in settings_stages()}
    for stage, run in runs.items():
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, f"zappa save-python-settings-file {stage} failed:\n{output}"
    return {stage: root / stage / "out" / "zappa_settings.py" for stage in runs}


@pytest.fixture
def lambda_context() -> Callable[..., LambdaContext]:
    return LambdaContext


@pytest.fixture
def start_lambda(
    generated_settings: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., RunningLambda]]:
    """Cold-start Zappa's LambdaHandler on a stage's generated settings.

    Zappa copies ENVIRONMENT_VARIABLES into os.environ at the cold start (handler.py, __init__),
    after anything a test put there, so test overrides go into that mapping, not into os.environ.
    """
    from zappa.handler import LambdaHandler

    saved_environ = os.environ.copy()
    root_level = logging.getLogger().level
    for name in COLD_START_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in list(os.environ):
        if name.startswith(("AWS_", "TRADEAPP_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))

    def start(stage: str = "dev", overrides: Mapping[str, str] | None = None) -> RunningLambda:
        task_root = tmp_path / "task"  # like /var/task: zappa_settings.py sits beside the handler
        task_root.mkdir()
        shutil.copy(generated_settings[stage], task_root / "zappa_settings.py")
        monkeypatch.syspath_prepend(str(task_root))
        settings = importlib.import_module("zappa_settings")
        assert Path(settings.__file__).parent == task_root
        monkeypatch.setattr(
            settings, "ENVIRONMENT_VARIABLES", {**settings.ENVIRONMENT_VARIABLES, **(overrides or {})}
        )
        monkeypatch.setattr(LambdaHandler, "_LambdaHandler__instance", None)
        handler = LambdaHandler("zappa_settings")
        assert handler.settings is settings
        return RunningLambda(handler, settings)

    yield start

    for name in COLD_START_MODULES:
        sys.modules.pop(name, None)
    os.environ.clear()
    os.environ.update(saved_environ)
    logging.getLogger().setLevel(root_level)


@pytest.fixture
def local_overrides(tmp_path: Path) -> dict[str, str]:
    """Embedded adapters instead of DynamoDB, Cognito and SSM, so a cold start needs no AWS."""
    return {
        "TRADEAPP_BACKEND": "sqlite",
        "TRADEAPP_AUTH": "local",
        "TRADEAPP_SECRETS": "file",
        "TRADEAPP_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / f"{name}.json").read_text())

    return load
