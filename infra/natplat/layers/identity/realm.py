"""The site's realm, rendered from the stack file: the one document the realm applier
(`realm_sync.py`) converges Keycloak on, at every `pulumi up`.

Everything here is plain data in Keycloak's admin REST representations (RealmRepresentation,
ClientRepresentation, ComponentRepresentation, …), so what a reviewer reads in the plan is what
Keycloak receives. The document holds the realm's private signing keys and the federation
secrets: it only ever travels as a Pulumi secret and a Kubernetes Secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from natplat.layers.identity.realm_sync import (
    FLOW_PREFIX,
    KEY_PROVIDER,
    LDAP_DIGEST_ATTRIBUTE,
    MANAGED,
    SIGNING_KEY_PREFIX,
)
from natplat.layers.signing import ALGORITHM
from natplat.spec.identity import IdentitySection, MachineClient

AUDIENCE_SCOPE = "platform-audience"
"""The client scope that puts the site's audience in every access token (the APIs check it)."""
FLOW = FLOW_PREFIX
"""The browser login flow: password, then a one-time password for the admin roles."""
SIGNING_PRIORITY = 1000
"""Above the priority (100) of the keys Keycloak generates, so a realm never signs with those."""
PEOPLE_SCOPES = ("basic", "acr", "roles", "profile", "email", "web-origins", AUDIENCE_SCOPE)
MACHINE_SCOPES = ("basic", "roles", AUDIENCE_SCOPE)


@dataclass(frozen=True)
class RealmKey:
    """One generation of the site's signing key, as the realm imports it."""

    generation: str
    private_key_pem: str
    kid: str


def secret_digest(value: str) -> str:
    """A short digest of a write-only value (Keycloak masks it on read), stored beside it so the
    applier sees when the value changed without ever reading it back."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def password_policy(identity: IdentitySection) -> str:
    policy = identity.password_policy
    parts = [
        f"length({policy.min_length})",
        "maxLength(128)",
        "notUsername",
        "notEmail",
        f"passwordHistory({policy.history})" if policy.history else "",
        f"forceExpiredPasswordChange({policy.expire_days})" if policy.expire_days else "",
    ]
    return " and ".join(part for part in parts if part)


def realm_settings(identity: IdentitySection, display_name: str) -> dict[str, Any]:
    brute = identity.brute_force
    return {
        "realm": identity.realm,
        "displayName": display_name,
        "enabled": True,
        "sslRequired": "external",
        "registrationAllowed": False,
        "resetPasswordAllowed": False,
        "rememberMe": False,
        "loginWithEmailAllowed": True,
        "duplicateEmailsAllowed": False,
        "editUsernameAllowed": False,
        # Only what the platform's managed clients get as access tokens is RS256 with the site's
        # keys (chain_attributes); everything else Keycloak signs (ID tokens, the tokens of a
        # client made by hand) is ES256 with a key of its own, which Kong's jwt credential
        # (RS256) and the APIs (RS256 only) never accept: the gateway's first wall.
        "defaultSignatureAlgorithm": OTHER_TOKENS_ALGORITHM,
        "accessTokenLifespan": identity.token_ttl_seconds,
        "ssoSessionIdleTimeout": 1800,
        "ssoSessionMaxLifespan": 36000,
        "revokeRefreshToken": True,
        "refreshTokenMaxReuse": 0,
        "passwordPolicy": password_policy(identity),
        "bruteForceProtected": True,
        "permanentLockout": False,
        "failureFactor": brute.max_failures,
        "waitIncrementSeconds": brute.wait_increment_seconds,
        "maxFailureWaitSeconds": brute.max_wait_seconds,
        "minimumQuickLoginWaitSeconds": 60,
        "quickLoginCheckMilliSeconds": 1000,
        "maxDeltaTimeSeconds": 43200,
        "otpPolicyType": "totp",
        "otpPolicyAlgorithm": "HmacSHA1",
        "otpPolicyDigits": 6,
        "otpPolicyPeriod": 30,
        "eventsEnabled": True,
        "eventsExpiration": 90 * 86400,
        "adminEventsEnabled": True,
        "adminEventsDetailsEnabled": False,
        "browserFlow": FLOW,
    }


def client_scopes(identity: IdentitySection, api_scopes: Sequence[str]) -> list[dict[str, Any]]:
    """The audience scope, and exactly the scopes the site's services declare (`api_scopes`)."""
    scopes: list[dict[str, Any]] = [
        {
            "name": AUDIENCE_SCOPE,
            "description": f"Puts {identity.audience} in the access token's audience",
            "protocol": "openid-connect",
            "attributes": {
                MANAGED: "true",
                "include.in.token.scope": "false",
                "display.on.consent.screen": "false",
            },
            "protocolMappers": [
                {
                    "name": "audience",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "consentRequired": False,
                    "config": {
                        "included.custom.audience": identity.audience,
                        "access.token.claim": "true",
                        "id.token.claim": "false",
                        "introspection.token.claim": "true",
                    },
                }
            ],
        }
    ]
    for scope in sorted(set(api_scopes)):
        scopes.append(
            {
                "name": scope,
                "description": f"API scope {scope}",
                "protocol": "openid-connect",
                "attributes": {
                    MANAGED: "true",
                    "include.in.token.scope": "true",
                    "display.on.consent.screen": "false",
                },
            }
        )
    return scopes


def _public_key_body(pem: str) -> str:
    """What Keycloak stores as a client's `jwt.credential.public.key`: the PEM's base64 body."""
    return "".join(line.strip() for line in pem.strip().splitlines() if not line.startswith("-----"))


def machine_client(client: MachineClient, identity: IdentitySection) -> dict[str, Any]:
    return {
        "clientId": client.id,
        "name": client.id,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "bearerOnly": False,
        "consentRequired": False,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": True,
        "frontchannelLogout": False,
        "fullScopeAllowed": True,
        "clientAuthenticatorType": "client-jwt",
        "redirectUris": [],
        "webOrigins": [],
        "attributes": {
            MANAGED: "true",
            "use.jwks.url": "false",
            "jwt.credential.public.key": _public_key_body(client.public_key),
            "token.endpoint.auth.signing.alg": "RS256",
            "client_credentials.use_refresh_token": "false",
            **chain_attributes(identity),
        },
        "defaultClientScopes": sorted((*MACHINE_SCOPES, *client.scopes)),
        "optionalClientScopes": [],
        "serviceAccountRoles": sorted(client.roles),
    }


def chain_attributes(identity: IdentitySection) -> dict[str, str]:
    """What the chain from Keycloak to Kong and the APIs needs of every token a managed client
    gets, written on each client so that the applier puts it back over a hand edit in the console
    (an attribute the document leaves out would survive it): access tokens live exactly the
    realm's lifetime (Kong's `maximum_expiration` and the APIs' limit are that plus a minute) and
    are signed RS256, the algorithm Kong's credential and the APIs accept."""
    return {
        "access.token.lifespan": str(identity.token_ttl_seconds),
        "access.token.signed.response.alg": ALGORITHM,
    }


def applications(identity: IdentitySection) -> list[dict[str, Any]]:
    return [
        {
            "clientId": app.id,
            "name": app.id,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": True,
            "bearerOnly": False,
            "consentRequired": False,
            "standardFlowEnabled": True,
            "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "serviceAccountsEnabled": False,
            "frontchannelLogout": True,
            "fullScopeAllowed": True,
            "redirectUris": sorted(app.redirect_uris),
            "webOrigins": sorted(app.web_origins),
            "attributes": {
                MANAGED: "true",
                "pkce.code.challenge.method": "S256",
                "post.logout.redirect.uris": "##".join(sorted(app.redirect_uris)),
                "oauth2.device.authorization.grant.enabled": "false",
                **chain_attributes(identity),
            },
            "defaultClientScopes": sorted(PEOPLE_SCOPES),
            "optionalClientScopes": sorted(app.scopes),
            "serviceAccountRoles": [],
        }
        for app in identity.applications
    ]


OTHER_TOKENS_ALGORITHM = "ES256"
"""The realm's default signature algorithm: ID tokens and unmanaged clients' tokens."""
OTHER_TOKENS_KEY = f"{SIGNING_KEY_PREFIX}other-tokens"


def key_providers(keys: Sequence[RealmKey]) -> list[dict[str, Any]]:
    """The site's key generations as imported RSA providers: the first (newest) signs, the others
    stay enabled but passive, so tokens they signed still verify until they expire. Beside them,
    a P-256 key Keycloak generates for everything that is not a managed client's access token
    (OTHER_TOKENS_ALGORITHM): it signs nothing Kong or the APIs trust."""
    other = {
        "name": OTHER_TOKENS_KEY,
        "providerId": "ecdsa-generated",
        "providerType": KEY_PROVIDER,
        "config": {
            "priority": [str(SIGNING_PRIORITY)],
            "enabled": ["true"],
            "active": ["true"],
            "ecdsaEllipticCurveKey": ["P-256"],
        },
    }
    site_keys = [
        {
            "name": f"{SIGNING_KEY_PREFIX}{key.generation}",
            "providerId": "rsa",
            "providerType": KEY_PROVIDER,
            "kid": key.kid,
            "config": {
                "priority": [str(SIGNING_PRIORITY - position)],
                "enabled": ["true"],
                "active": ["true" if position == 0 else "false"],
                "algorithm": [ALGORITHM],
                "privateKey": [key.private_key_pem],
            },
        }
        for position, key in enumerate(keys)
    ]
    return [*site_keys, other]


def identity_providers(identity: IdentitySection, secrets: Mapping[str, str]) -> list[dict[str, Any]]:
    providers = []
    for provider in identity.federation.oidc:
        secret = secrets[provider.alias]
        providers.append(
            {
                "alias": provider.alias,
                "displayName": provider.display_name,
                "providerId": "oidc",
                "enabled": True,
                "trustEmail": False,
                "storeToken": False,
                "linkOnly": False,
                "firstBrokerLoginFlowAlias": "first broker login",
                "postBrokerLoginFlowAlias": POST_BROKER_FLOW,
                "config": {
                    MANAGED: "true",
                    "issuer": provider.issuer,
                    "authorizationUrl": provider.authorization_url,
                    "tokenUrl": provider.token_url,
                    "jwksUrl": provider.jwks_url,
                    "useJwksUrl": "true",
                    "validateSignature": "true",
                    "clientId": provider.client_id,
                    "clientSecret": secret,
                    "platformSecretDigest": secret_digest(secret),
                    "clientAuthMethod": "client_secret_post",
                    "pkceEnabled": "true",
                    "pkceMethod": "S256",
                    "defaultScope": "openid profile email",
                    "syncMode": "IMPORT",
                },
            }
        )
    return providers


def ldap_directory(identity: IdentitySection, bind_credential: str | None) -> dict[str, Any] | None:
    ldap = identity.federation.ldap
    if ldap is None or bind_credential is None:
        return None
    ad = ldap.vendor == "ad"
    return {
        # Keycloak keeps only the LDAP provider's own settings: the digest of the bind password
        # travels beside the component and is kept as a realm attribute (LDAP_DIGEST_ATTRIBUTE).
        "secretDigest": secret_digest(bind_credential),
        "name": "platform-directory",
        "providerId": "ldap",
        "providerType": "org.keycloak.storage.UserStorageProvider",
        "config": {
            "enabled": ["true"],
            "priority": ["0"],
            "vendor": [ldap.vendor],
            "editMode": ["READ_ONLY"],
            "connectionUrl": [ldap.connection_url],
            "useTruststoreSpi": ["always"],
            "connectionPooling": ["true"],
            "authType": ["simple"],
            "bindDn": [ldap.bind_dn],
            "bindCredential": [bind_credential],
            "usersDn": [ldap.users_dn],
            "searchScope": ["2"],
            "pagination": ["true"],
            "usernameLDAPAttribute": ["sAMAccountName" if ad else "uid"],
            "rdnLDAPAttribute": ["cn" if ad else "uid"],
            "uuidLDAPAttribute": ["objectGUID" if ad else "entryUUID"],
            "userObjectClasses": [
                "person, organizationalPerson, user" if ad else "inetOrgPerson, organizationalPerson"
            ],
            "importEnabled": ["true"],
            "syncRegistrations": ["false"],
            "trustEmail": ["false"],
            "fullSyncPeriod": ["-1"],
            "changedSyncPeriod": ["-1"],
        },
    }


def second_factor(identity: IdentitySection, flow: str) -> list[dict[str, Any]]:
    """One one-time-password prompt, once, for anyone who configured one and for anyone holding an
    admin role (who sets one up at that login when missing). Keycloak ANDs the conditions of a
    conditional sub-flow, so the OR is a chain: each admin role's sub-flow runs only when none
    before it ran (`conditional-sub-flow-executed`, not-executed); one sub-flow per condition
    without that chain asked n + 1 times."""
    otp = {"provider": "auth-otp-form", "requirement": "REQUIRED"}
    configured = f"{flow} - otp if configured"
    subflows: list[dict[str, Any]] = [
        {
            "subflow": configured,
            "requirement": "CONDITIONAL",
            "executions": [{"provider": "conditional-user-configured", "requirement": "REQUIRED"}, otp],
        }
    ]
    earlier = [configured]
    for role in identity.admin_roles:
        alias = f"{flow} - otp if {role}"
        holds = {
            "provider": "conditional-user-role",
            "requirement": "REQUIRED",
            "config": {
                "alias": f"{flow} - holds {role}",
                "config": {"condUserRole": role, "negate": "false"},
            },
        }
        unless = [
            {
                "provider": "conditional-sub-flow-executed",
                "requirement": "REQUIRED",
                "config": {
                    "alias": f"{alias} - unless {before.removeprefix(flow + ' - ')}",
                    "config": {"flow_to_check": before, "check_result": "not-executed"},
                },
            }
            for before in earlier
        ]
        subflows.append({"subflow": alias, "requirement": "CONDITIONAL", "executions": [holds, *unless, otp]})
        earlier.append(alias)
    return subflows


def browser_flow(identity: IdentitySection) -> dict[str, Any]:
    """The browser flow: an SSO cookie or an identity provider, else username and password, then
    the second factor (`second_factor`)."""
    second_factors = second_factor(identity, FLOW)
    return {
        "alias": FLOW,
        "description": "Password, then a one-time password for the admin roles (rendered by the platform)",
        "executions": [
            {"provider": "auth-cookie", "requirement": "ALTERNATIVE"},
            {"provider": "identity-provider-redirector", "requirement": "ALTERNATIVE"},
            {
                "subflow": f"{FLOW} - forms",
                "requirement": "ALTERNATIVE",
                "executions": [
                    {"provider": "auth-username-password-form", "requirement": "REQUIRED"},
                    *second_factors,
                ],
            },
        ],
    }


POST_BROKER_FLOW = f"{FLOW} - after a federated login"
"""Runs after every login through an identity provider (and after the first one): the same second
factor as the browser flow, so an admin role means an OTP on every path, whatever the upstream
directory did."""


def post_broker_flow(identity: IdentitySection) -> dict[str, Any]:
    return {
        "alias": POST_BROKER_FLOW,
        "description": "After a federated login: the platform's second factor (rendered by the platform)",
        # Keycloak fails a flow in which nothing ran (every sub-flow conditional, none applying):
        # a person without an admin role or an OTP would be refused. Allowing access first makes
        # the flow succeed unless a second factor applies and is not given.
        "executions": [
            {"provider": "allow-access-authenticator", "requirement": "REQUIRED"},
            *second_factor(identity, POST_BROKER_FLOW),
        ],
    }


def render_realm(
    identity: IdentitySection,
    *,
    api_scopes: Sequence[str],
    display_name: str,
    keys: Sequence[RealmKey],
    oidc_secrets: Mapping[str, str] | None = None,
    ldap_bind_credential: str | None = None,
) -> dict[str, Any]:
    """The whole desired state of the site's realm, as the applier takes it."""
    clients = [machine_client(client, identity) for client in identity.clients] + applications(identity)
    ldap = ldap_directory(identity, ldap_bind_credential)
    settings = realm_settings(identity, display_name)
    if ldap is not None:
        settings["attributes"] = {LDAP_DIGEST_ATTRIBUTE: ldap["secretDigest"]}
    return {
        "realm": identity.realm,
        "settings": settings,
        "clientScopes": client_scopes(identity, api_scopes),
        "roles": [
            {"name": role.name, "description": role.description, "attributes": {MANAGED: ["true"]}}
            for role in identity.roles
        ],
        "clients": sorted(clients, key=lambda client: client["clientId"]),
        "keyProviders": key_providers(keys),
        "identityProviders": identity_providers(identity, oidc_secrets or {}),
        "ldap": ldap,
        "flows": [browser_flow(identity), post_broker_flow(identity)],
    }
