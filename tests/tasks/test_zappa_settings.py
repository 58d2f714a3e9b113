"""zappa_settings.json: quiet logs, the right app and runtime, the stats events, no secrets, a clean zip.

Zappa ignores keys it does not know and defaults `debug` to true and `log_level` to DEBUG
(cli.py, load_settings), which log every raw event, Authorization headers included.
"""

from __future__ import annotations

import copy
import fnmatch
import inspect
import re
import sys
import sysconfig
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from .conftest import PROJECT_ROOT, settings_stages

RUNTIMES = {"python3.12", "python3.13"}
STREAM_FUNCTION = "tasks.stats.update_stats"
SCHEDULE_FUNCTION = "tasks.stats.rebuild_all_stats"
STREAM_ARN = re.compile(r"^arn:aws:dynamodb:(?P<region>[a-z0-9-]+):\d{12}:table/(?P<table>[\w.-]+)/stream/.+")
SCHEDULE = re.compile(r"^(rate|cron)\(.+\)$")
# Folders of the repository that the Lambda package must not carry.
NOT_SHIPPED = ("tests", "docs", "bench", "var", ".venv-audit")
# `exclude` patterns match names at every depth, in site-packages too (core.py, create_lambda_zip:
# shutil.ignore_patterns): only these may match inside installed packages.
CACHE_PATTERNS = {"__pycache__", "*.pyc", "*.pyo"}
SECRET_WORDS = ("SECRET", "PASSWORD", "PASSWD", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE")
# Settings whose names contain a secret word but which only choose where secrets come from.
SELECTORS = {"TRADEAPP_SECRETS": {"file", "ssm"}}
# A value that names where a secret lives, rather than holding it.
REFERENCE = re.compile(r"^(/|arn:aws:|ssm:|secretsmanager:|\{\{resolve:)")
SECRET_VALUES = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]+"),  # a JWT
]


def zappa_known_keys() -> set[str]:
    """The stage keys Zappa 0.63 reads, taken from its own source."""
    import zappa.cli
    import zappa.core

    source = inspect.getsource(zappa.cli) + inspect.getsource(zappa.core)
    keys = set(re.findall(r'stage_config(?:\.get\(|\[)\s*"([a-z0-9_]+)"', source))
    keys |= set(re.findall(r'"([a-z0-9_]+)" in self\.stage_config', source))
    return keys | set(zappa.cli.CUSTOM_SETTINGS) | {"extends", "delete_zip"}


def secret_problems(where: str, env: dict[str, Any]) -> Iterator[str]:
    for key, value in env.items():
        if not isinstance(value, str):
            yield f"{where}.{key}: Zappa needs strings (os.environ at the cold start)"
            continue
        named_secret = any(word in key.upper() for word in SECRET_WORDS)
        if named_secret and value and not REFERENCE.match(value) and value not in SELECTORS.get(key, ()):
            yield f"{where}.{key}: looks like a secret given literally; store it in SSM and name it"
        if any(pattern.search(value) for pattern in SECRET_VALUES):
            yield f"{where}.{key}: the value looks like a credential"


def rule_name_problem(stage: str, config: dict[str, Any], event: dict[str, Any]) -> str | None:
    """Zappa's own rule naming must accept the entry (the handler reads the function back from the
    rule name: test_zappa_handler.py, test_the_schedule_reaches_rebuild_all_stats)."""
    from zappa.core import Zappa

    zappa = Zappa(load_credentials=False, aws_region=config.get("aws_region", "us-east-1"))
    lambda_name = f"{config.get('project_name', 'tradeapp')}-{stage}"
    try:
        zappa.get_scheduled_event_name(event, event["function"], lambda_name)
    except OSError as error:  # Zappa raises EnvironmentError: bad function pattern, name too long
        return f"schedule {event.get('name')!r}: {error}"
    return None


def problems(stage: str, config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    unknown = set(config) - zappa_known_keys()
    if unknown:
        found.append(f"keys Zappa 0.63 ignores: {sorted(unknown)}")
    if config.get("debug", True) is not False:
        found.append("debug must be false (Zappa's default is true)")
    if str(config.get("log_level", "DEBUG")).upper() == "DEBUG":
        found.append("log_level must be set and not DEBUG (Zappa's default is DEBUG)")
    if config.get("app_function") != "wsgi.app":
        found.append("app_function must be wsgi.app")
    if config.get("runtime") not in RUNTIMES:
        found.append(f"runtime must be one of {sorted(RUNTIMES)}")
    # Zappa's own role grants dynamodb:*, s3:*, sqs:* on everything: use the stack's instead.
    if config.get("manage_roles") is not False or config.get("role_name") != f"tradeapp-{stage}-function":
        found.append("the function must run as the stack's least-privilege role (manage_roles false)")
    # Reserved concurrency: a runaway stage cannot starve the account's other functions, and
    # DynamoDB sees a bounded number of writers.
    concurrency = config.get("lambda_concurrency")
    if not (isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency > 0):
        found.append("lambda_concurrency (reserved concurrency) must be a positive integer")
    # Tasks share the function: rebuild-all pages need room (API Gateway ends requests at 29 s).
    if not 60 <= config.get("timeout_seconds", 30) <= 900:
        found.append("timeout_seconds must be between 60 and 900")

    env = config.get("environment_variables", {})
    found += secret_problems("environment_variables", env)
    found += secret_problems("aws_environment_variables", config.get("aws_environment_variables", {}))
    if env.get("TRADEAPP_SSM_PREFIX") != f"/tradeapp/{stage}":
        found.append(f"TRADEAPP_SSM_PREFIX must be /tradeapp/{stage}")

    events = config.get("events", [])
    streams = [e for e in events if e.get("function") == STREAM_FUNCTION and "event_source" in e]
    if len(streams) != 1:
        found.append(f"one DynamoDB stream event for {STREAM_FUNCTION} is needed")
    for event in streams:
        source = event["event_source"]
        match = STREAM_ARN.match(str(source.get("arn", "")))
        if match is None:
            found.append("the stream event needs a DynamoDB stream ARN")
        elif match.group("region", "table") != (config.get("aws_region"), env.get("TRADEAPP_TRADES_TABLE")):
            found.append("the stream must be the one of TRADEAPP_TRADES_TABLE in aws_region")
        if source.get("starting_position") not in ("TRIM_HORIZON", "LATEST"):
            found.append("the stream event needs a starting_position")
        if not isinstance(source.get("batch_size"), int):
            found.append("the stream event needs an integer batch_size")
    schedules = [e for e in events if e.get("function") == SCHEDULE_FUNCTION and "expression" in e]
    if len(schedules) != 1:
        found.append(f"one schedule for {SCHEDULE_FUNCTION} is needed")
    for event in schedules:
        if not SCHEDULE.match(event["expression"]):
            found.append("the schedule expression must be rate(...) or cron(...)")
        problem = rule_name_problem(stage, config, event)
        if problem:
            found.append(problem)

    excluded = set(config.get("exclude", [])) | set(config.get("exclude_glob", []))
    missing = [name for name in NOT_SHIPPED if name not in excluded]
    if missing:
        found.append(f"not excluded from the package: {missing}")
    return found


STAGES = settings_stages()


def test_there_are_dev_and_prod_stages() -> None:
    assert set(STAGES) == {"dev", "prod"}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_stage_has_no_problems(stage: str) -> None:
    assert problems(stage, STAGES[stage]) == []


def mutate(config: dict[str, Any], path: str, value: Any) -> None:
    """Set (or delete, for ...) a dotted path such as `events.0.event_source.arn`."""
    *parents, last = path.split(".")
    node: Any = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def stream_index(config: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(config["events"]) if "event_source" in e)


def schedule_index(config: dict[str, Any]) -> int:
    return next(i for i, e in enumerate(config["events"]) if "expression" in e)


BAD = {
    "debug true": ("debug", True),
    "debug missing": ("debug", ...),
    "log_level DEBUG": ("log_level", "DEBUG"),
    "log_level missing": ("log_level", ...),
    "another app": ("app_function", "app.app"),
    "old runtime": ("runtime", "python3.11"),
    "no runtime": ("runtime", ...),
    "an unknown key": ("reserved_concurrency", 5),
    "a literal secret": ("environment_variables.TRADEAPP_CURSOR_SECRET", "hunter2hunter2"),
    "a secret in the selector": ("environment_variables.TRADEAPP_SECRETS", "hunter2hunter2"),
    "a literal api key": ("environment_variables.STRIPE_API_KEY", "sk_live_abc"),
    "a password in aws env": ("aws_environment_variables", {"DB_PASSWORD": "pw"}),
    "an access key id": ("environment_variables.NOTE", "AKIAABCDEFGHIJKLMNOP"),
    "a number": ("environment_variables.TRADEAPP_MAX_CONTENT_LENGTH", 1024),
    "another stage's ssm": ("environment_variables.TRADEAPP_SSM_PREFIX", "/tradeapp/other"),
    "no events": ("events", []),
    "tests shipped": ("exclude_glob", ["docs", "bench", "var"]),
    "too short for rebuild pages": ("timeout_seconds", 30),
    "no reserved concurrency": ("lambda_concurrency", ...),
    "zappa's broad role": ("manage_roles", True),
    "another role": ("role_name", "admin"),
    "unbounded concurrency": ("lambda_concurrency", 0),
    "over Lambda's limit": ("timeout_seconds", 901),
}


@pytest.mark.parametrize("case", BAD)
def test_each_check_catches_its_problem(case: str) -> None:
    path, value = BAD[case]
    config = copy.deepcopy(STAGES["dev"])
    mutate(config, path, value)

    assert problems("dev", config) != []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_source.arn", "arn:aws:dynamodb:us-east-1:123456789012:table/Other/stream/LABEL"),
        ("event_source.arn", "arn:aws:dynamodb:us-east-1:123456789012:table/Trades"),
        ("event_source.starting_position", ...),
        ("function", "tasks.stats.other"),
    ],
)
def test_a_wrong_stream_event_is_caught(field: str, value: Any) -> None:
    config = copy.deepcopy(STAGES["dev"])
    mutate(config, f"events.{stream_index(config)}.{field}", value)

    assert problems("dev", config) != []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expression", "every 6 hours"),
        ("function", "tasks.stats.rebuild-all"),
        ("name", "x" * 40),
    ],
)
def test_a_wrong_schedule_is_caught(field: str, value: Any) -> None:
    config = copy.deepcopy(STAGES["dev"])
    mutate(config, f"events.{schedule_index(config)}.{field}", value)

    assert problems("dev", config) != []


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_stage_environment_is_a_valid_tradeapp_configuration(stage: str) -> None:
    from tradeapp import config

    settings = config.load(environ=STAGES[stage]["environment_variables"])

    assert (settings["BACKEND"], settings["AUTH"], settings["SECRETS"]) == ("dynamodb", "cognito", "ssm")
    assert (settings["TRADES_TABLE"], settings["IDEMPOTENCY_TABLE"]) == ("Trades", "TradeIdempotency")
    assert settings["COGNITO_USER_POOL_ID"].startswith(STAGES[stage]["aws_region"] + "_")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_generated_settings_module_says_what_the_json_says(
    generated_settings: dict[str, Path], stage: str
) -> None:
    """What Zappa writes into the package as zappa_settings.py (cli.py, get_zappa_settings_string)."""
    config = STAGES[stage]
    namespace: dict[str, Any] = {}
    exec(generated_settings[stage].read_text(), namespace)

    assert (namespace["APP_MODULE"], namespace["APP_FUNCTION"]) == ("wsgi", "app")
    assert (namespace["DEBUG"], namespace["LOG_LEVEL"]) == (False, "INFO")
    assert (namespace["API_STAGE"], namespace["PROJECT_NAME"]) == (stage, "tradeapp")
    assert namespace["ENVIRONMENT_VARIABLES"] == {
        "AWS_REGION": config["aws_region"],
        **config["environment_variables"],
    }
    (stream,) = [e for e in config["events"] if "event_source" in e]
    assert namespace["AWS_EVENT_MAPPING"] == {stream["event_source"]["arn"]: [STREAM_FUNCTION]}
    assert "WEBSOCKET_HANDLER_MODULE" not in namespace
    assert "ARCHIVE_PATH" not in namespace  # no slim_handler: the code is in the zip, not on S3


# Packaging: Zappa copies the project, then every installed package on top of it, into one folder.


def site_packages() -> list[Path]:
    paths = {Path(sysconfig.get_paths()[kind]) for kind in ("purelib", "platlib")}
    return sorted(p for p in paths if p.is_dir())


def distribution_top_levels(dist: metadata.Distribution) -> set[str]:
    """The top-level names a distribution installs, from top_level.txt and from its RECORD."""
    names = set((dist.read_text("top_level.txt") or "").split())
    for file in dist.files or []:
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data")):
            continue
        if len(parts) > 1:
            names.add(parts[0])
        elif not parts[0].endswith(".pth"):
            names.add(parts[0].split(".", 1)[0])  # mod.py, mod.cpython-312-x86_64-linux-gnu.so
    return names


def project_top_levels() -> set[str]:
    packages = {p.parent.name for p in PROJECT_ROOT.glob("*/__init__.py")} - {"tests"}
    modules = {p.stem for p in PROJECT_ROOT.glob("*.py")}
    return packages | modules | {"handler", "zappa_settings"}  # what Zappa adds at the root


def test_no_installed_package_ships_a_top_level_name_of_ours() -> None:
    ours = project_top_levels()
    assert {"tradeapp", "schemas", "tasks", "wsgi"} <= ours
    clashes: dict[str, set[str]] = {}
    roots = site_packages()
    assert roots, "no site-packages found"
    for dist in metadata.distributions(path=[str(root) for root in roots]):
        for name in distribution_top_levels(dist) & ours:
            clashes.setdefault(name, set()).add(dist.metadata["Name"])
    for root in roots:  # also files that no distribution's RECORD lists
        for entry in root.iterdir():
            if entry.name.split(".", 1)[0] in ours and not entry.name.endswith(".dist-info"):
                clashes.setdefault(entry.name.split(".", 1)[0], set()).add(str(entry))

    assert clashes == {}


def test_the_clash_check_sees_installed_top_level_names() -> None:
    """So the test above cannot pass just by finding nothing."""
    found = set()
    for dist in metadata.distributions(path=[str(root) for root in site_packages()]):
        found |= distribution_top_levels(dist)
    assert {"flask", "zappa", "botocore", "_cffi_backend"} <= found


def test_our_tasks_and_schemas_are_the_ones_imported() -> None:
    import schemas
    import tasks

    assert Path(tasks.__file__).parent == PROJECT_ROOT / "tasks"
    assert Path(schemas.__file__).parent == PROJECT_ROOT / "schemas"


def stripped_from_installed_packages(patterns: list[str]) -> list[str]:
    """What Zappa's `exclude` patterns would drop from site-packages (they match names at any depth)."""
    return sorted(
        str(path.relative_to(root))
        for root in site_packages()
        for path in root.rglob("*")
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
    )


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_exclude_patterns_strip_nothing_from_installed_packages(stage: str) -> None:
    """Repository folders go in exclude_glob, which matches from the package root only."""
    patterns = [p for p in STAGES[stage].get("exclude", []) if p not in CACHE_PATTERNS]

    assert stripped_from_installed_packages(patterns) == []


def test_excluding_docs_would_break_botocore() -> None:
    """`exclude: ["docs"]` drops botocore/docs, which botocore.client imports: every cold start fails."""
    assert {"boto3/docs", "botocore/docs"} <= set(stripped_from_installed_packages(["docs"]))


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_exclude_globs_are_relative(stage: str) -> None:
    """Zappa skips absolute exclude_glob patterns with only a warning (core.py, create_lambda_zip)."""
    assert all(not Path(p).is_absolute() for p in STAGES[stage].get("exclude_glob", []))


@pytest.mark.deep
def test_the_lambda_zip_has_our_code_and_intact_dependencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zappa's own packaging, offline (no precompiled wheels from PyPI): about 10 s and 45 MB."""
    import zipfile

    from zappa import handler
    from zappa.core import Zappa

    config = STAGES["dev"]
    monkeypatch.chdir(PROJECT_ROOT)  # Zappa packages the working directory
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    packager = Zappa(load_credentials=False, aws_region=config["aws_region"], runtime=config["runtime"])

    archive = packager.create_lambda_zip(
        prefix="tradeapp-dev",
        handler_file=handler.__file__,
        exclude=list(config["exclude"]),
        exclude_glob=list(config["exclude_glob"]),
        use_precompiled_packages=False,
        output=str(tmp_path / "tradeapp-dev.zip"),
        disable_progress=True,
    )

    with zipfile.ZipFile(archive) as package:
        names = set(package.namelist())
        top = {name.split("/", 1)[0] for name in names}
        assert not top & set(NOT_SHIPPED)
        assert {"handler.py", "wsgi.py", "tradeapp/__init__.py", "botocore/docs/__init__.py"} <= names
        for ours in ("tasks/__init__.py", "schemas/__init__.py"):
            assert package.read(ours) == (PROJECT_ROOT / ours).read_bytes()
        assert not any("__pycache__" in name for name in names)
