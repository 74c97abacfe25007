"""The identity layer against a real Keycloak (the version the catalog pins, on loopback, on a
real PostgreSQL): the realm exactly as the program renders it for a site is applied by the realm
applier, then tokens are obtained and checked the way Kong and the example API check them.

The site is `staging` with one change: its `smoke-tests` machine client gets a public key whose
private half the test holds (the committed stack file has only public keys; nobody kept their
private halves). The program runs under the usual mocks, with real 3072-bit signing keys
standing in for what pulumi-tls generates.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import ROOT, STACK_DIR, ProgramRun, run_program
from keycloak_server import BOOTSTRAP_CLIENT, Keycloak, keycloak
from natplat.layers.identity.realm import identity_providers, ldap_directory
from natplat.layers.identity.realm_sync import LDAP_DIGEST_ATTRIBUTE, Admin, RealmSync
from natplat.layers.signing import key_id
from natplat.observability.dashboards import TOKEN_ENDPOINT, identity, queries
from natplat.observability.metrics_catalog import METRICS
from natplat.review import offline
from natplat.spec.identity import LdapDirectory
from natplat.spec.sensitive import SecretValue
from natplat.spec.stackfile import load_stack_file

SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _pem_private(key: rsa.RSAPrivateKey) -> dict[str, str]:
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    return {
        "privateKeyPem": key.private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, none
        ).decode(),
        "privateKeyPemPkcs8": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode(),
        "publicKeyPem": key.public_key()
        .public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    }


SIGNING_KEYS = {generation: rsa.generate_private_key(65537, 3072) for generation in ("primary", "next")}
"""Real keys standing in for what pulumi-tls generates for each generation (mocks make 1024-bit
ones, which the APIs rightly refuse)."""


def program_for(tmp: Path, client_key: rsa.RSAPrivateKey, generations: tuple[str, ...]) -> ProgramRun:
    """The program for staging, its smoke-tests client holding `client_key`'s public half and the
    given signing-key generations."""
    text = (STACK_DIR / "Pulumi.staging.yaml").read_text()
    public = _pem_private(client_key)["publicKeyPem"]
    block = "".join(f"          {line}\n" for line in public.strip().splitlines())
    text, count = re.subn(
        r"(      - id: smoke-tests\n(?:        .*\n)*?        publicKey: \|\n)(?:          .*\n)+",
        lambda m: m.group(1) + block,
        text,
    )
    assert count == 1
    text = text.replace(
        "    tokenTtlSeconds: 600\n",
        f"    tokenTtlSeconds: 600\n    signingKeys: [{', '.join(generations)}]\n",
    )
    # The program finds its stack file from the project root (Pulumi.yaml) down: a project of its own.
    (tmp / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", tmp / "Pulumi.yaml")
    stack_file = tmp / "stacks" / "Pulumi.staging.yaml"
    stack_file.write_text(text)
    saved = dict(offline._KEYS)
    try:
        for generation in generations:
            offline._KEYS[f"token-signing-{generation}-rsa"] = _pem_private(SIGNING_KEYS[generation])
        run = run_program(stack_file, project_dir=tmp)
    finally:
        offline._KEYS.clear()
        offline._KEYS.update(saved)
    assert run.error is None, run.error
    return run


def realm_of(run: ProgramRun) -> dict[str, Any]:
    return json.loads(run.named("keycloak-realm").inputs["stringData"]["realm.json"])


def kong_view(run: ProgramRun) -> tuple[dict[str, Any], dict[str, str]]:
    """What the program gives Kong: the jwt plugin's config and each credential's key → PEM."""
    plugin = next(r for r in run.resources if r.kind == "KongPlugin" and r.inputs.get("plugin") == "jwt")
    credentials = {
        r.inputs["stringData"]["key"]: r.inputs["stringData"]["rsa_public_key"]
        for r in run.kubernetes("Secret")
        if (r.metadata.get("labels") or {}).get("konghq.com/credential") == "jwt"
    }
    return plugin.inputs["config"], credentials


@pytest.fixture(scope="module")
def client_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 3072)


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory, client_key: rsa.RSAPrivateKey) -> ProgramRun:
    return program_for(tmp_path_factory.mktemp("staging"), client_key, ("primary",))


@pytest.fixture(scope="module")
def server(staging: ProgramRun) -> Iterator[Keycloak]:
    issuer = staging.outputs["tokenIssuer"]
    with keycloak(urlparse(issuer).netloc) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: Keycloak) -> Admin:
    return Admin(server.url, BOOTSTRAP_CLIENT, server.admin_secret)


@pytest.fixture(scope="module")
def applied(admin: Admin, staging: ProgramRun) -> dict[str, Any]:
    document = realm_of(staging)
    first = RealmSync(admin, document).run()
    assert first, "a new realm must be created"
    return document


def token_url(server: Keycloak, realm: str) -> str:
    return f"{server.url}/realms/{realm}/protocol/openid-connect/token"


def assertion(key: rsa.RSAPrivateKey, client: str, audience: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": client,
        "sub": client,
        "aud": audience,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode({**body, **claims}, key, algorithm="RS256")


def client_token(
    server: Keycloak, realm: str, signed: str, client_id: str | None = None
) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION,
        "client_assertion": signed,
    }
    if client_id:
        data["client_id"] = client_id
    return requests.post(token_url(server, realm), data=data, headers=server.forwarded, timeout=30)


def _sorted(value: Any) -> Any:
    """Keycloak lists clients, scopes, components, and the scope names inside a client, in no set
    order: every list is compared as a set."""
    if isinstance(value, dict):
        return {key: _sorted(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted((_sorted(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    return value


def snapshot(admin: Admin, realm: str) -> dict[str, Any]:
    """Everything the applier manages, as Keycloak reports it."""
    base = f"/admin/realms/{realm}"
    clients = _sorted(admin.get(f"{base}/clients"))
    return {
        "realm": admin.get(base),
        "clients": clients,
        "scopes": {
            c["clientId"]: (
                _sorted(admin.get(f"{base}/clients/{c['id']}/default-client-scopes")),
                _sorted(admin.get(f"{base}/clients/{c['id']}/optional-client-scopes")),
            )
            for c in clients
        },
        "clientScopes": _sorted(admin.get(f"{base}/client-scopes")),
        "roles": _sorted(admin.get(f"{base}/roles?briefRepresentation=false")),
        "components": _sorted(admin.get(f"{base}/components")),
        "keys": admin.get(f"{base}/keys"),
        "flows": _sorted(admin.get(f"{base}/authentication/flows")),
        "flowExecutions": admin.get(f"{base}/authentication/flows/platform%20browser/executions"),
        "idps": _sorted(admin.get(f"{base}/identity-provider/instances")),
    }


# ---------------------------------------------------------------------------- the realm


def test_the_realm_applied_twice_changes_nothing_the_second_time(
    admin: Admin, applied: dict[str, Any]
) -> None:
    before = snapshot(admin, applied["realm"])
    second = RealmSync(admin, applied).run()
    assert second == []
    assert snapshot(admin, applied["realm"]) == before


def test_a_changed_realm_converges_and_a_hand_made_client_stays(
    admin: Admin, applied: dict[str, Any]
) -> None:
    realm = applied["realm"]
    admin.post(f"/admin/realms/{realm}/clients", {"clientId": "made-by-hand", "publicClient": True})
    changed = json.loads(json.dumps(applied))
    changed["settings"]["accessTokenLifespan"] = 300
    portal = next(c for c in changed["clients"] if c["clientId"] == "portal")
    portal["redirectUris"] = [*portal["redirectUris"], "https://portal.staging.platform.gov.example/other"]
    changes = RealmSync(admin, changed).run()
    assert sorted(changes) == ["updated client portal", "updated realm settings"]
    assert admin.get(f"/admin/realms/{realm}")["accessTokenLifespan"] == 300
    back = RealmSync(admin, applied).run()
    assert sorted(back) == ["updated client portal", "updated realm settings"]
    assert RealmSync(admin, applied).run() == []
    assert admin.get(f"/admin/realms/{realm}/clients?clientId=made-by-hand"), (
        "a client made by hand is left alone"
    )


def test_only_the_sites_keys_sign_in_the_realm(
    admin: Admin, applied: dict[str, Any], staging: ProgramRun
) -> None:
    keys = admin.get(f"/admin/realms/{applied['realm']}/keys")["keys"]
    rs256 = [k for k in keys if k["algorithm"] == "RS256"]
    assert [k["kid"] for k in rs256] == [staging.outputs["tokenKeyIds"]["primary"]]


# ---------------------------------------------------------------------------- machines


def test_a_machine_client_gets_a_token_that_kong_and_the_api_accept(
    server: Keycloak,
    applied: dict[str, Any],
    staging: ProgramRun,
    client_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    issuer = staging.outputs["tokenIssuer"]
    reply = client_token(server, applied["realm"], assertion(client_key, "smoke-tests", issuer))
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})

    # Kong's jwt plugin (kong/plugins/jwt/handler.lua and jwt_parser.lua at 3.9): the key claim
    # (`kid`, read from the header when the payload has none) must name a credential, the
    # algorithm must be the credential's, the signature must verify, every claim in
    # claims_to_verify must be a number and in range (exp <= now is expired: no clock skew), and
    # exp no further than maximum_expiration from now. It never reads `typ`; Keycloak sets JWT.
    config, credentials = kong_view(staging)
    assert header["typ"] == "JWT" and header["alg"] == "RS256"
    assert config["key_claim_name"] == "kid" and "kid" not in claims
    assert header["kid"] == staging.outputs["tokenKeyIds"]["primary"]
    assert header["kid"] in credentials
    for claim in config["claims_to_verify"]:
        assert isinstance(claims[claim], int), claim
    assert claims["exp"] - time.time() <= config["maximum_expiration"]
    jwt.decode(token, credentials[header["kid"]], algorithms=["RS256"], options={"verify_aud": False})

    # What the APIs authorize on.
    assert claims["iss"] == issuer
    assert "national-platform" in (claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]])
    assert set(claims["scope"].split()) >= {"offices.read", "offices.write"}
    assert claims["azp"] == "smoke-tests"
    assert claims["exp"] - claims["iat"] == 600  # identity.tokenTtlSeconds of staging

    # The example API itself, as a process, with the public key and settings the program gives it.
    settings, files = offices_as_deployed(staging, tmp_path)
    assert call_offices(token, settings, files) == 200
    assert call_offices(token[:-4] + "AAAA", settings, files) == 401


def offices_as_deployed(run: ProgramRun, folder: Path) -> tuple[dict[str, str], list[str]]:
    """The offices API's settings as the program gives its Deployment, and its public key files
    (the `jwt-public-keys` ConfigMap) written into `folder`."""
    env = next(r.inputs for r in run.kubernetes("Deployment") if r.metadata.get("name") == "offices")["spec"][
        "template"
    ]["spec"]["containers"][0]["env"]
    public_keys = next(r for r in run.kubernetes("ConfigMap") if r.metadata.get("name") == "jwt-public-keys")
    files = []
    for name, pem in public_keys.inputs["data"].items():
        (folder / name).write_text(pem)
        files.append(str(folder / name))
    return {e["name"]: e.get("value") for e in env}, files


def call_offices(token: str, settings: dict[str, str], key_files: list[str]) -> int:
    script = (
        "const base = process.argv[1];"
        "const headers = { authorization: 'Bearer ' + process.env.TOKEN };"
        "const r = await fetch(base + '/v1/offices', { headers });"
        "process.stdout.write(String(r.status));"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PORT": "0",
        "JWT_PUBLIC_KEY_FILES": ",".join(key_files),
        "JWT_AUDIENCE": settings["JWT_AUDIENCE"],
        "JWT_ISSUER": settings["JWT_ISSUER"],
        "JWT_MAX_LIFETIME_SECONDS": settings["JWT_MAX_LIFETIME_SECONDS"],
    }
    service = subprocess.Popen(
        ["node", "src/server.js"], cwd=SERVICES_DIR / "offices", env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None
        port = None
        for _ in range(50):
            line = service.stdout.readline()
            if found := re.search(r"listening on (\d+)", line):
                port = found.group(1)
                break
        assert port, "the offices API did not start"
        probe = subprocess.run(
            ["node", "--input-type=module", "-e", script, f"http://127.0.0.1:{port}"],
            env={"PATH": os.environ["PATH"], "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return int(probe.stdout)
    finally:
        service.terminate()
        service.wait(timeout=30)


@pytest.mark.parametrize(
    "case",
    ["signed by another key", "unknown client", "expired", "issued for another audience", "reused"],
)
def test_a_bad_client_assertion_is_refused(
    case: str, server: Keycloak, applied: dict[str, Any], staging: ProgramRun, client_key: rsa.RSAPrivateKey
) -> None:
    issuer = staging.outputs["tokenIssuer"]
    realm = applied["realm"]
    if case == "signed by another key":
        signed = assertion(rsa.generate_private_key(65537, 2048), "smoke-tests", issuer)
    elif case == "unknown client":
        signed = assertion(client_key, "nobody", issuer)
    elif case == "expired":
        past = int(time.time()) - 600
        signed = assertion(client_key, "smoke-tests", issuer, iat=past, exp=past + 60)
    elif case == "issued for another audience":
        signed = assertion(client_key, "smoke-tests", "https://elsewhere.example/realms/platform")
    else:
        signed = assertion(client_key, "smoke-tests", issuer)
        assert client_token(server, realm, signed).status_code == 200
    reply = client_token(server, realm, signed)
    assert reply.status_code in (400, 401), reply.text
    assert reply.json()["error"] in ("invalid_client", "unauthorized_client")
    assert "access_token" not in reply.json()


# ---------------------------------------------------------------------------- people


def make_person(admin: Admin, realm: str, username: str, roles: list[str]) -> str:
    password = secrets.token_urlsafe(18) + "aA1!"
    admin.post(
        f"/admin/realms/{realm}/users",
        {
            "username": username,
            "enabled": True,
            "email": f"{username}@staging.platform.gov.example",
            "emailVerified": True,
            "firstName": "Test",
            "lastName": username.title(),
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        },
    )
    user = admin.get(f"/admin/realms/{realm}/users?username={username}&exact=true")[0]
    grants = [admin.get(f"/admin/realms/{realm}/roles/{role}") for role in roles]
    if grants:
        admin.post(f"/admin/realms/{realm}/users/{user['id']}/role-mappings/realm", grants)
    return password


class Browser:
    """Plain HTTP requests through Keycloak's login pages, as a browser behind Kong makes them.
    Keycloak's cookies are `Secure` (the public side is HTTPS), so they are carried by hand over
    the loopback's plain HTTP."""

    def __init__(self, server: Keycloak) -> None:
        self.server = server
        self.session = requests.Session()

    def _cookies(self, url: str) -> dict[str, str]:
        """The cookies whose path covers `url` (two realms' sessions share cookie names)."""
        path = urlparse(url).path
        chosen = [c for c in self.session.cookies if path.startswith((c.path or "/").rstrip("/") + "/")]
        return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in chosen)}

    def get(self, url: str) -> requests.Response:
        return self.session.get(
            url, headers={**self.server.forwarded, **self._cookies(url)}, allow_redirects=False, timeout=30
        )

    def post(self, url: str, data: dict[str, str]) -> requests.Response:
        return self.session.post(
            url,
            data=data,
            headers={**self.server.forwarded, **self._cookies(url)},
            allow_redirects=False,
            timeout=30,
        )


def log_in(server: Keycloak, realm: str, username: str, password: str, challenge: str) -> requests.Response:
    browser = Browser(server)
    query = urlencode(
        {
            "client_id": "portal",
            "redirect_uri": "https://portal.staging.platform.gov.example/auth/callback",
            "response_type": "code",
            "scope": "openid offices.read",
            "state": "s-123",
            "nonce": "n-123",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page = browser.get(f"{server.url}/realms/{realm}/protocol/openid-connect/auth?{query}")
    assert page.status_code == 200, page.text[:500]
    action = html.unescape(re.search(r'action="([^"]+)"', page.text).group(1))
    assert action.startswith(server.public_base), "login pages link to the public host"
    return browser.post(
        server.local(action), {"username": username, "password": password, "credentialId": ""}
    )


def test_a_person_logs_in_with_pkce_and_the_role_is_in_the_token(
    admin: Admin, server: Keycloak, applied: dict[str, Any], staging: ProgramRun
) -> None:
    realm = applied["realm"]
    password = make_person(admin, realm, "editor", ["offices-editor"])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    done = log_in(server, realm, "editor", password, challenge)
    assert done.status_code == 302, done.text[:500]
    redirect = urlparse(done.headers["Location"])
    assert f"{redirect.scheme}://{redirect.netloc}{redirect.path}" == (
        "https://portal.staging.platform.gov.example/auth/callback"
    )
    code = parse_qs(redirect.query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "client_id": "portal",
        "code": code,
        "redirect_uri": "https://portal.staging.platform.gov.example/auth/callback",
    }
    without = requests.post(token_url(server, realm), data=exchange, headers=server.forwarded, timeout=30)
    assert without.status_code == 400 and without.json()["error"] == "invalid_grant"  # PKCE is required
    # The code was spent by the refused exchange (one use only): log in again for a fresh one.
    again = log_in(server, realm, "editor", password, challenge)
    exchange["code"] = parse_qs(urlparse(again.headers["Location"]).query)["code"][0]
    reply = requests.post(
        token_url(server, realm),
        data={**exchange, "code_verifier": verifier},
        headers=server.forwarded,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "offices-editor" in claims["realm_access"]["roles"]
    assert "offices.read" in claims["scope"].split()
    assert claims["iss"] == staging.outputs["tokenIssuer"]
    assert "national-platform" in claims["aud"]
    assert jwt.get_unverified_header(token)["kid"] == staging.outputs["tokenKeyIds"]["primary"]


def test_an_admin_must_set_up_a_one_time_password(
    admin: Admin, server: Keycloak, applied: dict[str, Any]
) -> None:
    realm = applied["realm"]
    password = make_person(admin, realm, "operator", ["platform-admin"])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    step = log_in(server, realm, "operator", password, challenge)
    # Not back to the application with a code: on to setting up a one-time password first.
    assert step.status_code == 302
    location = step.headers["Location"]
    assert not location.startswith("https://portal."), "an admin is let through on a password alone"
    assert "CONFIGURE_TOTP" in location
    plain = make_person(admin, realm, "reader", [])
    reader = log_in(server, realm, "reader", plain, challenge)
    assert reader.status_code == 302
    assert reader.headers["Location"].startswith("https://portal.staging.platform.gov.example/auth/callback?")


def test_brute_force_protection_locks_an_account_out(
    admin: Admin, server: Keycloak, applied: dict[str, Any]
) -> None:
    realm = applied["realm"]
    password = make_person(admin, realm, "target", [])
    failures = applied["settings"]["failureFactor"]
    for _ in range(failures):
        assert log_in(server, realm, "target", "wrong-password", "x" * 43).status_code == 200
    locked = log_in(server, realm, "target", password, "x" * 43)
    assert locked.status_code == 200, "the right password is refused while the account is locked"
    user = admin.get(f"/admin/realms/{realm}/users?username=target&exact=true")[0]
    assert (
        admin.get(f"/admin/realms/{realm}/attack-detection/brute-force/users/{user['id']}")["disabled"]
        is True
    )


# ---------------------------------------------------------------------------- rotation


def test_a_key_rotation_signs_with_the_new_key_and_keeps_the_old_one_verifying(
    tmp_path: Path, admin: Admin, server: Keycloak, applied: dict[str, Any], client_key: rsa.RSAPrivateKey
) -> None:
    rotated = program_for(tmp_path, client_key, ("next", "primary"))
    document = realm_of(rotated)
    assert rotated.outputs["tokenKeyIds"]["primary"] == applied["keyProviders"][0]["kid"]
    changes = RealmSync(admin, document).run()
    assert "created key provider platform-signing-next" in changes
    assert "updated key provider platform-signing-primary" in changes  # now passive
    issuer = rotated.outputs["tokenIssuer"]
    reply = client_token(server, applied["realm"], assertion(client_key, "smoke-tests", issuer))
    assert reply.status_code == 200, reply.text
    new_kid = rotated.outputs["tokenKeyIds"]["next"]
    assert jwt.get_unverified_header(reply.json()["access_token"])["kid"] == new_kid
    assert key_id(_public_of(document["keyProviders"][0]["config"]["privateKey"][0])) == new_kid
    published = {
        k["kid"]
        for k in requests.get(
            f"{server.url}/realms/{applied['realm']}/protocol/openid-connect/certs", timeout=30
        ).json()["keys"]
    }
    assert {new_kid, applied["keyProviders"][0]["kid"]} <= published
    _, credentials = kong_view(rotated)
    assert new_kid in credentials
    assert RealmSync(admin, document).run() == []
    assert RealmSync(admin, applied).run()  # back to one generation for the other tests


def _public_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# ---------------------------------------------------------------------------- restore runbook


def test_the_database_restore_steps_bring_the_realm_back(
    server: Keycloak, applied: dict[str, Any], tmp_path: Path
) -> None:
    """README, "Restoring the identity database", the steps that need no cluster: a custom-format
    dump of the live database, restored into an empty one, holds the realm, its clients and the
    site's key providers (what `kubectl cnpg` and the CNPG bootstrap do around them is Kubernetes)."""
    dump = tmp_path / "keycloak.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", server.database], check=True
    )
    target = server.database.rsplit("/", 1)[0] + "/restored"
    subprocess.run(
        ["psql", server.database, "-c", "CREATE DATABASE restored"], check=True, capture_output=True
    )
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={target}", str(dump)], check=True
    )

    realm = applied["realm"]

    def query(sql: str) -> list[str]:
        # The realm travels as a psql variable (:'realm', quoted by psql), the statement on stdin.
        command = ["psql", "-At", "-v", f"realm={realm}", target]
        out = subprocess.run(command, input=sql, check=True, capture_output=True, text=True)
        return out.stdout.split()

    # Constant statements: the realm's name is a psql variable, quoted by psql itself.
    clients = """SELECT x.client_id FROM client x JOIN realm r ON r.id = x.realm_id
                 WHERE r.name = :'realm';"""
    keys = """SELECT x.name FROM component x JOIN realm r ON r.id = x.realm_id
              WHERE r.name = :'realm' AND x.provider_id = 'rsa';"""
    assert query("SELECT name FROM realm WHERE name = :'realm';") == [realm]
    assert {"portal", "smoke-tests"} <= set(query(clients))
    keys = query(keys)
    assert keys == ["platform-signing-primary"]


# ---------------------------------------------------------------------------- federation


def test_federation_applies_once_and_a_changed_secret_is_applied_again(
    admin: Admin, applied: dict[str, Any]
) -> None:
    """An OIDC provider and an LDAP directory, as the program renders them for a site that
    federates. Keycloak never returns their secrets (it masks them), so the digest stored beside
    each is what tells the applier a secret changed."""
    capital = load_stack_file(STACK_DIR / "Pulumi.capital.yaml")
    ldap = LdapDirectory.model_validate(
        {
            "connectionUrl": "ldaps://directory.gov.example",
            "vendor": "ad",
            "bindDn": "CN=platform,OU=Services,DC=gov,DC=example",
            "bindCredential": SecretValue("bind-password-1"),
            "usersDn": "OU=People,DC=gov,DC=example",
        }
    )
    identity = capital.identity.model_copy(
        update={"federation": capital.identity.federation.model_copy(update={"ldap": ldap})}
    )
    document = json.loads(json.dumps(applied))
    document["identityProviders"] = identity_providers(identity, {"agents": "client-secret-1"})
    document["ldap"] = ldap_directory(identity, "bind-password-1")
    # What render_realm adds beside a directory (test_identity.py checks it does).
    document["settings"]["attributes"] = {LDAP_DIGEST_ATTRIBUTE: document["ldap"]["secretDigest"]}
    first = RealmSync(admin, document).run()
    assert {"created identity provider agents", "created LDAP directory"} <= set(first)
    assert RealmSync(admin, document).run() == []
    stored = admin.get(f"/admin/realms/{applied['realm']}/identity-provider/instances/agents")
    assert stored["config"]["clientSecret"] == "**********"  # never read back
    rotated = json.loads(json.dumps(document))
    rotated["identityProviders"] = identity_providers(identity, {"agents": "client-secret-2"})
    rotated["ldap"] = ldap_directory(identity, "bind-password-2")
    rotated["settings"]["attributes"] = {LDAP_DIGEST_ATTRIBUTE: rotated["ldap"]["secretDigest"]}
    assert sorted(RealmSync(admin, rotated).run()) == [
        "updated LDAP directory",
        "updated identity provider agents",
        "updated realm settings",  # the new digest, kept as a realm attribute
    ]
    assert RealmSync(admin, rotated).run() == []
    # Back to the site as rendered: a provider and a directory no longer rendered are removed.
    assert {"deleted identity provider agents", "deleted LDAP directory"} <= set(
        RealmSync(admin, applied).run()
    )
    assert RealmSync(admin, applied).run() == []


# ---------------------------------------------------------------------------- metrics


def test_the_metrics_rules_and_dashboards_use_are_what_keycloak_exports(
    server: Keycloak, applied: dict[str, Any], staging: ProgramRun, client_key: rsa.RSAPrivateKey
) -> None:
    """metrics_catalog's `keycloak` names, read off a real Keycloak's management port after it
    served a token (the dashboard's token panels select on the route template it reports)."""
    issuer = staging.outputs["tokenIssuer"]
    assert (
        client_token(server, applied["realm"], assertion(client_key, "smoke-tests", issuer)).status_code
        == 200
    )
    text = requests.get(f"{server.management}/metrics", timeout=30).text
    exported = {
        re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert METRICS["keycloak"] <= exported, sorted(METRICS["keycloak"] - exported)
    assert 'uri="/realms/{realm}/protocol/{protocol}/token"' in text
    assert TOKEN_ENDPOINT in identity_dashboard_queries()


def identity_dashboard_queries() -> str:
    return " ".join(queries(identity()))


def test_a_hand_set_token_lifespan_is_put_back_by_the_applier(
    server: Keycloak,
    admin: Admin,
    applied: dict[str, Any],
    staging: ProgramRun,
    client_key: rsa.RSAPrivateKey,
) -> None:
    """A lifespan set by hand on a client (in the console) made its tokens outlive Kong's
    maximum_expiration, so Kong and the APIs refused them; the applier writes the chain's
    attributes on every managed client, so the next apply puts the realm's lifetime back."""
    realm, issuer = applied["realm"], staging.outputs["tokenIssuer"]
    ttl = applied["settings"]["accessTokenLifespan"]
    maximum = int(kong_view(staging)[0]["maximum_expiration"])

    def lifetime() -> int:
        reply = client_token(server, realm, assertion(client_key, "smoke-tests", issuer))
        assert reply.status_code == 200, reply.text
        claims = jwt.decode(reply.json()["access_token"], options={"verify_signature": False})
        return claims["exp"] - claims["iat"]

    assert lifetime() == ttl <= maximum
    (client,) = admin.get(f"/admin/realms/{realm}/clients?clientId=smoke-tests")
    client["attributes"]["access.token.lifespan"] = "3600"
    admin.put(f"/admin/realms/{realm}/clients/{client['id']}", client)
    assert lifetime() == 3600 > maximum, "the hand edit took: Kong would refuse these tokens"
    assert "updated client smoke-tests" in RealmSync(admin, applied).run()
    assert lifetime() == ttl
    assert RealmSync(admin, applied).run() == []


def kong_refusal(token: str, staging: ProgramRun) -> str | None:
    """Why Kong 3.9's jwt plugin (handler.lua, jwt_parser.lua) would refuse `token` with the
    program's configuration and credentials, or None: the credential named by `kid`, the header's
    `alg` equal to the credential's (RS256), the signature, `exp` a number in the future, and
    within `maximum_expiration` of now. (It never reads `typ`, `iss` or `aud`.)"""
    config, credentials = kong_view(staging)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    key = claims.get(config["key_claim_name"]) or header.get(config["key_claim_name"])
    if key not in credentials:
        return "no credential for its kid"
    if header.get("alg") != "RS256":
        return f"invalid algorithm {header.get('alg')}"
    try:
        jwt.decode(
            token, credentials[key], algorithms=["RS256"], options={"verify_aud": False, "verify_exp": False}
        )
    except jwt.InvalidSignatureError:
        return "invalid signature"
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        return "expired"
    if claims["exp"] - time.time() > config["maximum_expiration"]:
        return "exceeds maximum expiration"
    return None


def test_only_managed_access_tokens_pass_what_the_gateway_checks(
    admin: Admin, server: Keycloak, applied: dict[str, Any], staging: ProgramRun, tmp_path: Path
) -> None:
    """Kong OSS cannot check an audience, so what it must not accept is signed where it cannot
    verify it: the realm's default algorithm is ES256 with a generated key, and only the managed
    clients' access tokens are RS256 with the site's key. An ID token, and the token of a client
    made by hand in the console (no audience either), are refused by Kong and by the API."""
    realm = applied["realm"]
    password = make_person(admin, realm, "gateway-reader", [])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    done = log_in(server, realm, "gateway-reader", password, challenge)
    assert done.status_code == 302, done.text[:500]
    reply = requests.post(
        token_url(server, realm),
        data={
            "grant_type": "authorization_code",
            "client_id": "portal",
            "code": parse_qs(urlparse(done.headers["Location"]).query)["code"][0],
            "redirect_uri": "https://portal.staging.platform.gov.example/auth/callback",
            "code_verifier": verifier,
            "scope": "openid",
        },
        headers=server.forwarded,
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    tokens = reply.json()
    assert kong_refusal(tokens["access_token"], staging) is None
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "ES256"
    assert kong_refusal(tokens["id_token"], staging) in (
        "no credential for its kid",
        "invalid algorithm ES256",
    )

    secret = secrets.token_urlsafe(24)
    admin.post(
        f"/admin/realms/{realm}/clients",
        {"clientId": "made-by-hand-machine", "publicClient": False, "serviceAccountsEnabled": True,
         "standardFlowEnabled": False, "secret": secret},
    )  # fmt: skip
    handmade = requests.post(
        token_url(server, realm),
        data={
            "grant_type": "client_credentials",
            "client_id": "made-by-hand-machine",
            "client_secret": secret,
        },
        headers=server.forwarded,
        timeout=30,
    )
    assert handmade.status_code == 200, handmade.text
    token = handmade.json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert kong_refusal(token, staging) is not None
    assert call_offices(token, *offices_as_deployed(staging, tmp_path)) == 401


def api_refusal(token: str, run: ProgramRun) -> str | None:
    """Why the APIs would refuse `token` with the keys of `run`'s ConfigMap (every key in the
    folder, chosen by `kid`), RS256 only, the issuer and the audience; or None."""
    public_keys = next(r for r in run.kubernetes("ConfigMap") if r.metadata.get("name") == "jwt-public-keys")
    keys = {key_id(pem): pem for pem in public_keys.inputs["data"].values()}
    kid = jwt.get_unverified_header(token).get("kid")
    if kid not in keys:
        return "no key for its kid"
    try:
        jwt.decode(
            token,
            keys[kid],
            algorithms=["RS256"],
            audience="national-platform",
            issuer=run.outputs["tokenIssuer"],
        )
    except jwt.PyJWTError as error:
        return str(error)
    return None


ROTATION = (("primary",), ("primary", "next"), ("next", "primary"), ("next",))
"""The rotation as stack-file states (README, "Rotating the token-signing key"): trust the new key
everywhere, then sign with it, then stop trusting the old one."""


def test_a_key_rotation_in_three_steps_gives_no_401_to_a_client_calling_throughout(
    tmp_path: Path, admin: Admin, server: Keycloak, applied: dict[str, Any], client_key: rsa.RSAPrivateKey
) -> None:
    """A client signs a new assertion and fetches a fresh token for every call, and each token is
    checked as Kong and the APIs check it, with their configuration from the program state being
    applied. The program orders each step: Kong's credentials and the services' keys first (the
    identity layer follows the gateway and the services), the realm applier last."""
    import threading  # noqa: PLC0415 - only this test runs a client beside the applier

    runs = [
        program_for(tmp_path / str(step), client_key, generations)
        for step, generations in enumerate(ROTATION)
    ]
    realm, issuer = applied["realm"], runs[0].outputs["tokenIssuer"]
    RealmSync(admin, realm_of(runs[0])).run()
    verifiers = {"run": runs[0]}
    refused: list[str] = []
    calls = {"n": 0}
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            reply = client_token(server, realm, assertion(client_key, "smoke-tests", issuer))
            if reply.status_code != 200:
                refused.append(f"token endpoint {reply.status_code}")
                continue
            token = reply.json()["access_token"]
            run = verifiers["run"]
            for who, why in (("kong", kong_refusal(token, run)), ("api", api_refusal(token, run))):
                if why:
                    refused.append(f"{who}: {why}")
            calls["n"] += 1

    thread = threading.Thread(target=client)
    thread.start()
    try:
        for run in runs[1:]:
            verifiers["run"] = run  # Kong's credentials and the services' keys, applied first
            time.sleep(1)
            RealmSync(admin, realm_of(run)).run()  # then the realm applier Job
            time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert calls["n"] >= 20 and refused == [], (calls, refused[:5])
    new_kid = runs[-1].outputs["tokenKeyIds"]["next"]
    reply = client_token(server, realm, assertion(client_key, "smoke-tests", issuer))
    assert jwt.get_unverified_header(reply.json()["access_token"])["kid"] == new_kid

    # The order the old runbook gave (the new key signing at once, its verifiers behind): refused.
    RealmSync(admin, realm_of(runs[0])).run()
    RealmSync(admin, realm_of(runs[2])).run()
    token = client_token(server, realm, assertion(client_key, "smoke-tests", issuer)).json()["access_token"]
    assert kong_refusal(token, runs[0]) == "no credential for its kid"
    assert api_refusal(token, runs[0]) == "no key for its kid"
    RealmSync(admin, applied).run()  # back to the module's realm for the other tests


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 (HMAC-SHA1, 6 digits, 30 s: the realm's OTP policy) over the secret's bytes, as
    Keycloak's TimeBasedOTP computes it."""
    import hmac  # noqa: PLC0415
    import struct  # noqa: PLC0415

    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(secret.encode(), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def make_person_with_otp(admin: Admin, realm: str, username: str, roles: list[str]) -> tuple[str, str]:
    """A person with a password and a one-time-password credential already set up."""
    secret = secrets.token_hex(10)
    password = make_person(admin, realm, username, roles)
    user = admin.get(f"/admin/realms/{realm}/users?username={username}&exact=true")[0]
    # The credential as Keycloak stores a TOTP one; set through the user representation.
    otp = {
        "type": "otp",
        "userLabel": "test",
        "secretData": json.dumps({"value": secret}),
        "credentialData": json.dumps(
            {"subType": "totp", "digits": 6, "period": 30, "algorithm": "HmacSHA1", "counter": 0}
        ),
    }
    admin.put(f"/admin/realms/{realm}/users/{user['id']}", {**user, "credentials": [otp]})
    return password, secret


def otp_prompts(
    server: Keycloak, realm: str, username: str, password: str, secret: str
) -> tuple[int, requests.Response]:
    """Logs in through the browser flow, answering every one-time-password prompt; how many came."""
    browser = Browser(server)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 48).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "client_id": "portal",
            "redirect_uri": "https://portal.staging.platform.gov.example/auth/callback",
            "response_type": "code",
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    page = browser.get(f"{server.url}/realms/{realm}/protocol/openid-connect/auth?{query}")
    action = html.unescape(re.search(r'action="([^"]+)"', page.text).group(1))
    step = browser.post(
        server.local(action), {"username": username, "password": password, "credentialId": ""}
    )
    prompts = 0
    while step.status_code == 200 and 'name="otp"' in step.text and prompts < 4:
        prompts += 1
        action = html.unescape(re.search(r'action="([^"]+)"', step.text).group(1))
        step = browser.post(server.local(action), {"otp": totp(secret)})
    return prompts, step


def test_one_time_password_is_asked_once_per_login(
    admin: Admin, server: Keycloak, applied: dict[str, Any]
) -> None:
    """An admin with a one-time password set up is asked once, not once per admin role plus once
    for having one; a person without an admin role who set one up is asked once too."""
    realm = applied["realm"]
    for username, roles in (("otp-admin", ["platform-admin"]), ("otp-reader", [])):
        password, secret = make_person_with_otp(admin, realm, username, roles)
        prompts, done = otp_prompts(server, realm, username, password, secret)
        assert prompts == 1, (username, prompts)
        assert done.status_code == 302 and done.headers["Location"].startswith(
            "https://portal.staging.platform.gov.example/auth/callback?"
        ), (username, done.status_code, done.text[:300])


def test_a_federated_admin_is_asked_for_a_one_time_password(
    admin: Admin, server: Keycloak, applied: dict[str, Any]
) -> None:
    """A second realm on the same server stands in for an administration's OIDC provider. A person
    logging in through it is let through on the upstream's word alone, until they hold an admin
    role: then the post-broker-login flow asks for a one-time password (set up at that login),
    whatever the upstream did; no code reaches the application without it."""
    from natplat.spec.identity import OidcProvider  # noqa: PLC0415

    realm, public = applied["realm"], server.public_base
    broker = f"{public}/realms/{realm}/broker/agents/endpoint"
    secret = secrets.token_urlsafe(24)
    admin.post("/admin/realms", {"realm": "upstream", "enabled": True, "sslRequired": "none"})
    admin.post(
        "/admin/realms/upstream/clients",
        {"clientId": "platform-broker", "publicClient": False, "secret": secret, "redirectUris": [broker],
         "standardFlowEnabled": True, "directAccessGrantsEnabled": False},
    )  # fmt: skip
    upstream_password = secrets.token_urlsafe(18) + "aA1!"
    admin.post(
        "/admin/realms/upstream/users",
        {"username": "fed-admin", "enabled": True, "email": "fed-admin@agency.gov.example",
         "emailVerified": True, "firstName": "Federated", "lastName": "Admin",
         "credentials": [{"type": "password", "value": upstream_password, "temporary": False}]},
    )  # fmt: skip
    provider = OidcProvider.model_validate(
        {
            "alias": "agents",
            "displayName": "Agency",
            "issuer": f"{public}/realms/upstream",
            "authorizationUrl": f"{public}/realms/upstream/protocol/openid-connect/auth",
            "tokenUrl": f"{public}/realms/upstream/protocol/openid-connect/token",
            "jwksUrl": f"{public}/realms/upstream/protocol/openid-connect/certs",
            "clientId": "platform-broker",
            "clientSecret": SecretValue(secret),
        }
    )
    staging_identity = load_stack_file(STACK_DIR / "Pulumi.staging.yaml").identity
    identity = staging_identity.model_copy(
        update={"federation": staging_identity.federation.model_copy(update={"oidc": (provider,)})}
    )
    document = json.loads(json.dumps(applied))
    document["identityProviders"] = identity_providers(identity, {"agents": secret})
    # Keycloak calls the token and key endpoints itself: the test server answers on loopback only.
    config = document["identityProviders"][0]["config"]
    config["tokenUrl"], config["jwksUrl"] = (
        server.local(config["tokenUrl"]),
        server.local(config["jwksUrl"]),
    )
    config["defaultScope"] = "openid profile email"
    RealmSync(admin, document).run()
    try:

        def broker_login() -> requests.Response:
            browser = Browser(server)
            query = urlencode(
                {"client_id": "portal", "redirect_uri": "https://portal.staging.platform.gov.example/auth/callback",
                 "response_type": "code", "scope": "openid", "kc_idp_hint": "agents",
                 "code_challenge": "x" * 43, "code_challenge_method": "S256"}
            )  # fmt: skip
            step = browser.get(f"{server.url}/realms/{realm}/protocol/openid-connect/auth?{query}")
            for _ in range(12):
                if step.status_code in (302, 303):
                    location = step.headers["Location"]
                    if location.startswith("https://portal."):
                        return step
                    step = browser.get(server.local(location) if location.startswith(public) else location)
                elif step.status_code == 200 and 'name="password"' in step.text:
                    action = html.unescape(re.search(r'action="([^"]+)"', step.text).group(1))
                    step = browser.post(
                        server.local(action),
                        {"username": "fed-admin", "password": upstream_password, "credentialId": ""},
                    )
                else:
                    return step
            return step

        first = broker_login()
        assert first.status_code in (302, 303) and first.headers["Location"].startswith("https://portal."), (
            first.status_code, first.headers.get("Location"),
            re.findall(r'(?:kc-feedback-text|alert-error|instruction)[^>]*>([^<]+)', first.text))  # fmt: skip
        (user,) = admin.get(f"/admin/realms/{realm}/users?username=fed-admin&exact=true")
        grant = admin.get(f"/admin/realms/{realm}/roles/platform-admin")
        admin.post(f"/admin/realms/{realm}/users/{user['id']}/role-mappings/realm", [grant])
        second = broker_login()
        location = second.headers.get("Location", "")
        assert not location.startswith("https://portal."), (
            "a federated admin got a code on the upstream's word"
        )
        assert "CONFIGURE_TOTP" in location or 'name="totp"' in second.text, (second.status_code, location)
    finally:
        RealmSync(admin, applied).run()
        admin.delete("/admin/realms/upstream")
