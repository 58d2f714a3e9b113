"""Health, the OpenAPI document in JSON and YAML, and Swagger UI served from our own assets."""

from __future__ import annotations

import importlib.metadata
import re
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

import flask_smorest
import pytest
import yaml

METHODS = {"get", "put", "post", "patch", "delete", "options", "head"}

# The error responses each operation must document (besides 401 and the default).
ERRORS = {
    ("get", "/v1/trades"): {"400", "422"},
    ("post", "/v1/trades"): {"400", "409", "413", "422"},
    ("get", "/v1/trades/{trade_id}"): {"404"},
    ("patch", "/v1/trades/{trade_id}"): {"400", "404", "412", "413", "422", "428"},
    ("delete", "/v1/trades/{trade_id}"): {"404", "412"},
    ("post", "/v1/trades/{trade_id}/closes"): {"400", "404", "409", "413", "422"},
    ("post", "/v1/trades/{trade_id}/images"): {"400", "404", "409", "422"},
    ("post", "/v1/trades/{trade_id}/images/{image_id}/complete"): {"404", "409", "422"},
    ("delete", "/v1/trades/{trade_id}/images/{image_id}"): {"404", "409"},
    ("get", "/v1/stats"): {"503"},
    ("post", "/v1/auth/signout"): {"503"},
    ("post", "/v1/stats/rebuild"): {"503"},
}


@pytest.fixture(scope="module")
def app(make_app, tmp_path_factory):
    """One app for the module: these tests only read."""
    return make_app(tmp_path_factory.mktemp("docs"))


@pytest.fixture
def spec(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_health_needs_no_token(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/v1/openapi.json", "/v1/openapi.yaml", "/v1/docs"])
def test_the_documentation_needs_no_token(client, path):
    assert client.get(path).status_code == 200


def test_the_yaml_document_is_the_json_document(client, spec):
    response = client.get("/v1/openapi.yaml")
    assert "yaml" in response.content_type
    assert yaml.safe_load(response.get_data(as_text=True)) == spec


def test_bearer_auth_is_the_default_security(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert spec["security"] == [{"bearerAuth": []}]


def test_the_documented_operations_are_the_api(spec):
    assert {(m, p) for m, p, _ in operations(spec)} == {*ERRORS, ("get", "/v1/health")}


def test_every_operation_has_a_summary(spec):
    for method, path, operation in operations(spec):
        assert operation.get("summary", "").strip(), (method, path)


def test_health_is_documented_as_public(spec):
    health = spec["paths"]["/v1/health"]["get"]
    assert health["security"] == []
    assert "401" not in health["responses"]


@pytest.mark.parametrize(("method", "path"), sorted(ERRORS))
def test_every_protected_operation_documents_401_and_its_errors(spec, method, path):
    operation = spec["paths"][path][method]
    assert operation.get("security", spec["security"]) == [{"bearerAuth": []}]
    documented = set(operation["responses"])
    assert "401" in documented
    assert documented >= ERRORS[(method, path)], ERRORS[(method, path)] - documented
    for code in documented - {"default"}:
        assert re.fullmatch(r"[1-5]\d\d", code)


def test_documented_error_responses_use_the_error_schema(spec):
    for name, response in spec["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name


def test_decimals_are_documented_as_strings_in_responses(spec):
    trade = spec["components"]["schemas"]["TradeOut"]["properties"]
    for name in ("quantity", "entryPrice", "grossPnl", "netPnl", "remainingQuantity"):
        assert trade[name]["type"] == "string", name


def test_decimals_are_documented_as_accepted_in_requests(spec):
    """A request decimal is a string in plain notation or a JSON number: > 0 (fees >= 0), below
    10^15, at most 10 decimal places; the pattern and the bounds say so."""
    close = spec["components"]["schemas"]["CloseIn"]["properties"]
    as_text, as_number = close["quantity"]["oneOf"]
    assert as_text["type"] == "string"
    assert as_number == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10**15,
        "exclusiveMaximum": True,
        "multipleOf": 1e-10,
    }
    quantity, fees = re.compile(as_text["pattern"]), re.compile(close["fees"]["oneOf"][0]["pattern"])
    for text in ("1", "0.0000000001", "999999999999999.9999999999", "187.250000000000", "007.5"):
        assert quantity.search(text), text
        assert fees.search(text), text
    for text in ("0", "0.00", "1000000000000000", "0.00000000001", "-1", "1e2", " 1", ""):
        assert not quantity.search(text), text
    assert fees.search("0")
    assert fees.search("0.000")
    assert close["fees"]["oneOf"][1]["exclusiveMinimum"] is False


def test_if_match_is_documented_with_its_syntax_and_required_on_patch(spec):
    trade = spec["paths"]["/v1/trades/{trade_id}"]
    (patch,) = trade["patch"]["parameters"]
    (delete,) = trade["delete"]["parameters"]
    assert (patch["name"], patch["required"], delete["required"]) == ("If-Match", True, False)
    pattern = re.compile(patch["schema"]["pattern"])
    for value in ("*", '"3"', 'W/"3"', '"123456789012345678"'):
        assert pattern.search(value), value
    for value in ("3", '"a"', '"1234567890123456789"', 'w/"3"', ""):
        assert not pattern.search(value), value


def test_a_patch_must_change_something(spec):
    assert spec["components"]["schemas"]["TradePatch"]["minProperties"] == 1


def test_the_image_size_maximum_is_the_apps_setting(spec, make_app, tmp_path):
    size = spec["components"]["schemas"]["ImageRequest"]["properties"]["size"]
    assert (size["minimum"], size["maximum"]) == (1, 5 * 1024 * 1024)
    small = make_app(tmp_path, MAX_IMAGE_BYTES=1000).test_client().get("/v1/openapi.json").get_json()
    assert small["components"]["schemas"]["ImageRequest"]["properties"]["size"]["maximum"] == 1000


@pytest.mark.parametrize(
    ("moment", "documented"),
    [
        ("1900-01-01T00:00:00Z", True),
        ("1900-01-01T00:00:00-05:00", True),
        ("1900-01-01T00:00:00+01:00", False),  # 1899 in UTC
        ("2999-12-31T23:00:00-02:00", False),  # 3000 in UTC
        ("2999-12-31T23:59:59Z", True),
        ("1899-12-31T23:59:59Z", False),
        ("3000-01-01T00:00:00Z", False),
        ("2026-03-02T14:30:00+09:00", True),
    ],
)
def test_timestamps_are_documented_in_range(spec, moment, documented):
    entry_at = spec["components"]["schemas"]["TradeIn"]["properties"]["entryAt"]
    assert bool(re.search(entry_at["pattern"], moment)) is documented


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(values["src"])
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"])


def test_swagger_ui_loads_its_assets_from_us_not_a_cdn(client):
    response = client.get("/v1/docs")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    page = Assets()
    page.feed(response.get_data(as_text=True))
    assert any(u.endswith(".js") for u in page.urls)
    assert any(u.endswith(".css") for u in page.urls)
    for url in page.urls:
        assert url.startswith("/v1/docs/assets/"), url
    assert "/v1/openapi.json" in response.get_data(as_text=True)

    for url in page.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = "javascript" if url.endswith(".js") else "css"
        assert kind in asset.content_type, (url, asset.content_type)
        assert len(asset.data) > 1000


@pytest.mark.parametrize("path", ["/v1/docs/assets/../../../etc/passwd", "/v1/docs/assets/nope.js"])
def test_asset_paths_outside_the_bundle_are_404(client, path):
    assert client.get(path).status_code == 404


def test_the_document_built_on_first_use_is_whole_for_every_reader(make_app, tmp_path, monkeypatch):
    """The document is built when first read. With each blueprint made slow to document
    (30 ms), readers arriving all through the build must each get every path and tag."""
    expected = make_app(tmp_path / "reference").test_client().get("/v1/openapi.json").get_json()
    whole = (sorted(expected["paths"]), sorted(t["name"] for t in expected["tags"]))
    document = flask_smorest.Blueprint.register_views_in_doc

    def slowly(*args, **kwargs):
        time.sleep(0.03)
        return document(*args, **kwargs)

    monkeypatch.setattr(flask_smorest.Blueprint, "register_views_in_doc", slowly)
    api = make_app(tmp_path / "app").extensions["flask-smorest"]["apis"][""]["ext_obj"]

    def read(n: int) -> tuple[list[str], list[str]]:
        time.sleep(n * 0.005)  # 0 to 250 ms: through the whole build (6 blueprints x 30 ms)
        built = api.spec.to_dict()
        return sorted(built["paths"]), sorted(t["name"] for t in built["tags"])

    with ThreadPoolExecutor(50) as pool:
        reads = list(pool.map(read, range(50)))
    assert [n for n, one in enumerate(reads) if one != whole] == []


def test_the_flask_smorest_internals_we_copy_are_from_the_version_we_pin():
    """Api.register_blueprint (extensions.py) is flask-smorest 0.47's own, with the documentation
    deferred: an upgrade must re-read it against the new release before changing this pin."""
    assert importlib.metadata.version("flask-smorest") == "0.47.0"


def test_decimals_that_accept_null_say_so_where_openapi_3_0_reads_it(spec):
    """OpenAPI 3.0 reads `nullable` only beside a `type`: each branch of a nullable decimal
    carries it, and the branches are anyOf (null matches both, oneOf wants exactly one)."""
    fields = spec["components"]["schemas"]["TradeIn"]["properties"]
    for name in ("stopLoss", "takeProfit"):
        branches = fields[name]["anyOf"]
        assert [b["type"] for b in branches] == ["string", "number"], name
        assert all(b["nullable"] is True for b in branches), name
    assert "nullable" not in fields["quantity"]
    assert [b["type"] for b in fields["quantity"]["oneOf"]] == ["string", "number"]
