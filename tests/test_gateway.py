"""The gateway layer: Kong pinned and DB-less, exposed per site, its plugins, the JWT chain from
one key resource to both sides, and the routes every service publishes through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import stack_run
from harness import (
    PLACEHOLDER,
    RANDOM_RESULT,
    ROOT,
    ProgramRun,
    contains_secret_text,
    fake_key_pair,
    run_program,
    secret_at,
)
from natplat.layers.gateway.routes import PUBLIC_ALLOW_LIST, PUBLIC_ROUTE_ANNOTATION, public_paths
from natplat.layers.signing import key_id
from natplat.spec.catalog import KONG_CHART, KONG_IMAGE
from natplat.spec.stackfile import load_stack_file

SIGNING_KEY = "token-signing-primary-rsa"  # the pulumi-tls resource both sides must come from


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def kong(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "kong"]
    return found.inputs


def plugin(run: ProgramRun, kind: str, name: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.kubernetes(kind) if r.metadata["name"] == name]
    return found


def ingresses(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.inputs for r in run.kubernetes("Ingress")]


def test_kong_chart_is_pinned_db_less_with_its_controller(run: ProgramRun) -> None:
    inputs = kong(run)
    assert inputs["version"] == KONG_CHART.version == "3.4.1"
    assert inputs["namespace"] == "platform-gateway"
    values = inputs["values"]
    assert values["env"]["database"] == "off"
    assert values["ingressController"]["enabled"] is True
    assert values["image"]["tag"] == KONG_IMAGE.tag and values["image"]["tag"].startswith("3.9.")
    assert values["serviceMonitor"] == {"enabled": True, "trustCRDsExist": True, "interval": "30s"}
    assert values["migrations"] == {"preUpgrade": False, "postUpgrade": False}


def test_replicas_resources_and_disruption_budget_come_from_the_profile(run: ProgramRun) -> None:
    site = site_of(run)
    values = kong(run)["values"]
    assert values["replicaCount"] == site.sizing.gateway.replicas
    assert values["resources"]["requests"]["cpu"] == site.sizing.gateway.resources.cpu
    assert values["resources"]["limits"]["memory"] == site.sizing.gateway.resources.memory_limit
    assert values["podDisruptionBudget"]["enabled"] is (site.sizing.gateway.replicas > 1)


@pytest.mark.parametrize(
    ("stack", "kind", "ports"),
    [
        ("local", "NodePort", (30080, 30443)),
        ("north", "NodePort", (31080, 31443)),
        ("staging", "LoadBalancer", None),
        ("capital", "LoadBalancer", None),
        ("coast", "LoadBalancer", None),
    ],
)
def test_proxy_service_type_per_site(stack: str, kind: str, ports: tuple[int, int] | None) -> None:
    run = stack_run(stack)
    proxy = kong(run)["values"]["proxy"]
    assert proxy["type"] == kind
    if ports:
        assert (proxy["http"]["nodePort"], proxy["tls"]["nodePort"]) == ports
        assert run.outputs["gatewayProxy"] == f"https://<any node>:{ports[1]}"
    else:
        assert "nodePort" not in proxy["http"] and "nodePort" not in proxy["tls"]
        assert proxy["loadBalancerSourceRanges"] == list(site_of(run).gateway.load_balancer_source_ranges)


def test_air_gapped_site_pulls_kong_from_its_mirror_only() -> None:
    inputs = kong(stack_run("north"))
    assert inputs["chart"] == "oci://mirror.north.platform.gov.example/charts/kong"
    values = inputs["values"]
    mirror = "mirror.north.platform.gov.example/upstream/docker.io/"
    assert values["image"]["repository"] == f"{mirror}library/kong"
    assert values["ingressController"]["image"]["repository"] == f"{mirror}kong/kubernetes-ingress-controller"
    assert values["image"]["pullSecrets"] == ["registry-pull"]
    assert values["waitImage"] == {"enabled": False}, (
        "an enabled wait image would be one more image to mirror"
    )


def test_online_sites_pull_kong_upstream(run: ProgramRun) -> None:
    if run.stack == "north":
        return
    inputs = kong(run)
    assert inputs["repositoryOpts"]["repo"] == KONG_CHART.repository
    assert inputs["values"]["image"]["repository"] == "docker.io/library/kong"


def test_global_plugins_prometheus_cors_and_request_size(run: ProgramRun) -> None:
    site = site_of(run)
    plugins = {r.metadata["name"]: r.inputs for r in run.kubernetes("KongClusterPlugin")}
    assert set(plugins) == {"prometheus", "cors", "request-size-limiting"}
    for name, body in plugins.items():
        assert body["plugin"] == name
        assert body["metadata"]["labels"]["global"] == "true"
        assert body["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "kong"
    flags = plugins["prometheus"]["config"]
    assert all(
        flags[f]
        for f in ("status_code_metrics", "latency_metrics", "bandwidth_metrics", "upstream_health_metrics")
    )
    assert plugins["cors"]["config"]["origins"] == list(site.gateway.cors_origins)
    assert (
        plugins["request-size-limiting"]["config"]["allowed_payload_size"]
        == site.gateway.request_size_limit_mb
    )


def test_jwt_plugin_verifies_exp_by_key_id(run: ProgramRun) -> None:
    body = plugin(run, "KongPlugin", "jwt-verify")
    assert body["metadata"]["namespace"] == "platform-services"
    assert body["plugin"] == "jwt"
    config = body["config"]
    # Keycloak's access tokens carry no nbf, and Kong refuses a token lacking a listed claim
    # (kong/plugins/jwt/jwt_parser.lua: "must be a number"): only exp is listed.
    assert config["claims_to_verify"] == ["exp"]
    assert config["key_claim_name"] == "kid"
    assert config["uri_param_names"] == []
    # The issuer's lifetime, and a minute of clock skew, no more.
    assert config["maximum_expiration"] == site_of(run).identity.token_ttl_seconds + 60


def test_rate_limiting_uses_the_cache_master_endpoint_and_its_secret(run: ProgramRun) -> None:
    site = site_of(run)
    body = plugin(run, "KongPlugin", "rate-limit")
    config = body["config"]
    assert body["plugin"] == "rate-limiting"
    assert config["minute"] == site.gateway.rate_limit.per_minute
    assert config["limit_by"] == "ip", "all tokens share one consumer: per consumer would be one bucket"
    assert "trusted_ips" not in kong(run)["values"]["env"], "a forged X-Forwarded-For must not move a client"
    assert config["policy"] == "redis"
    host, port = run.outputs["cacheEndpoint"].rsplit(":", 1)
    assert config["redis"]["host"] == host and config["redis"]["port"] == int(port)
    assert "password" not in config["redis"], "the password must come from the Secret, not the plugin"
    (patch,) = body["configPatches"]
    assert patch == {
        "path": "/redis/password",
        "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "auth"}},
    }
    secrets = {(r.metadata["namespace"], r.metadata["name"]) for r in run.kubernetes("Secret")}
    assert (body["metadata"]["namespace"], "redis-auth") in secrets
    assert RANDOM_RESULT not in repr(body)


def test_rate_limiting_falls_back_to_local_counters_without_a_cache(tmp_path: Path) -> None:
    def no_cache(config: dict) -> None:
        config["national-platform:cache"] = {"enabled": False}
        for service in config["national-platform:services"]:
            service["cache"] = False

    run = _variant(tmp_path, "coast", no_cache)
    body = plugin(run, "KongPlugin", "rate-limit")
    assert body["config"]["policy"] == "local" and "redis" not in body["config"]
    assert "configPatches" not in body
    offices_env = {
        e["name"]
        for r in run.kubernetes("Deployment")
        for c in r.inputs["spec"]["template"]["spec"]["containers"]
        for e in c["env"]
    }
    assert "REDIS_URL" not in offices_env


def test_one_key_resource_feeds_the_consumer_the_issuer_and_the_apis(run: ProgramRun) -> None:
    key = fake_key_pair(SIGNING_KEY)
    (credential,) = [
        r for r in run.kubernetes("Secret") if r.metadata["name"] == "platform-token-issuer-jwt-primary"
    ]
    assert credential.metadata["labels"]["konghq.com/credential"] == "jwt"
    data = credential.inputs["stringData"]
    assert data["algorithm"] == "RS256"
    assert data["rsa_public_key"] == key["publicKeyPem"]
    assert data["key"] == key_id(key["publicKeyPem"]) == run.outputs["tokenKeyIds"]["primary"]
    consumer = plugin(run, "KongConsumer", "platform-token-issuer")
    assert consumer["credentials"] == ["platform-token-issuer-jwt-primary"]
    # Keycloak gets the private half through the realm applier's Secret, as a secret.
    (realm,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == "keycloak-realm"]
    providers = [
        p
        for p in json.loads(realm.inputs["stringData"]["realm.json"])["keyProviders"]
        if p["providerId"] == "rsa"
    ]
    assert [p["config"]["privateKey"] for p in providers] == [[key["privateKeyPemPkcs8"]]]
    assert [p["kid"] for p in providers] == [run.outputs["tokenKeyIds"]["primary"]]
    assert secret_at(realm.raw_inputs, "stringData", "realm.json")
    (public,) = [r for r in run.kubernetes("ConfigMap") if r.metadata["name"] == "jwt-public-keys"]
    assert public.inputs["data"] == {"primary.pem": key["publicKeyPem"]}
    signing_keys = [
        k for k in run.of_type("tls:index/privateKey:PrivateKey") if k.inputs["algorithm"] == "RSA"
    ]
    assert len(signing_keys) == 1


def test_private_keys_never_leave_a_secret(run: ProgramRun) -> None:
    for marker in ("PRIVATE KEY", PLACEHOLDER, RANDOM_RESULT):
        flags = [
            f
            for r in run.resources
            if r.type.startswith("kubernetes:")
            for f in contains_secret_text(r.raw_inputs, marker)
        ]
        assert all(flags), f"{marker!r} reached a Kubernetes object outside a secret"
    for resource in run.kubernetes("ConfigMap"):
        assert "PRIVATE KEY" not in repr(resource.inputs)
    assert not any("PRIVATE KEY" in repr(value) for value in run.outputs.values())


def test_every_route_but_the_public_allow_list_carries_jwt(run: ProgramRun) -> None:
    found = ingresses(run)
    assert found
    domain = site_of(run).site.domain
    for ingress in found:
        annotations = ingress["metadata"]["annotations"]
        plugins = annotations.get("konghq.com/plugins", "").split(",")
        (rule,) = ingress["spec"]["rules"]
        paths = [p["path"] for p in rule["http"]["paths"]]
        assert ingress["spec"]["ingressClassName"] == "kong"
        assert annotations["konghq.com/protocols"] == "https"
        if "jwt-verify" in plugins:
            assert plugins[0] == "jwt-verify" and "rate-limit" in plugins, paths
            assert PUBLIC_ROUTE_ANNOTATION not in annotations
            continue
        # No token check: only what the allow-list names, and it says why.
        assert annotations[PUBLIC_ROUTE_ANNOTATION], paths
        label = rule["host"].removesuffix(f".{domain}")
        realm = site_of(run).identity.realm
        assert label in PUBLIC_ALLOW_LIST and set(paths) <= set(public_paths(label, realm=realm)), rule


def test_a_guarded_route_for_every_listed_service_on_the_api_host(run: ProgramRun) -> None:
    site = site_of(run)
    by_name = {i["metadata"]["name"]: i for i in ingresses(run)}
    for service in site.services:
        ingress = by_name[service.name]
        (rule,) = ingress["spec"]["rules"]
        assert rule["host"] == f"api.{site.site.domain}"
        assert [p["path"] for p in rule["http"]["paths"]] == list(service.routes)
        assert run.outputs["publicUrls"][service.name] == [
            f"https://api.{site.site.domain}{r}" for r in service.routes
        ]
    public = by_name["auth"]
    assert public["spec"]["rules"][0]["host"] == f"auth.{site.site.domain}"
    # The site realm and the login pages' static files only: no /admin, no master realm.
    assert [p["path"] for p in public["spec"]["rules"][0]["http"]["paths"]] == [
        f"/realms/{site.identity.realm}",
        "/resources",
    ]


def test_kong_may_reach_the_services_and_the_cache_master_only(run: ProgramRun) -> None:
    (policy,) = [r.inputs["spec"] for r in run.kubernetes("NetworkPolicy") if r.metadata["name"] == "kong"]
    assert policy["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "kong",
        "app.kubernetes.io/instance": "kong",
    }
    egress = policy["egress"]
    namespaces = [
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in egress
        for peer in rule.get("to", [])
    ]
    # The services, Keycloak, and the operator UIs (Grafana, Kibana) behind the gateway; Redis
    # for counters.
    upstream = {"platform-services", "platform-identity", "platform-monitoring"} | (
        {"platform-logging"} if site_of(run).logging.enabled else set()
    )
    assert sorted(namespaces) == sorted({*upstream, "platform-cache"})
    (cache_rule,) = [rule for rule in egress if any("podSelector" in p for p in rule.get("to", []))]
    assert [p["port"] for p in cache_rule["ports"]] == [6379]


def _variant(tmp_path: Path, stack: str, change) -> ProgramRun:
    document = yaml.safe_load((ROOT / f"stacks/Pulumi.{stack}.yaml").read_text())
    change(document["config"])
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    stack_file = tmp_path / "stacks" / f"Pulumi.{stack}.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    run = run_program(stack_file, tmp_path)
    assert run.error is None, run.error
    return run


def test_key_rotation_trusts_two_generations_and_signs_with_the_first(tmp_path: Path) -> None:
    def rotate(config: dict) -> None:
        config.setdefault("national-platform:identity", {})["signingKeys"] = ["next", "primary"]

    run = _variant(tmp_path, "capital", rotate)
    new, old = fake_key_pair("token-signing-next-rsa"), fake_key_pair("token-signing-primary-rsa")
    assert run.outputs["tokenKeyIds"] == {
        "next": key_id(new["publicKeyPem"]),
        "primary": key_id(old["publicKeyPem"]),
    }
    credentials = {
        r.metadata["name"]: r.inputs["stringData"]
        for r in run.kubernetes("Secret")
        if r.metadata.get("labels", {}).get("konghq.com/credential") == "jwt"
    }
    assert {name: data["key"] for name, data in credentials.items()} == {
        "platform-token-issuer-jwt-next": run.outputs["tokenKeyIds"]["next"],
        "platform-token-issuer-jwt-primary": run.outputs["tokenKeyIds"]["primary"],
    }
    assert plugin(run, "KongConsumer", "platform-token-issuer")["credentials"] == [
        "platform-token-issuer-jwt-next",
        "platform-token-issuer-jwt-primary",
    ]
    (realm,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == "keycloak-realm"]
    providers = [
        p
        for p in json.loads(realm.inputs["stringData"]["realm.json"])["keyProviders"]
        if p["providerId"] == "rsa"
    ]
    assert [(p["name"], p["config"]["active"], p["config"]["privateKey"]) for p in providers] == [
        ("platform-signing-next", ["true"], [new["privateKeyPemPkcs8"]]),  # the new key signs
        ("platform-signing-primary", ["false"], [old["privateKeyPemPkcs8"]]),  # the old one verifies
    ]
    envs = {
        r.metadata["name"]: {
            e["name"]: e.get("value") for e in r.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        for r in run.kubernetes("Deployment")
    }
    # The folder the ConfigMap is mounted at, whatever keys it holds: a pod of an older template
    # restarted after the last step of a rotation finds no file name that is gone.
    (public,) = [r for r in run.kubernetes("ConfigMap") if r.metadata["name"] == "jwt-public-keys"]
    assert sorted(public.inputs["data"]) == ["next.pem", "primary.pem"]
    assert envs["offices"]["JWT_PUBLIC_KEY_FILES"] == "/etc/national-platform/jwt"
