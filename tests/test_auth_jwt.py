"""JWT bearer tokens from an agency's identity provider, checked against a configured JWKS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from geoportal.app import create_app
from geoportal.core.auth import Identity, layer_from_path, require_role
from geoportal.settings import Settings

ISSUER = "https://idp.auc.example/realms/geoportail"
AUDIENCE = "geoportal"
KID = "auc-2026"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks(signing_key: rsa.RSAPrivateKey) -> str:
    public = RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    return json.dumps({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})


def token(key: rsa.RSAPrivateKey, *, kid: str | None = KID, issuer: str = ISSUER,
          audience: str = AUDIENCE, expires_in: float = 300, **claims: Any) -> str:
    now = dt.datetime.now(dt.UTC)
    payload = {"iss": issuer, "aud": audience, "sub": "agent-42", "iat": now,
               "exp": now + dt.timedelta(seconds=expires_in), **claims}
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def edit_routes() -> APIRouter:
    router = APIRouter(prefix="/test-guards")

    @router.get("/layers/{layer_id}/edit")
    async def edit(identity: Annotated[Identity, Depends(
            require_role("editor", layer=layer_from_path("layer_id")))]) -> dict[str, str]:
        return {"actor": identity.actor}

    return router


def jwt_app(url: str, jwks: str, **settings: Any) -> FastAPI:
    app = create_app(Settings(database_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE,
                              jwt_jwks=jwks, jwt_leeway_s=0, **settings))
    app.include_router(edit_routes())
    return app


@pytest.fixture(scope="module")
def client(database_url: str, jwks: str) -> Iterator[TestClient]:
    with TestClient(jwt_app(database_url, jwks)) as client:
        yield client


def test_a_valid_token_identifies_its_subject_and_role(
    client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    response = client.get("/auth/whoami", headers=bearer(token(signing_key, role="instructeur")))
    assert response.status_code == 200
    assert response.json() == {"subject": "agent-42", "role": "instructeur", "layers": None,
                               "method": "jwt", "key_prefix": None, "actor": "jwt:agent-42"}


@pytest.mark.parametrize("make_token", [
    lambda key: token(key, role="admin", expires_in=-60),
    lambda key: token(key, role="admin", issuer="https://evil.example/"),
    lambda key: token(key, role="admin", audience="another-service"),
    lambda key: token(key, role="admin", kid="unknown-kid"),
    lambda key: token(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      role="admin"),  # the right kid, signed by someone else
    lambda key: token(key, role="admin")[:-6] + "AAAAAA",  # tampered signature
], ids=["expired", "wrong-issuer", "wrong-audience", "unknown-kid", "foreign-key", "tampered"])
def test_a_token_that_is_not_valid_is_401(
    client: TestClient, signing_key: rsa.RSAPrivateKey,
    make_token: Callable[[rsa.RSAPrivateKey], str],
) -> None:
    response = client.get("/auth/whoami", headers=bearer(make_token(signing_key)))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused(
    client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    public_pem = signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = dt.datetime.now(dt.UTC)

    # PyJWT will not HMAC-sign with a PEM public key: the classic forgery is built by hand.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": KID}).encode())
    body = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "role": "admin",
                           "exp": int((now + dt.timedelta(minutes=5)).timestamp())}).encode())
    signature = b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    response = client.get("/auth/whoami", headers=bearer(f"{header}.{body}.{signature}"))
    assert response.status_code == 401


def test_a_valid_token_without_a_known_role_is_403(
    client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    response = client.get("/auth/whoami", headers=bearer(token(signing_key, role="stagiaire")))
    assert response.status_code == 403
    assert "role" in response.json()["description"]


def test_an_editor_token_may_change_only_the_layers_its_claim_lists(
    client: TestClient, signing_key: rsa.RSAPrivateKey
) -> None:
    editor = bearer(token(signing_key, role="editor", layers=["zoning"]))
    allowed = client.get("/test-guards/layers/zoning/edit", headers=editor)
    assert allowed.status_code == 200 and allowed.json() == {"actor": "jwt:agent-42"}
    assert client.get("/test-guards/layers/parcels/edit", headers=editor).status_code == 403


def test_the_role_can_come_from_a_nested_list_claim_and_the_jwks_from_a_file(
    database_url: str, jwks: str, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(jwks)
    app = jwt_app(database_url, str(jwks_file), jwt_role_claim="realm_access.roles")
    claims = {"realm_access": {"roles": ["offline_access", "signataire"]}}
    with TestClient(app) as keycloak_style:
        response = keycloak_style.get("/auth/whoami",
                                      headers=bearer(token(signing_key, **claims)))
    assert response.status_code == 200
    assert response.json()["role"] == "signataire"


def test_a_missing_jwks_file_stops_the_start_naming_the_setting(
    database_url: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="GEOPORTAL_JWT_JWKS"):
        jwt_app(database_url, str(tmp_path / "absent.json"))


def test_an_issuer_without_audience_or_keys_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="GEOPORTAL_JWT_AUDIENCE"):
        Settings(jwt_issuer=ISSUER)
    with pytest.raises(ValueError, match="GEOPORTAL_JWT_JWKS"):
        Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    with pytest.raises(ValueError, match="public-key"):
        Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks="{}",
                 jwt_algorithms=["HS256"])
