"""Every route x every caller: only the owner gets in.

Routes come from the app's url_map (and the OpenAPI spec is checked against it), so a new
route without a row here fails the test. Each route runs on a fresh app whose owner is alice,
because the forgeries of test_auth (alg none, HS256 with the public key) claim alice.
Callers run owner last: a forged PATCH or DELETE that got through would make the owner's
request (If-Match "1", or the trade still being there) fail.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient

from . import fresh_user, trade_body
from .test_auth import hs256_with_public_pem, rs256, unsigned

OWNER = "alice"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """One fresh app where alice owns what a route acts on."""

    app: Flask
    client: FlaskClient
    other: str = field(default_factory=fresh_user)

    @property
    def issuer(self) -> Any:
        return self.app.extensions["tradeapp"].issuer

    def owner(self) -> dict[str, str]:
        return bearer(self.issuer.issue(OWNER))

    def trade(self) -> dict[str, Any]:
        response = self.client.post("/v1/trades", json=trade_body(), headers=self.owner())
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def pending_image(self, trade_id: str) -> tuple[str, dict[str, Any]]:
        body = {"contentType": "image/png", "size": len(PNG)}
        response = self.client.post(f"/v1/trades/{trade_id}/images", json=body, headers=self.owner())
        assert response.status_code == 201, response.get_json()
        return response.get_json()["imageId"], response.get_json()["upload"]

    def upload(self, form: dict[str, Any]) -> Any:
        body = {**form["fields"], "file": (io.BytesIO(PNG), "chart", "image/png")}
        return self.client.post(form["url"], data=body, content_type="multipart/form-data")

    def uploaded_image(self, trade_id: str) -> str:
        image_id, form = self.pending_image(trade_id)
        assert self.upload(form).status_code == 204
        return image_id

    def ready_image(self, trade_id: str) -> dict[str, Any]:
        image_id = self.uploaded_image(trade_id)
        url = f"/v1/trades/{trade_id}/images/{image_id}/complete"
        done = self.client.post(url, headers=self.owner())
        assert done.status_code == 200, done.get_json()
        return next(i for i in done.get_json()["images"] if i["imageId"] == image_id)


@dataclass
class Call:
    """The request the owner can make; `check` judges (caller kind, response) -> holds."""

    path: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, Any] | None = None  # signed-upload form fields (multipart)
    owner_status: int = 200
    others: str = "404"  # "404": another user's resource; "own": their own (empty) view
    other_check: Callable[[Any], bool] = lambda response: True


def tamper(value: str) -> str:
    return value[:-1] + ("A" if value[-1] != "A" else "B")


def tampered_url(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["x-signature"] = tamper(query["x-signature"])
    return f"{parts.path}?{urlencode(query)}"


def owner_trade_absent(world: World, trade_id: str) -> Callable[[Any], bool]:
    return lambda r: all(item["tradeId"] != trade_id for item in r.get_json()["items"])


def no_trades(response: Any) -> bool:
    body = response.get_json()
    return body["tradeCount"] == 0 and body["totalTrades"] == 0


# (rule, method) -> how to build the owner's request on a fresh world; kind of route.
Builder = Callable[[World], Call]


def _list(w: World) -> Call:
    trade = w.trade()
    return Call("/v1/trades", others="own", other_check=owner_trade_absent(w, trade["tradeId"]))


def _create(w: World) -> Call:
    return Call("/v1/trades", json=trade_body(), owner_status=201, others="own")


def _read(w: World) -> Call:
    return Call(f"/v1/trades/{w.trade()['tradeId']}")


def _patch(w: World) -> Call:
    return Call(f"/v1/trades/{w.trade()['tradeId']}", json={"notes": "matrix"}, headers={"If-Match": '"1"'})


def _delete(w: World) -> Call:
    return Call(f"/v1/trades/{w.trade()['tradeId']}", headers={"If-Match": '"1"'}, owner_status=204)


def _close(w: World) -> Call:
    body = {"quantity": 10, "price": 190, "closedAt": "2026-03-03T15:00:00Z"}
    return Call(f"/v1/trades/{w.trade()['tradeId']}/closes", json=body, owner_status=201)


def _request_image(w: World) -> Call:
    body = {"contentType": "image/png", "size": len(PNG)}
    return Call(f"/v1/trades/{w.trade()['tradeId']}/images", json=body, owner_status=201)


def _complete_image(w: World) -> Call:
    trade_id = w.trade()["tradeId"]
    return Call(f"/v1/trades/{trade_id}/images/{w.uploaded_image(trade_id)}/complete")


def _delete_image(w: World) -> Call:
    trade_id = w.trade()["tradeId"]
    image = w.ready_image(trade_id)
    return Call(f"/v1/trades/{trade_id}/images/{image['imageId']}", owner_status=204)


def _stats(w: World) -> Call:
    w.trade()
    return Call("/v1/stats", others="own", other_check=no_trades)


def _rebuild(w: World) -> Call:
    w.trade()
    return Call("/v1/stats/rebuild", others="own", other_check=no_trades)


def _signout(w: World) -> Call:
    return Call("/v1/auth/signout", owner_status=204, others="own")


def _public(path: str, status: int = 200) -> Builder:
    return lambda w: Call(path, owner_status=status, others="public")


def _local_upload(w: World) -> Call:
    _, form = w.pending_image(w.trade()["tradeId"])
    return Call(form["url"], form=form["fields"], owner_status=204, others="signed")


def _local_download(w: World) -> Call:
    trade_id = w.trade()["tradeId"]
    return Call(w.ready_image(trade_id)["url"], others="signed")


ROUTES: dict[tuple[str, str], Builder] = {
    ("/v1/trades", "GET"): _list,
    ("/v1/trades", "POST"): _create,
    ("/v1/trades/<string:trade_id>", "GET"): _read,
    ("/v1/trades/<string:trade_id>", "PATCH"): _patch,
    ("/v1/trades/<string:trade_id>", "DELETE"): _delete,
    ("/v1/trades/<string:trade_id>/closes", "POST"): _close,
    ("/v1/trades/<string:trade_id>/images", "POST"): _request_image,
    ("/v1/trades/<string:trade_id>/images/<string:image_id>/complete", "POST"): _complete_image,
    ("/v1/trades/<string:trade_id>/images/<string:image_id>", "DELETE"): _delete_image,
    ("/v1/stats", "GET"): _stats,
    ("/v1/stats/rebuild", "POST"): _rebuild,
    ("/v1/auth/signout", "POST"): _signout,
    # Public: health and the documentation need no token, and a bad one changes nothing.
    ("/v1/health", "GET"): _public("/v1/health"),
    ("/v1/openapi.json", "GET"): _public("/v1/openapi.json"),
    ("/v1/openapi.yaml", "GET"): _public("/v1/openapi.yaml"),
    ("/v1/docs", "GET"): _public("/v1/docs"),
    ("/v1/docs/assets/<path:filename>", "GET"): _public("/v1/docs/assets/swagger-ui.css"),
    # Flask's built-in static route: the package has no static folder, so 404 for everyone.
    ("/static/<path:filename>", "GET"): _public("/static/anything.css", 404),
    # Like S3's presigned URLs, the signature is the credential: the bearer header is
    # irrelevant, and every caller without the owner's signature is refused.
    ("/v1/local-images/upload", "POST"): _local_upload,
    ("/v1/local-images/<path:key>", "GET"): _local_download,
}


def callers(world: World, other_key: Any) -> dict[str, Callable[[], dict[str, str]]]:
    """Header makers, owner last. The bad tokens all claim alice, the owner."""
    issuer = world.issuer
    now = int(time.time())
    return {
        "another user": lambda: bearer(issuer.issue(world.other)),
        "anonymous": lambda: {},
        "expired": lambda: bearer(rs256(issuer, iat=now - 7200, exp=now - 3600)),
        "wrong issuer": lambda: bearer(rs256(issuer, iss="https://evil.example/issuer")),
        "wrong client_id": lambda: bearer(rs256(issuer, client_id="someone-else")),
        "id token": lambda: bearer(rs256(issuer, token_use="id")),
        "alg none": lambda: bearer(unsigned(issuer)),
        "HS256 with the public key": lambda: bearer(hs256_with_public_pem(issuer)),
        "bad signature": lambda: bearer(rs256(issuer, key=other_key)),
        "unknown kid": lambda: bearer(rs256(issuer, headers={"kid": "not-a-known-kid"})),
        # issued before alice signed out (set up below); the owner's own token is newer
        "signed out": lambda: bearer(issuer.issue(OWNER, iat=now - 10)),
        "owner": world.owner,
    }


def send(client: FlaskClient, method: str, call: Call, headers: dict[str, str], signed: bool = True) -> Any:
    path = call.path if signed or call.form is not None else tampered_url(call.path)
    if call.form is not None:
        fields = dict(call.form)
        if not signed:
            fields["x-signature"] = tamper(fields["x-signature"])
        body = {**fields, "file": (io.BytesIO(PNG), "chart", "image/png")}
        return client.open(
            path, method=method, data=body, headers=headers, content_type="multipart/form-data"
        )
    return client.open(path, method=method, json=call.json, headers={**call.headers, **headers})


def refused_401(response: Any) -> bool:
    return response.status_code == 401 and response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def judge(caller: str, call: Call, response: Any) -> bool:
    status = response.status_code
    if call.others == "public":
        return status == call.owner_status
    if call.others == "signed":
        # the owner holds the signature; everyone else has it tampered with
        return 200 <= status < 300 if caller == "owner" else status in (400, 403)
    if caller == "owner":
        return status == call.owner_status
    if caller == "another user":
        if call.others == "404":
            return status == 404
        return 200 <= status < 300 and call.other_check(response)
    return refused_401(response)


@pytest.fixture(scope="module")
def other_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def routes_of(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_route_holds_for_every_caller(
    make_app: Callable[..., Flask], tmp_path: Path, other_key: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the routes the app serves, each with a row here
    probe = make_app(tmp_path / "probe", "memory")
    served = routes_of(probe)
    assert served == set(ROUTES), (
        f"routes without a row: {served - set(ROUTES)}; stale rows: {set(ROUTES) - served}"
    )
    spec = probe.test_client().get("/v1/openapi.json").get_json()
    documented = {
        (path, method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    }
    as_rules = {(rule.replace("<string:", "{").replace(">", "}"), method) for rule, method in ROUTES}
    assert documented <= as_rules, f"documented but not in the matrix: {documented - as_rules}"

    cells, held, failures = 0, 0, []
    for index, ((rule, method), build) in enumerate(sorted(ROUTES.items())):
        # WHEN every caller makes the owner's request on a fresh app
        app = make_app(tmp_path / f"route{index}", "memory")
        world = World(app, app.test_client())
        call = build(world)
        app.extensions["tradeapp"].sessions.revocations.revoke(OWNER, int(time.time()) - 5)
        for caller, headers in callers(world, other_key).items():
            signed = caller == "owner" or call.others != "signed"
            response = send(world.client, method, call, headers(), signed)
            cells += 1
            # THEN only the owner gets in
            if judge(caller, call, response):
                held += 1
            else:
                failures.append(
                    f"{method} {rule} as {caller}: {response.status_code} {response.get_data()[:200]!r}"
                )

    with capsys.disabled():
        print(f"\nauthorization matrix: {held}/{cells} cells hold")
    assert not failures, "\n".join(failures)
    assert cells == len(ROUTES) * 12
