"""Converges a Keycloak realm on the document `realm.py` renders, through Keycloak's admin REST
API, and changes nothing when the realm already matches: run twice, the second run reports no
change. It runs in the cluster as a Job named after the document's digest (a changed realm makes a
new Job), and in the tests against a real Keycloak.

Why not Keycloak's own import: a `KeycloakRealmImport` (and `kc.sh import`) creates a realm once
and never updates it; partial import with OVERWRITE deletes and re-creates clients, which ends
their sessions. Why not keycloak-config-cli: it is the usual tool, but it is published only as a
container image and GitHub release jars, neither of which this project's machines can fetch, so it
could never be tested here; this module is the part of it the platform needs, and nothing more.

Standard library only (it runs from a ConfigMap on a pinned Python image). What it owns:
realm settings (only the keys rendered), client scopes, realm roles, clients, their default and
optional scopes and service-account roles marked `platform.managed`, the `platform-signing-*` key
providers (and it removes Keycloak's own generated RS256 key so that only the site's keys sign),
OIDC identity providers, the LDAP directory and the `platform browser` flows. Managed objects that
are no longer rendered are removed; anything an administrator added by hand is left alone.

Usage: python3 realm_sync.py --url URL --realm-file FILE --client-id ID --client-secret-file FILE
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

MANAGED = "platform.managed"
SIGNING_KEY_PREFIX = "platform-signing-"
FLOW_PREFIX = "platform browser"
MASK = "**********"
LDAP_DIGEST_ATTRIBUTE = "platform.ldapSecretDigest"
"""Realm attribute holding the digest of the LDAP bind password last applied (Keycloak keeps no
unknown setting on an LDAP provider, and never returns the password)."""
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"
USER_STORAGE = "org.keycloak.storage.UserStorageProvider"


class KeycloakError(RuntimeError):
    pass


class Admin:
    """A small admin REST client: a service-account token from the master realm, JSON in and out."""

    def __init__(self, url: str, client_id: str, client_secret: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self._token = ""
        self._expires = 0.0

    def _bearer(self) -> str:
        if time.monotonic() > self._expires:
            body = urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                }
            ).encode()
            reply = self._send(
                "POST", "/realms/master/protocol/openid-connect/token", body, auth=False, form=True
            )
            self._token = reply["access_token"]
            self._expires = time.monotonic() + max(5, int(reply.get("expires_in", 60)) - 15)
        return self._token

    def _send(
        self, method: str, path: str, body: bytes | None, *, auth: bool = True, form: bool = False
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self._bearer()}"
        url = f"{self.url}{path}"
        if not url.startswith(("http://", "https://")):
            raise KeycloakError(f"{url}: not an HTTP URL")
        request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - our own URL
                raw = response.read()
                location = response.headers.get("Location")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise KeycloakError(f"{method} {path}: HTTP {error.code}: {detail}") from None
        if raw:
            return json.loads(raw)
        return {"location": location} if location else None

    def get(self, path: str) -> Any:
        return self._send("GET", path, None)

    def post(self, path: str, data: Any) -> Any:
        return self._send("POST", path, json.dumps(data).encode())

    def put(self, path: str, data: Any) -> Any:
        return self._send("PUT", path, json.dumps(data).encode())

    def delete(self, path: str, data: Any = None) -> Any:
        return self._send("DELETE", path, None if data is None else json.dumps(data).encode())


def matches(desired: Any, current: Any) -> bool:  # noqa: PLR0911 - one case per shape
    """Whether `current` already holds everything `desired` says: mappings are compared key by
    key on the desired keys only (Keycloak adds defaults of its own), lists of strings as sets,
    and a masked write-only value matches (its digest, stored beside it, tells a change)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(matches(v, current.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(current, list) or len(desired) != len(current):
            return False
        if all(isinstance(item, str) for item in desired) and all(isinstance(item, str) for item in current):
            if len(desired) == 1 and current == [MASK]:
                return True
            return sorted(desired) == sorted(current)
        return all(matches(d, c) for d, c in zip(desired, current, strict=True))
    if isinstance(desired, str) and current == MASK:
        return True
    return desired == current


class RealmSync:
    def __init__(self, admin: Admin, document: dict[str, Any]) -> None:
        self.admin = admin
        self.doc = document
        self.realm = document["realm"]
        self.base = f"/admin/realms/{urllib.parse.quote(self.realm)}"
        self.changes: list[str] = []

    def changed(self, what: str) -> None:
        self.changes.append(what)
        print(json.dumps({"message": what, "realm": self.realm}), flush=True)

    # ------------------------------------------------------------------ realm

    def ensure_realm(self) -> str:
        try:
            realm = self.admin.get(self.base)
        except KeycloakError as error:
            if "HTTP 404" not in str(error):
                raise
            self.admin.post("/admin/realms", {"realm": self.realm, "enabled": True})
            self.changed("created realm")
            realm = self.admin.get(self.base)
        return str(realm["id"])

    def sync_settings(self) -> None:
        desired = self.doc["settings"]
        current = self.admin.get(self.base)
        if not matches(desired, current):
            self.admin.put(self.base, desired)
            self.changed("updated realm settings")

    # ------------------------------------------------------------------ scopes and roles

    def sync_client_scopes(self) -> dict[str, str]:
        current = {scope["name"]: scope for scope in self.admin.get(f"{self.base}/client-scopes")}
        wanted = {scope["name"] for scope in self.doc["clientScopes"]}
        for scope in self.doc["clientScopes"]:
            existing = current.get(scope["name"])
            body = {k: v for k, v in scope.items() if k != "protocolMappers"}
            if existing is None:
                self.admin.post(f"{self.base}/client-scopes", scope)
                self.changed(f"created client scope {scope['name']}")
                continue
            if not matches(body, existing):
                self.admin.put(f"{self.base}/client-scopes/{existing['id']}", {**existing, **body})
                self.changed(f"updated client scope {scope['name']}")
            self._sync_mappers(f"{self.base}/client-scopes/{existing['id']}", scope, existing, scope["name"])
        for name, existing in current.items():
            if name not in wanted and existing.get("attributes", {}).get(MANAGED) == "true":
                self.admin.delete(f"{self.base}/client-scopes/{existing['id']}")
                self.changed(f"deleted client scope {name}")
        return {scope["name"]: scope["id"] for scope in self.admin.get(f"{self.base}/client-scopes")}

    def _sync_mappers(self, path: str, desired: dict[str, Any], existing: dict[str, Any], what: str) -> None:
        have = {mapper["name"]: mapper for mapper in existing.get("protocolMappers", [])}
        for mapper in desired.get("protocolMappers", []):
            found = have.get(mapper["name"])
            if found is None:
                self.admin.post(f"{path}/protocol-mappers/models", mapper)
                self.changed(f"created mapper {mapper['name']} of {what}")
            elif not matches(mapper, found):
                self.admin.put(f"{path}/protocol-mappers/models/{found['id']}", {**found, **mapper})
                self.changed(f"updated mapper {mapper['name']} of {what}")

    def sync_roles(self) -> None:
        current = {
            role["name"]: role for role in self.admin.get(f"{self.base}/roles?briefRepresentation=false")
        }
        wanted = {role["name"] for role in self.doc["roles"]}
        for role in self.doc["roles"]:
            existing = current.get(role["name"])
            path = f"{self.base}/roles/{urllib.parse.quote(role['name'])}"
            if existing is None:
                self.admin.post(f"{self.base}/roles", role)
                self.changed(f"created role {role['name']}")
            elif not matches(role, existing):
                self.admin.put(path, {**existing, **role})
                self.changed(f"updated role {role['name']}")
        for name, existing in current.items():
            if name not in wanted and (existing.get("attributes") or {}).get(MANAGED) == ["true"]:
                self.admin.delete(f"{self.base}/roles/{urllib.parse.quote(name)}")
                self.changed(f"deleted role {name}")

    # ------------------------------------------------------------------ clients

    def sync_clients(self, scope_ids: dict[str, str]) -> None:
        current = {client["clientId"]: client for client in self.admin.get(f"{self.base}/clients")}
        wanted = {client["clientId"] for client in self.doc["clients"]}
        extras = ("defaultClientScopes", "optionalClientScopes", "serviceAccountRoles")
        for client in self.doc["clients"]:
            body = {k: v for k, v in client.items() if k not in extras}
            existing = current.get(client["clientId"])
            if existing is None:
                self.admin.post(f"{self.base}/clients", body)
                self.changed(f"created client {client['clientId']}")
                existing = next(
                    c
                    for c in self.admin.get(
                        f"{self.base}/clients?clientId={urllib.parse.quote(client['clientId'])}"
                    )
                )
            elif not matches(body, existing):
                self.admin.put(f"{self.base}/clients/{existing['id']}", {**existing, **body})
                self.changed(f"updated client {client['clientId']}")
            path = f"{self.base}/clients/{existing['id']}"
            for kind, key in (("default", "defaultClientScopes"), ("optional", "optionalClientScopes")):
                self._sync_client_scopes(path, kind, client[key], scope_ids, client["clientId"])
            if client.get("serviceAccountsEnabled"):
                self._sync_service_roles(path, client["serviceAccountRoles"], client["clientId"])
        for client_id, existing in current.items():
            if client_id not in wanted and (existing.get("attributes") or {}).get(MANAGED) == "true":
                self.admin.delete(f"{self.base}/clients/{existing['id']}")
                self.changed(f"deleted client {client_id}")

    def _sync_client_scopes(
        self, path: str, kind: str, names: list[str], scope_ids: dict[str, str], client_id: str
    ) -> None:
        have = {scope["name"]: scope["id"] for scope in self.admin.get(f"{path}/{kind}-client-scopes")}
        for name in names:
            if name not in have:
                if name not in scope_ids:
                    raise KeycloakError(f"client {client_id}: client scope {name} does not exist")
                self.admin.put(f"{path}/{kind}-client-scopes/{scope_ids[name]}", {})
                self.changed(f"added {kind} scope {name} to client {client_id}")
        for name, scope_id in have.items():
            if name not in names:
                self.admin.delete(f"{path}/{kind}-client-scopes/{scope_id}")
                self.changed(f"removed {kind} scope {name} from client {client_id}")

    def _sync_service_roles(self, path: str, names: list[str], client_id: str) -> None:
        user = self.admin.get(f"{path}/service-account-user")
        mapping = f"{self.base}/users/{user['id']}/role-mappings/realm"
        have = {role["name"]: role for role in self.admin.get(mapping)}
        managed = {role["name"] for role in self.doc["roles"]}
        add = [self.admin.get(f"{self.base}/roles/{urllib.parse.quote(n)}") for n in names if n not in have]
        remove = [role for name, role in have.items() if name in managed and name not in names]
        if add:
            self.admin.post(mapping, add)
            self.changed(f"granted {', '.join(r['name'] for r in add)} to client {client_id}")
        if remove:
            self.admin.delete(mapping, remove)
            self.changed(f"revoked {', '.join(r['name'] for r in remove)} from client {client_id}")

    # ------------------------------------------------------------------ keys and federation

    def sync_keys(self, realm_id: str) -> None:
        components = self.admin.get(f"{self.base}/components?type={KEY_PROVIDER}")
        keys = {key.get("providerId"): key for key in self.admin.get(f"{self.base}/keys").get("keys", [])}
        by_name = {c["name"]: c for c in components}
        wanted = {provider["name"] for provider in self.doc["keyProviders"]}
        for provider in self.doc["keyProviders"]:
            body = {k: v for k, v in provider.items() if k != "kid"} | {"parentId": realm_id}
            existing = by_name.get(provider["name"])
            if existing is None:
                self.admin.post(f"{self.base}/components", body)
                self.changed(f"created key provider {provider['name']}")
                continue
            live = keys.get(existing["id"])
            # A generated key (no `kid` in the document) is Keycloak's to keep: only its settings count.
            same_key = "kid" not in provider or (live is not None and live.get("kid") == provider["kid"])
            if not same_key or not matches(body["config"], existing.get("config", {})):
                self.admin.put(
                    f"{self.base}/components/{existing['id']}", {**existing, **body, "id": existing["id"]}
                )
                self.changed(f"updated key provider {provider['name']}")
        for component in components:
            name = component["name"]
            ours = name.startswith(SIGNING_KEY_PREFIX)
            generated_signer = component.get("providerId") == "rsa-generated" and component.get(
                "config", {}
            ).get("algorithm", ["RS256"]) == ["RS256"]
            if (ours and name not in wanted) or generated_signer:
                self.admin.delete(f"{self.base}/components/{component['id']}")
                self.changed(f"deleted key provider {name}")

    def sync_identity_providers(self) -> None:
        current = {idp["alias"]: idp for idp in self.admin.get(f"{self.base}/identity-provider/instances")}
        wanted = {idp["alias"] for idp in self.doc["identityProviders"]}
        for idp in self.doc["identityProviders"]:
            existing = current.get(idp["alias"])
            path = f"{self.base}/identity-provider/instances/{urllib.parse.quote(idp['alias'])}"
            if existing is None:
                self.admin.post(f"{self.base}/identity-provider/instances", idp)
                self.changed(f"created identity provider {idp['alias']}")
            elif not matches(idp, existing):
                self.admin.put(
                    path, {**existing, **idp, "config": {**existing.get("config", {}), **idp["config"]}}
                )
                self.changed(f"updated identity provider {idp['alias']}")
        for alias, existing in current.items():
            if alias not in wanted and existing.get("config", {}).get(MANAGED) == "true":
                self.admin.delete(f"{self.base}/identity-provider/instances/{urllib.parse.quote(alias)}")
                self.changed(f"deleted identity provider {alias}")

    def sync_ldap(self, realm_id: str) -> None:
        desired = dict(self.doc["ldap"]) if self.doc.get("ldap") else None
        current = [
            c
            for c in self.admin.get(f"{self.base}/components?type={USER_STORAGE}")
            if c.get("name") == "platform-directory"
        ]
        if desired is None:
            for component in current:
                self.admin.delete(f"{self.base}/components/{component['id']}")
                self.changed("deleted LDAP directory")
            return
        digest = desired.pop("secretDigest", None)
        applied = (self.admin.get(self.base).get("attributes") or {}).get(LDAP_DIGEST_ATTRIBUTE)
        body = desired | {"parentId": realm_id}
        if not current:
            self.admin.post(f"{self.base}/components", body)
            self.changed("created LDAP directory")
        elif not matches(body, current[0]) or digest != applied:
            existing = current[0]
            self.admin.put(
                f"{self.base}/components/{existing['id']}",
                {
                    **existing,
                    **body,
                    "id": existing["id"],
                    "config": {**existing["config"], **body["config"]},
                },
            )
            self.changed("updated LDAP directory")

    # ------------------------------------------------------------------ flows

    def _flow_shape(self, alias: str) -> list[tuple[Any, ...]]:
        shape = []
        for item in self.admin.get(
            f"{self.base}/authentication/flows/{urllib.parse.quote(alias)}/executions"
        ):
            config = None
            if item.get("authenticationConfig"):
                found = self.admin.get(f"{self.base}/authentication/config/{item['authenticationConfig']}")
                config = (found.get("alias"), tuple(sorted(found.get("config", {}).items())))
            name = item.get("displayName") if item.get("authenticationFlow") else item.get("providerId")
            shape.append((item["level"], name, item["requirement"], config))
        return shape

    @staticmethod
    def _desired_shape(executions: list[dict[str, Any]], level: int = 0) -> list[tuple[Any, ...]]:
        shape: list[tuple[Any, ...]] = []
        for execution in executions:
            config = execution.get("config")
            frozen = (config["alias"], tuple(sorted(config["config"].items()))) if config else None
            name = execution.get("subflow") or execution["provider"]
            shape.append((level, name, execution["requirement"], frozen))
            if "subflow" in execution:
                shape.extend(RealmSync._desired_shape(execution["executions"], level + 1))
        return shape

    def _build(self, alias: str, executions: list[dict[str, Any]]) -> None:
        quoted = urllib.parse.quote(alias)
        for execution in executions:
            if "subflow" in execution:
                self.admin.post(
                    f"{self.base}/authentication/flows/{quoted}/executions/flow",
                    {
                        "alias": execution["subflow"],
                        "type": "basic-flow",
                        "provider": "registration-page-form",
                    },
                )
            else:
                self.admin.post(
                    f"{self.base}/authentication/flows/{quoted}/executions/execution",
                    {"provider": execution["provider"]},
                )
            added = self.admin.get(f"{self.base}/authentication/flows/{quoted}/executions")
            mine = [e for e in added if e["level"] == 0][-1]
            mine["requirement"] = execution["requirement"]
            self.admin.put(f"{self.base}/authentication/flows/{quoted}/executions", mine)
            if execution.get("config"):
                self.admin.post(
                    f"{self.base}/authentication/executions/{mine['id']}/config", execution["config"]
                )
            if "subflow" in execution:
                self._build(execution["subflow"], execution["executions"])

    def sync_flows(self) -> None:
        flows = {flow["alias"]: flow for flow in self.admin.get(f"{self.base}/authentication/flows")}
        for flow in self.doc["flows"]:
            existing = flows.get(flow["alias"])
            if existing is not None and self._flow_shape(flow["alias"]) == self._desired_shape(
                flow["executions"]
            ):
                continue
            if existing is not None:
                # A flow in use cannot be deleted: bind the built-in one for the moment it takes;
                # the realm settings bind ours again right after.
                realm = self.admin.get(self.base)
                if realm.get("browserFlow") == flow["alias"]:
                    self.admin.put(self.base, {"browserFlow": "browser"})
                # Likewise the identity providers that name it; sync_identity_providers names it again.
                for idp in self.admin.get(f"{self.base}/identity-provider/instances"):
                    if idp.get("postBrokerLoginFlowAlias") == flow["alias"]:
                        self.admin.put(
                            f"{self.base}/identity-provider/instances/{urllib.parse.quote(idp['alias'])}",
                            {**idp, "postBrokerLoginFlowAlias": ""},
                        )
                self.admin.delete(f"{self.base}/authentication/flows/{existing['id']}")
            self.admin.post(
                f"{self.base}/authentication/flows",
                {
                    "alias": flow["alias"],
                    "description": flow["description"],
                    "providerId": "basic-flow",
                    "topLevel": True,
                    "builtIn": False,
                },
            )
            self._build(flow["alias"], flow["executions"])
            self.changed(f"{'rebuilt' if existing else 'created'} flow {flow['alias']}")

    # ------------------------------------------------------------------ all

    def run(self) -> list[str]:
        realm_id = self.ensure_realm()
        self.sync_keys(realm_id)
        scope_ids = self.sync_client_scopes()
        self.sync_roles()
        self.sync_clients(scope_ids)
        self.sync_flows()  # before the providers, which name the post-broker flow
        self.sync_identity_providers()
        self.sync_ldap(realm_id)
        self.sync_settings()
        return self.changes


def wait_until_ready(admin: Admin, attempts: int = 60, pause: float = 5.0) -> None:
    for attempt in range(attempts):
        try:
            admin.get("/admin/realms/master")
            return
        except (KeycloakError, OSError) as error:
            if attempt == attempts - 1:
                raise KeycloakError(f"Keycloak did not answer in time: {error}") from None
            time.sleep(pause)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--realm-file", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret-file", required=True)
    args = parser.parse_args(argv)
    with open(args.realm_file, encoding="utf-8") as handle:
        document = json.load(handle)
    with open(args.client_secret_file, encoding="utf-8") as handle:
        secret = handle.read().strip()
    admin = Admin(args.url, args.client_id, secret)
    try:
        wait_until_ready(admin)
        changes = RealmSync(admin, document).run()
    except KeycloakError as error:
        print(
            json.dumps({"message": f"realm not applied: {error}", "realm": document.get("realm")}), flush=True
        )
        return 1
    print(
        json.dumps({"message": "realm applied", "realm": document["realm"], "changes": len(changes)}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
