"""API keys: made by the CLI, stored as argon2 hashes, checked on every protected route."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Annotated

import asyncpg
import psycopg
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request

from geoportal.app import create_app
from geoportal.core import auth
from geoportal.core.auth import AuthConfig, Authenticator, Identity, layer_from_path, require_role
from geoportal.settings import Settings


@pytest.fixture(scope="module")
def keys_url(fresh_database: Callable[[str], str]) -> str:
    """A migrated database of its own, holding only keys."""
    return fresh_database("auth_keys")


def geoportal_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``geoportal`` command, as an operator or a script runs it."""
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "geoportal.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def create_key(url: str, name: str, role: str, *layers: str) -> str:
    """A new key, read from the one line the CLI prints on stdout."""
    options = [arg for layer in layers for arg in ("--layer", layer)]
    result = geoportal_cli(url, "keys", "create", name, "--role", role, *options)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return lines[0]


def revoke(url: str, name_or_prefix: str) -> None:
    result = geoportal_cli(url, "keys", "revoke", name_or_prefix)
    assert result.returncode == 0, result.stderr


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def guarded_routes() -> APIRouter:
    """Routes that exist only in these tests, guarded as the editing features will be."""
    router = APIRouter(prefix="/test-guards")

    @router.get("/layers/{layer_id}/edit")
    async def edit(identity: Annotated[Identity, Depends(
            require_role("editor", layer=layer_from_path("layer_id")))]) -> dict[str, str]:
        return {"actor": identity.actor}

    @router.get("/sign")
    async def sign(identity: Annotated[Identity, Depends(
            require_role("signataire"))]) -> dict[str, str]:
        return {"actor": identity.actor}

    return router


def app_for(url: str, **settings: object) -> FastAPI:
    app = create_app(Settings(database_url=url, **settings))  # type: ignore[arg-type]
    app.include_router(guarded_routes())
    return app


@pytest.fixture(scope="module")
def client(keys_url: str) -> Iterator[TestClient]:
    with TestClient(app_for(keys_url, auth_cache_s=300)) as client:
        yield client


@pytest.fixture(scope="module")
def editor_key(keys_url: str) -> str:
    return create_key(keys_url, "qgis-urbanisme", "editor", "parcels", "zoning")


def test_a_key_from_the_cli_identifies_its_caller_on_whoami(
    client: TestClient, editor_key: str
) -> None:
    assert editor_key.startswith("gp_") and len(editor_key) >= 3 + 43
    response = client.get("/auth/whoami", headers=bearer(editor_key))
    assert response.status_code == 200
    assert response.json() == {
        "subject": "qgis-urbanisme", "role": "editor", "layers": ["parcels", "zoning"],
        "method": "api_key", "key_prefix": editor_key[:8], "actor": "key:qgis-urbanisme"}
    assert response.headers["cache-control"] == "no-store"


def test_keys_are_stored_as_argon2_hashes_never_as_themselves(
    keys_url: str, editor_key: str
) -> None:
    with psycopg.connect(keys_url) as conn:
        row = conn.execute("SELECT key_prefix, key_hash, api_keys::text FROM api_keys "
                           "WHERE name = 'qgis-urbanisme'").fetchone()
    assert row is not None
    prefix, key_hash, whole_row = row
    assert prefix == editor_key[:8]
    assert key_hash.startswith("$argon2id$")
    assert key_hash != editor_key
    assert editor_key[8:] not in whole_row


def test_keys_list_shows_names_and_prefixes_but_no_secret(
    keys_url: str, editor_key: str
) -> None:
    result = geoportal_cli(keys_url, "keys", "list", "--all")
    assert result.returncode == 0, result.stderr
    assert "qgis-urbanisme" in result.stdout
    assert editor_key[:8] in result.stdout
    assert editor_key[8:16] not in result.stdout
    assert "argon2" not in result.stdout


def test_whoami_without_credentials_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    assert client.get("/auth/whoami", headers={"Authorization": "Basic YTpi"}
                      ).status_code == 401
    response = client.get("/auth/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="geoportal"'
    assert "Authentification requise" in response.json()["description"]
    english = client.get("/auth/whoami", headers={"Accept-Language": "en"})
    assert english.json()["description"].startswith("Authentication required")


@pytest.mark.parametrize("make_wrong", [
    lambda key: key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB"),  # right prefix
    lambda key: "gp_" + "x" * 43,  # unknown prefix
    lambda key: "not-a-key",
])
def test_a_wrong_key_is_401_invalid_token(
    keys_url: str, editor_key: str, make_wrong: Callable[[str], str]
) -> None:
    with TestClient(app_for(keys_url)) as fresh:
        response = fresh.get("/auth/whoami", headers=bearer(make_wrong(editor_key)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["code"] == "Unauthorized"


def test_a_verified_key_is_trusted_from_the_cache_until_its_time_passes(
    keys_url: str, client: TestClient
) -> None:
    key = create_key(keys_url, "cached-then-revoked", "instructeur")
    assert client.get("/auth/whoami", headers=bearer(key)).status_code == 200
    revoke(keys_url, "cached-then-revoked")
    # auth_cache_s=300 in this client: no database read nor argon2 until then
    assert client.get("/auth/whoami", headers=bearer(key)).status_code == 200


def test_a_revoked_key_is_refused_once_the_cache_time_has_passed(keys_url: str) -> None:
    key = create_key(keys_url, "soon-revoked", "admin")
    with TestClient(app_for(keys_url, auth_cache_s=0.2)) as short:
        assert short.get("/auth/whoami", headers=bearer(key)).status_code == 200
        revoke(keys_url, key[:8])  # by prefix
        time.sleep(0.3)  # the cache time, passed (the CLI alone takes longer)
        response = short.get("/auth/whoami", headers=bearer(key))
    assert response.status_code == 401


def test_a_name_is_reusable_after_revocation_and_only_the_new_key_works(keys_url: str) -> None:
    old = create_key(keys_url, "rotated", "signataire")
    revoke(keys_url, "rotated")
    new = create_key(keys_url, "rotated", "signataire")
    with TestClient(app_for(keys_url, auth_cache_s=0)) as uncached:
        assert uncached.get("/auth/whoami", headers=bearer(old)).status_code == 401
        assert uncached.get("/auth/whoami", headers=bearer(new)).json()["role"] == "signataire"


def test_an_editor_may_change_its_layers_only_and_admins_every_layer(
    keys_url: str, client: TestClient, editor_key: str
) -> None:
    admin = create_key(keys_url, "admin-sig", "admin")
    ok = client.get("/test-guards/layers/zoning/edit", headers=bearer(editor_key))
    assert ok.status_code == 200 and ok.json() == {"actor": "key:qgis-urbanisme"}
    refused = client.get("/test-guards/layers/roads/edit", headers=bearer(editor_key))
    assert refused.status_code == 403
    assert "roads" in refused.json()["description"]
    assert client.get("/test-guards/layers/roads/edit", headers=bearer(admin)).status_code == 200
    assert client.get("/test-guards/sign", headers=bearer(admin)).status_code == 200


def test_the_wrong_role_is_403_and_no_credentials_still_401(
    keys_url: str, client: TestClient
) -> None:
    instructeur = create_key(keys_url, "instruction", "instructeur")
    response = client.get("/test-guards/sign", headers=bearer(instructeur))
    assert response.status_code == 403
    assert response.json()["code"] == "Forbidden"
    assert "signataire" in response.json()["description"]
    assert client.get("/test-guards/layers/zoning/edit",
                      headers=bearer(instructeur)).status_code == 403
    assert client.get("/test-guards/sign").status_code == 401


def test_repeated_failures_of_a_client_are_refused_with_429_but_not_other_clients(
    keys_url: str, editor_key: str
) -> None:
    app = app_for(keys_url, auth_max_failures=3, auth_failure_window_s=600)
    with TestClient(app, client=("192.0.2.7", 40000)) as guesser:
        for _ in range(3):
            assert guesser.get("/auth/whoami", headers=bearer("gp_" + "g" * 43)).status_code \
                == 401
        blocked = guesser.get("/auth/whoami", headers=bearer("gp_" + "h" * 43))
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 600
        assert "réessayez" in blocked.json()["description"]
        # even a good key: a blocked client learns nothing about its guesses
        assert guesser.get("/auth/whoami", headers=bearer(editor_key)).status_code == 429
    with TestClient(app, client=("192.0.2.8", 40000)) as other:
        assert other.get("/auth/whoami", headers=bearer(editor_key)).status_code == 200


def test_refusals_are_logged_with_the_key_prefix_at_most(
    keys_url: str, editor_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = editor_key[:8] + "W" * 43
    with caplog.at_level(logging.DEBUG), TestClient(app_for(keys_url)) as fresh:
        assert fresh.get("/auth/whoami", headers=bearer(wrong)).status_code == 401
        assert fresh.get("/auth/whoami", headers=bearer(editor_key)).status_code == 200
    assert editor_key[:8] in caplog.text  # the refusal was logged, naming the prefix
    assert wrong[8:] not in caplog.text
    assert editor_key[8:] not in caplog.text


def test_a_key_records_when_it_was_last_used(keys_url: str) -> None:
    key = create_key(keys_url, "last-used", "editor")
    with TestClient(app_for(keys_url)) as fresh:
        assert fresh.get("/auth/whoami", headers=bearer(key)).json()["layers"] is None
    with psycopg.connect(keys_url) as conn:
        row = conn.execute("SELECT last_used_at IS NOT NULL FROM api_keys "
                           "WHERE name = 'last-used'").fetchone()
    assert row == (True,)


@pytest.mark.parametrize("args, message", [
    (["keys", "create", "x", "--role", "chef"], "unknown role"),
    (["keys", "create", "x", "--role", "admin", "--layer", "zoning"], "editor role only"),
    (["keys", "create", "x", "--role", "editor", "--layer", "nowhere"], "unknown layer"),
    (["keys", "revoke", "nobody"], "no active key"),
])
def test_key_commands_refuse_mistakes_without_a_traceback(
    keys_url: str, args: list[str], message: str
) -> None:
    result = geoportal_cli(keys_url, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


async def test_concurrent_requests_with_one_key_run_argon2_once(
    keys_url: str, editor_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifications: list[str] = []

    def counted(stored_hash: str, key: str) -> bool:
        verifications.append(stored_hash)
        return auth_keys_matches(stored_hash, key)

    auth_keys_matches = auth.key_matches
    monkeypatch.setattr(auth, "key_matches", counted)
    authenticator = Authenticator(AuthConfig(cache_s=300))
    app = FastAPI()
    app.state.pool = await asyncpg.create_pool(keys_url, min_size=1, max_size=4)
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "app": app,
             "client": ("127.0.0.1", 1), "headers": []}
    try:
        first = await asyncio.gather(*(authenticator.authenticate(Request(scope), editor_key)
                                       for _ in range(20)))
        later = await asyncio.gather(*(authenticator.authenticate(Request(scope), editor_key)
                                       for _ in range(20)))
    finally:
        await app.state.pool.close()
    assert {identity.subject for identity in first + later} == {"qgis-urbanisme"}
    assert len(verifications) == 1


def test_the_openapi_document_declares_the_bearer_scheme_on_whoami(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert document["paths"]["/auth/whoami"]["get"]["security"] == [{"HTTPBearer": []}]


def test_without_the_database_a_key_is_503_with_retry_after_not_a_refusal(
    editor_key: str
) -> None:
    unreachable = "postgresql://geoportal:x@127.0.0.1:9/nowhere"  # discard port: refused
    with TestClient(create_app(Settings(database_url=unreachable))) as offline:
        response = offline.get("/auth/whoami", headers=bearer(editor_key))
        assert offline.get("/auth/whoami").status_code == 401
    assert response.status_code == 503
    assert "retry-after" in response.headers
    assert editor_key not in response.text
