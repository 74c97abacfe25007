"""`national-platform:identity`: who logs in (people and machines) and who signs the tokens.

Keycloak serves one realm per site, rendered from this section by the program and applied on
every `pulumi up`. Machine clients authenticate with a JWT they sign with their own key
(`private_key_jwt`, RFC 7523): only their public key is configured here, so nothing about a
client is secret on the platform's side. People log in through applications (authorization
code + PKCE). The realm signs with the site's own key generations (`signingKeys`), the same
keys Kong and the APIs verify with.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import AfterValidator, Field, model_validator

from natplat.spec.sensitive import SecretValue
from natplat.spec.settings import DnsLabel, Origin, Scope, Settings, problem

MIN_CLIENT_RSA_BITS = 2048
"""NIST SP 800-131A; what Keycloak and the kit's token guard accept as well."""

KEYCLOAK_RESERVED_CLIENTS: dict[str, str] = {
    name: f"'{name}' is a client Keycloak creates in every realm"
    for name in (
        "account",
        "account-console",
        "admin-cli",
        "broker",
        "realm-management",
        "security-admin-console",
    )
}

RoleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]


def _check_public_key(value: str) -> str:
    if "PRIVATE KEY" in value:
        raise ValueError(
            "is a private key: configure only the client's public key (-----BEGIN PUBLIC KEY-----); "
            "the private key never leaves the client"
        )
    try:
        key = load_pem_public_key(value.encode())
    except ValueError:
        raise ValueError("is not a PEM public key (-----BEGIN PUBLIC KEY----- …)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("must be an RSA public key (the client signs its assertions with RS256)")
    if key.key_size < MIN_CLIENT_RSA_BITS:
        raise ValueError(f"is a {key.key_size}-bit RSA key; at least {MIN_CLIENT_RSA_BITS} bits are needed")
    return value


PublicKeyPem = Annotated[str, AfterValidator(_check_public_key)]


def _check_redirect(value: str) -> str:
    local = value.startswith("http://localhost:") or value.startswith("http://127.0.0.1:")
    if not (value.startswith("https://") or local) or "*" in value or "#" in value:
        raise ValueError(
            "must be an exact https:// URL (http://localhost:<port> for development), "
            "without wildcard or fragment (RFC 9700: redirect URIs are compared exactly)"
        )
    return value


RedirectUri = Annotated[str, AfterValidator(_check_redirect)]


def _check_https_url(value: str) -> str:
    if not value.startswith("https://") or " " in value or len(value) <= len("https://"):
        raise ValueError("must be an https:// URL")
    return value.rstrip("/")


HttpsUrl = Annotated[str, AfterValidator(_check_https_url)]


class MachineClient(Settings):
    """A machine client: client-credentials grant, authenticated by a JWT it signs itself."""

    id: DnsLabel
    scopes: Annotated[tuple[Scope, ...], Field(min_length=1)]
    roles: tuple[RoleName, ...] = ()
    public_key: PublicKeyPem


class Application(Settings):
    """A client people log in through: a public client, authorization code with PKCE (S256)."""

    id: DnsLabel
    redirect_uris: Annotated[tuple[RedirectUri, ...], Field(min_length=1)]
    web_origins: tuple[Origin, ...] = ()
    scopes: tuple[Scope, ...] = ()
    """Scopes the application may ask for on a person's behalf (optional scopes)."""


class RealmRole(Settings):
    name: RoleName
    description: Annotated[str, Field(min_length=1, max_length=200)]


class PasswordPolicy(Settings):
    min_length: Annotated[int, Field(ge=8, le=128)] = 12
    history: Annotated[int, Field(ge=0, le=24)] = 5
    expire_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class BruteForce(Settings):
    """Keycloak's brute-force detection: temporary lockout, growing with each failure."""

    max_failures: Annotated[int, Field(ge=3, le=30)] = 5
    wait_increment_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    max_wait_seconds: Annotated[int, Field(ge=60, le=86400)] = 900


class OidcProvider(Settings):
    """Another OpenID Connect provider people may log in with (an administration's own)."""

    alias: DnsLabel
    display_name: Annotated[str, Field(min_length=1, max_length=100)]
    issuer: HttpsUrl
    authorization_url: HttpsUrl
    token_url: HttpsUrl
    jwks_url: HttpsUrl
    client_id: Annotated[str, Field(min_length=1, max_length=200)]
    client_secret: SecretValue


class LdapDirectory(Settings):
    """A directory whose people log in to the realm (read-only: the directory stays the source)."""

    connection_url: Annotated[str, Field(pattern=r"^ldaps://[a-z0-9.-]+(:\d{2,5})?$")]
    vendor: Literal["ad", "other"]
    bind_dn: Annotated[str, Field(min_length=3, max_length=500)]
    bind_credential: SecretValue
    users_dn: Annotated[str, Field(min_length=3, max_length=500)]


class Federation(Settings):
    ldap: LdapDirectory | None = None
    oidc: tuple[OidcProvider, ...] = ()


DATABASE_CLUSTER = "keycloak-db"
"""The identity database's CloudNativePG Cluster, until a recovery names another."""


def _check_target_time(value: str) -> str:
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if (
        parsed is None
        or parsed.tzinfo is None
        or parsed.utcoffset() != datetime.timedelta(0)
        or "T" not in value
    ):
        raise ValueError(
            "must be an RFC 3339 time in UTC, e.g. 2026-11-28T03:00:00Z (the zone is not guessed: "
            "a wrong one restores to the wrong hour)"
        )
    return value


TargetTime = Annotated[str, AfterValidator(_check_target_time)]


class DatabaseRecovery(Settings):
    """Restore the identity database to a point in time into a new Cluster, and move Keycloak
    onto it: base backup and WAL of `source` from the object store, replayed up to `targetTime`.
    The Cluster that was live is kept, no longer managed (README, "Restoring the identity
    database")."""

    cluster: DnsLabel
    """The new Cluster's name: never one that has backups in the store already."""
    source: DnsLabel = DATABASE_CLUSTER
    """The Cluster whose backups are replayed (after an earlier recovery, that one's name)."""
    target_time: TargetTime

    @model_validator(mode="after")
    def _distinct(self) -> DatabaseRecovery:
        if self.cluster == self.source:
            raise problem(
                "cluster",
                f"must differ from source ('{self.source}'): the new Cluster archives under its own "
                "name, and must never write into the backups it restores from",
            )
        return self


def _unique(values: list[str], key: str, field: str) -> None:
    for index, value in enumerate(values):
        if value in values[:index]:
            raise problem(
                f"{key}[{index}].{field}", f"'{value}' is already {key}[{values.index(value)}].{field}"
            )


class IdentitySection(Settings):
    """`national-platform:identity`: Keycloak, its realm and the site's signing keys."""

    enabled: bool = True
    hostname: DnsLabel = "auth"
    realm: DnsLabel = "platform"
    audience: Annotated[str, Field(min_length=3, max_length=100)] = "national-platform"
    token_ttl_seconds: Annotated[int, Field(ge=60, le=3600)] = 900
    signing_keys: Annotated[tuple[DnsLabel, ...], Field(min_length=1, max_length=2)] = ("primary",)
    """Generations of the token-signing key: the first signs, every one is trusted. A rotation
    lists two (new first) for one token lifetime, then drops the old one."""
    roles: tuple[RealmRole, ...] = (
        RealmRole(name="platform-admin", description="Administers the platform; must use a second factor"),
    )
    admin_roles: tuple[RoleName, ...] = ("platform-admin",)
    """Roles whose holders must log in with a one-time password (TOTP) as a second factor."""
    clients: tuple[MachineClient, ...] = ()
    applications: tuple[Application, ...] = ()
    password_policy: PasswordPolicy = PasswordPolicy()
    brute_force: BruteForce = BruteForce()
    federation: Federation = Federation()
    database_recovery: DatabaseRecovery | None = None

    @property
    def database_cluster(self) -> str:
        """The identity database's live Cluster."""
        return self.database_recovery.cluster if self.database_recovery else DATABASE_CLUSTER

    @model_validator(mode="after")
    def _consistent(self) -> IdentitySection:
        if len(set(self.signing_keys)) != len(self.signing_keys):
            raise problem("signingKeys", "lists the same key generation twice")
        names = [role.name for role in self.roles]
        _unique(names, "roles", "name")
        _unique([p.alias for p in self.federation.oidc], "federation.oidc", "alias")
        for index, name in enumerate(self.admin_roles):
            if name not in names:
                raise problem(f"adminRoles[{index}]", f"names '{name}', which is not one of identity.roles")
        for index, client in enumerate(self.clients):
            for position, role in enumerate(client.roles):
                if role not in names:
                    raise problem(
                        f"clients[{index}].roles[{position}]",
                        f"names '{role}', which is not one of identity.roles",
                    )
        seen: dict[str, str] = {}
        for kind, entries in (("clients", self.clients), ("applications", self.applications)):
            for index, entry in enumerate(entries):
                at = f"{kind}[{index}].id"
                if entry.id in KEYCLOAK_RESERVED_CLIENTS:
                    raise problem(at, KEYCLOAK_RESERVED_CLIENTS[entry.id])
                if entry.id in seen:
                    raise problem(
                        at, f"'{entry.id}' is already {seen[entry.id]}: client ids are unique in the realm"
                    )
                seen[entry.id] = at
        return self
