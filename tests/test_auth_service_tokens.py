"""Tokens from the real auth service, verified by an independent implementation (PyJWT) against
the service's own JWKS: what Kong and any other consumer will do."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import ROOT

SERVICES = ROOT / "services"
ISSUER = "https://auth.local.platform.localhost"
AUDIENCE = "national-platform"
SECRET = "pytest-client-secret-0123456789abcdef"


def _post(url: str, body: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in body.items()).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def auth_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert shutil.which("node"), "Node.js 24 is needed for the auth service (make test puts it on PATH)"
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v24."), f"the services run on Node.js 24, found {version.strip()} (make test)"
    assert (SERVICES / "node_modules").is_dir(), "run `make test`, which installs services/ with npm ci"
    folder: Path = tmp_path_factory.mktemp("auth")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # PKCS#1, as pulumi-tls writes `private_key_pem`: the service must read it as it is.
    (folder / "signing.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    secret_hash = subprocess.run(
        ["node", str(SERVICES / "auth/src/hash-secret.js")],
        input=SECRET,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (folder / "clients.json").write_text(
        json.dumps([{"id": "portal", "scopes": ["offices.read"], "secretHash": secret_hash}])
    )
    env = {
        "PATH": os.environ["PATH"],
        "PORT": "0",
        "ISSUER": ISSUER,
        "AUDIENCE": AUDIENCE,
        "TOKEN_TTL_SECONDS": "300",
        "SIGNING_KEY_FILE": str(folder / "signing.key"),
        "CLIENTS_FILE": str(folder / "clients.json"),
    }
    process = subprocess.Popen(
        ["node", str(SERVICES / "auth/src/server.js")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    port = None
    deadline = time.monotonic() + 15
    while port is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.search(r"listening on (\d+)", line)
        port = int(match.group(1)) if match else None
    assert port, "the auth service did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0, "the auth service did not exit cleanly on SIGTERM"


def _token(base: str) -> str:
    status, body = _post(
        f"{base}/oauth/token",
        {"grant_type": "client_credentials", "client_id": "portal", "client_secret": SECRET},
    )
    assert status == 200, body
    return body["access_token"]


def test_pyjwt_verifies_the_token_against_the_jwks(auth_service: str) -> None:
    token = _token(auth_service)
    signing_key = jwt.PyJWKClient(f"{auth_service}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "iat", "nbf", "exp"]},
    )
    assert claims["sub"] == "portal"
    assert claims["scope"] == "offices.read"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] <= int(time.time()) + 1
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == signing_key.key_id
    assert header["typ"] == "JWT"  # Kong's jwt plugin refuses any other typ


def test_pyjwt_refuses_the_token_for_another_audience_or_a_changed_claim(auth_service: str) -> None:
    token = _token(auth_service)
    key = jwt.PyJWKClient(f"{auth_service}/.well-known/jwks.json").get_signing_key_from_jwt(token).key
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=["RS256"], audience="another-platform")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "offices.read offices.write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{header}.{forged}.{signature}", key, algorithms=["RS256"], audience=AUDIENCE)


def test_wrong_secret_gets_an_oauth_error_not_a_token(auth_service: str) -> None:
    status, body = _post(
        f"{auth_service}/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": "portal",
            "client_secret": "wrong-secret-000000000000",
        },
    )
    assert status == 401 and body["error"] == "invalid_client" and "access_token" not in body
