"""The identity layer under mocks, for every stack: Keycloak through its operator, sized by
profile, its realm as a secret document applied by a content-named Job, its PostgreSQL on
CloudNativePG, its route (realm endpoints only), its network policies, and what an air-gapped
site pulls. What Keycloak does with the realm is tested against a real Keycloak in
test_identity_keycloak.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import stack_run
from harness import RANDOM_RESULT, ROOT, ProgramRun, fake_key_pair, secret_at
from natplat.layers.identity.database import CLUSTER, CREDENTIALS
from natplat.layers.identity.keycloak import (
    BOOTSTRAP_SERVICE,
    BOOTSTRAP_USER,
    KEYCLOAK_POD_LABELS,
    OPERATOR_RESOURCES,
    adapt_operator_object,
)
from natplat.layers.identity.realm import AUDIENCE_SCOPE, FLOW, SIGNING_PRIORITY, render_realm
from natplat.layers.identity.realm_sync import LDAP_DIGEST_ATTRIBUTE
from natplat.spec.catalog import CNPG_CHART, IDENTITY_IMAGES, KEYCLOAK_OPERATOR_MANIFESTS
from natplat.spec.identity import LdapDirectory
from natplat.spec.sensitive import SecretValue
from natplat.spec.stackfile import load_stack_file

IDENTITY_NS = "platform-identity"
DATABASES_NS = "platform-databases"


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def keycloak(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.resources if r.kind == "Keycloak"]
    return found


def database(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.resources if r.kind == "Cluster"]
    return found


def realm(run: ProgramRun) -> dict[str, Any]:
    return json.loads(run.named("keycloak-realm").inputs["stringData"]["realm.json"])


def named(run: ProgramRun, kind: str, name: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.kubernetes(kind) if r.metadata.get("name") == name]
    return found


# ---------------------------------------------------------------------------- Keycloak


@pytest.mark.parametrize(("stack", "instances"), [("coast", 1), ("local", 1), ("north", 2), ("capital", 3)])
def test_instances_follow_the_profile_with_a_budget_and_a_spread_where_there_are_several(
    stack: str, instances: int
) -> None:
    run = stack_run(stack)
    spec = keycloak(run)["spec"]
    assert spec["instances"] == instances
    budgets = [r for r in run.kubernetes("PodDisruptionBudget") if r.metadata["namespace"] == IDENTITY_NS]
    spread = spec["scheduling"].get("topologySpreadConstraints", [])
    if instances == 1:
        assert not budgets and not spread
    else:
        (budget,) = budgets
        assert budget.inputs["spec"]["maxUnavailable"] == 1
        assert budget.inputs["spec"]["selector"]["matchLabels"] == KEYCLOAK_POD_LABELS
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_keycloak_runs_behind_kong_on_the_sites_database_with_generated_bootstrap_secrets(
    run: ProgramRun,
) -> None:
    site = site_of(run)
    spec = keycloak(run)["spec"]
    assert spec["hostname"] == {
        "hostname": f"https://{site.identity.hostname}.{site.site.domain}",
        "strict": True,
        "backchannelDynamic": False,
    }
    assert spec["proxy"] == {"headers": "xforwarded"}  # Kong sets X-Forwarded-*
    assert spec["ingress"] == {"enabled": False}  # the route is ours, through Kong
    assert spec["db"]["host"] == f"{CLUSTER}-rw.{DATABASES_NS}.svc.cluster.local"
    assert spec["db"]["usernameSecret"] == {"name": CREDENTIALS, "key": "username"}
    assert spec["db"]["passwordSecret"] == {"name": CREDENTIALS, "key": "password"}
    assert spec["bootstrapAdmin"] == {
        "user": {"secret": BOOTSTRAP_USER},
        "service": {"secret": BOOTSTRAP_SERVICE},
    }
    for name, key in (
        (BOOTSTRAP_USER, "password"),
        (BOOTSTRAP_SERVICE, "client-secret"),
        (CREDENTIALS, "password"),
    ):
        (secret,) = [
            r
            for r in run.kubernetes("Secret")
            if r.metadata["name"] == name and r.metadata["namespace"] == IDENTITY_NS
        ]
        assert secret.inputs["stringData"][key].startswith(RANDOM_RESULT)
        assert secret_at(secret.raw_inputs, "stringData", key)
    resources = site.sizing.keycloak.resources
    assert spec["resources"] == {
        "requests": {"cpu": resources.cpu, "memory": resources.memory},
        "limits": {"memory": resources.memory_limit},
    }
    pod = spec["unsupported"]["podTemplate"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_route_serves_the_site_realm_and_nothing_of_the_admin(run: ProgramRun) -> None:
    site = site_of(run)
    ingress = named(run, "Ingress", site.identity.hostname)
    (rule,) = ingress["spec"]["rules"]
    paths = [p["path"] for p in rule["http"]["paths"]]
    assert paths == [f"/realms/{site.identity.realm}", "/resources"]
    assert not any(p.startswith("/admin") or "master" in p for p in paths)
    assert {p["backend"]["service"]["name"] for p in rule["http"]["paths"]} == {"keycloak-service"}
    assert "rate-limit" in ingress["metadata"]["annotations"]["konghq.com/plugins"]


def test_the_operator_manifests_are_pinned_and_fetched_from_the_mirror_on_air_gapped_sites() -> None:
    files = {r.name: r.inputs["file"] for r in stack_run("north").of_type("kubernetes:yaml/v2:ConfigFile")}
    assert files == {
        f"keycloak-{key}": f"https://mirror.north.platform.gov.example/manifests/{m.mirror_path}"
        for key, m in KEYCLOAK_OPERATOR_MANIFESTS.items()
    } | {"keycloak-operator": files["keycloak-operator"]}
    assert files["keycloak-operator"].endswith("/keycloak-k8s-resources/26.7.3/kubernetes/kubernetes.yml")
    online = {r.inputs["file"] for r in stack_run("capital").of_type("kubernetes:yaml/v2:ConfigFile")}
    assert online == {m.upstream for m in KEYCLOAK_OPERATOR_MANIFESTS.values()}
    assert keycloak(stack_run("north"))["spec"]["image"] == (
        "mirror.north.platform.gov.example/upstream/quay.io/keycloak/keycloak:26.7.3"
    )


# The operator's upstream manifest, as keycloak-k8s-resources publishes it (the objects' shape at
# 26.x: a namespaced ServiceAccount, Role and Deployment, ClusterRoles, and a ClusterRoleBinding
# whose subject names the namespace `keycloak`).
UPSTREAM_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "keycloak-operator", "labels": {"app.kubernetes.io/name": "keycloak-operator"}},
    "spec": {
        "template": {
            "spec": {
                "serviceAccountName": "keycloak-operator",
                "containers": [
                    {
                        "name": "keycloak-operator",
                        "image": "quay.io/keycloak/keycloak-operator:26.7.3",
                        "imagePullPolicy": "Always",
                        "env": [
                            {
                                "name": "KUBERNETES_NAMESPACE",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                            },
                            {"name": "RELATED_IMAGE_KEYCLOAK", "value": "quay.io/keycloak/keycloak:26.7.3"},
                        ],
                        "resources": {
                            "limits": {"cpu": "700m", "memory": "450Mi"},
                            "requests": {"cpu": "300m"},
                        },
                    }
                ],
            }
        }
    },
}


def test_the_operator_deployment_is_adapted_hardened_and_pulled_from_the_mirror() -> None:
    mirror = "mirror.north.platform.gov.example/upstream"
    adapted = adapt_operator_object(
        json.loads(json.dumps(UPSTREAM_DEPLOYMENT)),
        "platform-identity",
        f"{mirror}/quay.io/keycloak/keycloak-operator:26.7.3",
        f"{mirror}/quay.io/keycloak/keycloak:26.7.3",
        "registry-pull",
    )
    assert adapted["metadata"]["namespace"] == "platform-identity"
    pod = adapted["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == f"{mirror}/quay.io/keycloak/keycloak-operator:26.7.3"
    env = {e["name"]: e for e in container["env"]}
    assert env["RELATED_IMAGE_KEYCLOAK"]["value"] == f"{mirror}/quay.io/keycloak/keycloak:26.7.3"
    assert "valueFrom" in env["KUBERNETES_NAMESPACE"]
    assert container["resources"] == OPERATOR_RESOURCES  # no CPU limit, as everywhere
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "readOnlyRootFilesystem": True,
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["imagePullSecrets"] == [{"name": "registry-pull"}]
    assert pod["priorityClassName"] == "national-platform-infrastructure"


def test_the_operator_cluster_binding_names_our_namespace_and_cluster_objects_stay_cluster_wide() -> None:
    binding = {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "keycloak-operator-clusterrole-binding"},
        "roleRef": {"kind": "ClusterRole", "name": "keycloak-operator-clusterrole"},
        "subjects": [{"kind": "ServiceAccount", "name": "keycloak-operator", "namespace": "keycloak"}],
    }
    adapted = adapt_operator_object(binding, "platform-identity", "op", "kc", None)
    assert adapted["subjects"][0]["namespace"] == "platform-identity"
    assert "namespace" not in adapted["metadata"]
    role = adapt_operator_object(
        {"kind": "Role", "metadata": {"name": "r"}}, "platform-identity", "op", "kc", None
    )
    assert role["metadata"]["namespace"] == "platform-identity"


# ---------------------------------------------------------------------------- the realm


def test_the_realm_document_is_a_secret_with_the_sites_keys_and_a_content_named_job(run: ProgramRun) -> None:
    site = site_of(run)
    secret = run.named("keycloak-realm")
    assert secret_at(secret.raw_inputs, "stringData", "realm.json")
    document = realm(run)
    assert document["realm"] == site.identity.realm
    providers = [p for p in document["keyProviders"] if p["providerId"] == "rsa"]
    assert [p["name"] for p in providers] == [f"platform-signing-{g}" for g in site.identity.signing_keys]
    # Beside the site's keys, one Keycloak generates for what Kong and the APIs must never accept.
    (other,) = [p for p in document["keyProviders"] if p["providerId"] != "rsa"]
    assert other["providerId"] == "ecdsa-generated" and "privateKey" not in other["config"]
    assert document["settings"]["defaultSignatureAlgorithm"] == "ES256"
    assert providers[0]["config"]["priority"] == [str(SIGNING_PRIORITY)]
    assert providers[0]["config"]["privateKey"] == [
        fake_key_pair("token-signing-primary-rsa")["privateKeyPemPkcs8"]
    ]
    assert providers[0]["kid"] == run.outputs["tokenKeyIds"]["primary"]
    (job,) = [r.inputs for r in run.kubernetes("Job") if r.metadata["name"].startswith("realm-sync-")]
    assert len(job["metadata"]["name"]) == len("realm-sync-") + 10
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert {v["name"]: v.get("secret", {}).get("secretName") for v in pod["volumes"]} == {
        "sync": None,
        "realm": "keycloak-realm",
        "service": BOOTSTRAP_SERVICE,
    }
    assert container["image"].endswith(
        f"{IDENTITY_IMAGES['realmSync'].repository}:{IDENTITY_IMAGES['realmSync'].tag}"
    )


def test_the_realm_says_what_the_stack_file_says() -> None:
    run = stack_run("capital")
    site = site_of(run)
    document = realm(run)
    settings = document["settings"]
    assert settings["accessTokenLifespan"] == site.identity.token_ttl_seconds
    assert settings["passwordPolicy"].startswith("length(12) and maxLength(128)")
    assert settings["bruteForceProtected"] is True and settings["failureFactor"] == 5
    assert settings["browserFlow"] == FLOW and settings["registrationAllowed"] is False
    assert {r["name"] for r in document["roles"]} == {"platform-admin", "offices-editor"}
    clients = {c["clientId"]: c for c in document["clients"]}
    machine = clients["registry-sync"]
    assert machine["clientAuthenticatorType"] == "client-jwt" and machine["serviceAccountsEnabled"]
    assert not machine["standardFlowEnabled"] and not machine["directAccessGrantsEnabled"]
    assert "secret" not in machine  # nothing secret about a machine client on our side
    assert {"offices.read", "offices.write", "platform-audience"} <= set(machine["defaultClientScopes"])
    portal = clients["portal"]
    assert portal["publicClient"] and portal["attributes"]["pkce.code.challenge.method"] == "S256"
    assert portal["redirectUris"] == ["https://portal.platform.gov.example/auth/callback"]
    assert not portal["implicitFlowEnabled"] and not portal["directAccessGrantsEnabled"]
    (agents,) = document["identityProviders"]
    assert agents["alias"] == "agents" and agents["config"]["pkceEnabled"] == "true"
    assert agents["config"]["clientSecret"].endswith("identity.federation.oidc[0].clientSecret")
    (otp,) = [
        e
        for e in document["flows"][0]["executions"][2]["executions"]
        if "platform-admin" in e.get("subflow", "")
    ]
    assert otp["executions"][0]["config"]["config"] == {"condUserRole": "platform-admin", "negate": "false"}


def test_keycloak_reaches_the_federation_only_where_a_site_federates() -> None:
    for stack, federates in (("capital", True), ("coast", False)):
        egress = named(stack_run(stack), "NetworkPolicy", "keycloak-server")["spec"]["egress"]
        opened = [rule for rule in egress if "to" not in rule]
        assert bool(opened) == federates, stack


# ---------------------------------------------------------------------------- the database


@pytest.mark.parametrize(("stack", "instances"), [("coast", 1), ("north", 3), ("capital", 3)])
def test_the_database_is_one_instance_on_small_sites_and_three_synchronous_elsewhere(
    stack: str, instances: int
) -> None:
    run = stack_run(stack)
    site = site_of(run)
    spec = database(run)["spec"]
    assert spec["instances"] == instances
    assert spec["storage"] == {
        "size": site.sizing.keycloak_database.storage,
        "storageClass": site.cluster.storage_class,
    }
    assert spec["enableSuperuserAccess"] is False
    assert spec["bootstrap"]["initdb"] == {
        "database": "keycloak",
        "owner": "keycloak",
        "secret": {"name": CREDENTIALS},
    }
    sync = spec["postgresql"].get("synchronous")
    if instances == 1:
        assert sync is None
        assert spec["affinity"]["podAntiAffinityType"] == "preferred"
    else:
        assert sync == {"method": "any", "number": 1, "dataDurability": "required"}
        assert spec["affinity"]["podAntiAffinityType"] == "required"


def test_the_database_operator_watches_its_namespace_only(run: ProgramRun) -> None:
    """cloudnative-pg 0.29.0 renders a namespaced Role with the Secret rules and sets
    WATCH_NAMESPACE only when config.clusterWide is false (templates/rbac.yaml,
    templates/deployment.yaml); its ClusterRole then keeps nodes, webhook configurations and
    image catalogs."""
    (chart,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "cnpg"]
    assert chart["version"] == CNPG_CHART.version
    assert chart["namespace"] == DATABASES_NS
    assert chart["values"]["config"] == {"clusterWide": False}
    assert chart["values"]["crds"] == {"create": True}
    assert "limits" not in chart["values"]["resources"] or "cpu" not in chart["values"]["resources"]["limits"]


def test_database_credentials_are_generated_and_copied_to_keycloaks_namespace_only(run: ProgramRun) -> None:
    copies = [r for r in run.kubernetes("Secret") if r.metadata["name"] == CREDENTIALS]
    assert sorted(r.metadata["namespace"] for r in copies) == [DATABASES_NS, IDENTITY_NS]
    for secret in copies:
        assert secret.inputs["type"] == "kubernetes.io/basic-auth"
        assert secret.inputs["stringData"]["password"] == f"{RANDOM_RESULT}keycloak-db-password"
        assert secret_at(secret.raw_inputs, "stringData", "password")


def test_only_keycloak_reaches_postgres_and_prometheus_scrapes_both(run: ProgramRun) -> None:
    policy = named(run, "NetworkPolicy", "databases-flows")["spec"]
    postgres = [rule for rule in policy["ingress"] if [p["port"] for p in rule.get("ports", [])] == [5432]]
    (rule,) = postgres
    assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"kubernetes.io/metadata.name": IDENTITY_NS}
    ]
    keycloak_egress = named(run, "NetworkPolicy", "keycloak-server")["spec"]["egress"][0]
    assert keycloak_egress["to"][0]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": CLUSTER}
    monitors = {
        (r.metadata["namespace"], r.metadata["name"]) for r in run.resources if r.kind == "PodMonitor"
    }
    assert {(DATABASES_NS, CLUSTER), (IDENTITY_NS, "keycloak")} <= monitors


def test_an_air_gapped_site_pulls_the_database_images_from_its_mirror() -> None:
    run = stack_run("north")
    mirror = "mirror.north.platform.gov.example/upstream"
    assert database(run)["spec"]["imageName"].startswith(f"{mirror}/ghcr.io/cloudnative-pg/postgresql:")
    (chart,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "cnpg"]
    assert chart["chart"] == "oci://mirror.north.platform.gov.example/charts/cloudnative-pg"
    assert chart["values"]["image"]["repository"] == f"{mirror}/ghcr.io/cloudnative-pg/cloudnative-pg"
    assert database(run)["spec"]["imagePullSecrets"] == [{"name": "registry-pull"}]


def test_a_directory_bind_password_is_tracked_by_digest_never_in_clear_outside_the_secret() -> None:
    """Keycloak keeps no setting of its own on an LDAP provider and masks the password on read:
    the realm carries the password's digest as an attribute, so a new password re-applies."""
    capital = load_stack_file(ROOT / "stacks" / "Pulumi.capital.yaml")
    ldap = LdapDirectory.model_validate(
        {
            "connectionUrl": "ldaps://directory.gov.example",
            "vendor": "other",
            "bindDn": "cn=platform,dc=gov,dc=example",
            "bindCredential": SecretValue("one"),
            "usersDn": "ou=people,dc=gov,dc=example",
        }
    )
    identity = capital.identity.model_copy(
        update={"federation": capital.identity.federation.model_copy(update={"ldap": ldap})}
    )
    scopes = capital.api_scopes
    one = render_realm(
        identity, api_scopes=scopes, display_name="x", keys=[], oidc_secrets={"agents": "s"},
        ldap_bind_credential="one",
    )  # fmt: skip
    two = render_realm(
        identity, api_scopes=scopes, display_name="x", keys=[], oidc_secrets={"agents": "s"},
        ldap_bind_credential="two",
    )  # fmt: skip
    assert one["ldap"]["config"]["usernameLDAPAttribute"] == ["uid"]
    assert one["settings"]["attributes"][LDAP_DIGEST_ATTRIBUTE] == one["ldap"]["secretDigest"]
    assert one["ldap"]["secretDigest"] != two["ldap"]["secretDigest"]
    assert "one" not in one["ldap"]["secretDigest"]
    plain = render_realm(identity.model_copy(update={"federation": capital.identity.federation}),
                         api_scopes=scopes, display_name="x", keys=[],
                         oidc_secrets={"agents": "s"})  # fmt: skip
    assert plain["ldap"] is None and "attributes" not in plain["settings"]


def test_the_realm_holds_exactly_the_scopes_the_sites_services_serve(run: ProgramRun) -> None:
    """Scopes come from the services (`services[].scopes`, else `<name>.read` and `<name>.write`),
    not from whatever a client names: the applier deletes a managed scope no longer rendered."""
    site = load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")
    names = {scope["name"] for scope in realm(run)["clientScopes"]}
    assert names == {AUDIENCE_SCOPE, *site.api_scopes}
    assert set(site.api_scopes) == {"offices.read", "offices.write"}  # offices, by the naming rule


def test_every_managed_client_pins_what_the_token_chain_needs(run: ProgramRun) -> None:
    """Written on every client, machines and applications alike, so the applier puts them back
    over a hand edit (test_identity_keycloak: a hand-set lifespan is reset)."""
    document = realm(run)
    ttl = str(document["settings"]["accessTokenLifespan"])
    assert document["clients"]
    for client in document["clients"]:
        assert client["attributes"]["access.token.lifespan"] == ttl, client["clientId"]
        assert client["attributes"]["access.token.signed.response.alg"] == "RS256", client["clientId"]


def test_every_login_path_asks_an_admin_for_a_second_factor() -> None:
    """The browser flow (passwords, the LDAP directory's people) and the post-broker-login flow
    of every identity provider carry the same second factor: an admin role means an OTP whatever
    the path (tested through a real broker login in test_identity_keycloak)."""
    from natplat.layers.identity.realm import POST_BROKER_FLOW  # noqa: PLC0415

    capital = load_stack_file(ROOT / "stacks" / "Pulumi.capital.yaml")
    document = render_realm(
        capital.identity, api_scopes=capital.api_scopes, display_name="x", keys=[],
        oidc_secrets={"agents": "s"},
    )  # fmt: skip
    assert document["identityProviders"]
    assert all(idp["postBrokerLoginFlowAlias"] == POST_BROKER_FLOW for idp in document["identityProviders"])
    flows = {flow["alias"]: flow for flow in document["flows"]}
    after = flows[POST_BROKER_FLOW]["executions"]
    roles = {
        e["config"]["config"]["condUserRole"]
        for sub in after
        if "subflow" in sub
        for e in sub["executions"]
        if e["provider"] == "conditional-user-role"
    }
    assert roles == set(capital.identity.admin_roles)
    assert [e.get("provider") for e in after if "provider" in e] == ["allow-access-authenticator"]
