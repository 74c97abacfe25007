"""The cache layer: redis-ha per profile, the password only in Secrets, metrics, and network
policies that select the chart's pods and admit only the services and the gateway."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import stack_run
from harness import RANDOM_RESULT, ROOT, ProgramRun, secret_at
from natplat.layers.cache import (
    EXPORTER_PORT,
    HAPROXY_METRICS_PORT,
    PASSWORD_KEY,
    PASSWORD_SECRET,
    REDIS_PORT,
)
from natplat.spec.catalog import CACHE_ENGINES, REDIS_HA_CHART
from natplat.spec.quantities import byte_count
from natplat.spec.stackfile import load_stack_file

CACHE_NS = "platform-cache"


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def chart(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "redis-ha"]
    return found.inputs


def policies(run: ProgramRun) -> dict[str, dict]:
    return {
        r.metadata["name"]: r.inputs["spec"]
        for r in run.kubernetes("NetworkPolicy")
        if r.metadata["namespace"] == CACHE_NS and r.metadata["name"].startswith("redis")
    }


def images(values: dict[str, Any]) -> list[str]:
    """Every image the redis-ha values name, in the chart's two shapes of image key."""
    found = [values["image"]["repository"], values["haproxy"]["image"]["repository"]]
    found.append(values["exporter"]["image"])
    return found


def test_chart_is_pinned_and_deployed_in_the_cache_namespace(run: ProgramRun) -> None:
    inputs = chart(run)
    assert inputs["version"] == REDIS_HA_CHART.version == "4.39.0"
    assert inputs["namespace"] == CACHE_NS
    assert inputs["name"] == "redis-ha"


@pytest.mark.parametrize(
    ("stack", "replicas", "ha"),
    [
        ("local", 1, False),
        ("coast", 1, False),
        ("north", 3, True),
        ("staging", 3, True),
        ("capital", 3, True),
    ],
)
def test_topology_follows_the_profile(stack: str, replicas: int, ha: bool) -> None:
    values = chart(stack_run(stack))["values"]
    assert values["replicas"] == replicas
    assert values["haproxy"]["enabled"] is ha
    assert values["sentinel"]["quorum"] == (2 if ha else 1)
    assert values["redis"]["config"]["min-replicas-to-write"] == (1 if ha else 0)
    assert values["hardAntiAffinity"] is ha
    assert values["topologySpreadConstraints"]["enabled"] is ha
    if ha:
        assert values["podDisruptionBudget"] == {"maxUnavailable": 1}
        assert values["haproxy"]["podDisruptionBudget"] == {"minAvailable": 1}
        assert values["haproxy"]["replicas"] == replicas
    else:
        assert values["podDisruptionBudget"] == {}


def test_endpoint_is_haproxy_on_ha_sites_and_the_single_node_otherwise() -> None:
    assert stack_run("capital").outputs["cacheEndpoint"] == (
        f"redis-ha-haproxy.{CACHE_NS}.svc.cluster.local:{REDIS_PORT}"
    )
    assert stack_run("coast").outputs["cacheEndpoint"] == (
        f"redis-ha-announce-0.{CACHE_NS}.svc.cluster.local:{REDIS_PORT}"
    )


def test_password_is_generated_and_only_in_secrets(run: ProgramRun) -> None:
    values = chart(run)["values"]
    assert values["auth"] is True
    assert values["existingSecret"] == PASSWORD_SECRET and values["authKey"] == PASSWORD_KEY
    assert RANDOM_RESULT not in repr(values), "the password reached the chart values"
    assert "redisPassword" not in values and "password" not in values.get("sentinel", {})
    secrets = {
        r.metadata["namespace"]: r for r in run.kubernetes("Secret") if r.metadata["name"] == PASSWORD_SECRET
    }
    # In the cache namespace for the chart, and in the services' namespace for the services and
    # Kong's rate-limiting plugin; nowhere else.
    assert set(secrets) == {CACHE_NS, "platform-services"}
    for secret in secrets.values():
        assert secret_at(secret.raw_inputs, "stringData", PASSWORD_KEY)
        assert secret.inputs["stringData"][PASSWORD_KEY] == f"{RANDOM_RESULT}redis-password"
    generated = run.named("redis-password").inputs
    assert generated["length"] >= 32
    assert RANDOM_RESULT not in repr(run.outputs)


def test_memory_and_eviction_suit_a_cache(run: ProgramRun) -> None:
    site = site_of(run)
    config = chart(run)["values"]["redis"]["config"]
    limit = byte_count(site.sizing.redis.resources.memory_limit)
    assert int(config["maxmemory"]) == limit * site.cache.maxmemory_percent // 100
    assert 0 < int(config["maxmemory"]) < limit
    assert config["maxmemory-policy"] == site.cache.maxmemory_policy
    assert config["maxmemory-policy"].startswith(("allkeys", "volatile"))


def test_storage_class_and_size_come_from_site_and_profile(run: ProgramRun) -> None:
    site = site_of(run)
    volume = chart(run)["values"]["persistentVolume"]
    assert volume["enabled"] is True
    assert volume["storageClass"] == site.cluster.storage_class
    assert volume["size"] == site.sizing.redis.storage


def test_metrics_exporter_and_service_monitors_are_on(run: ProgramRun) -> None:
    values = chart(run)["values"]
    assert values["exporter"]["enabled"] is True
    assert values["exporter"]["serviceMonitor"]["enabled"] is True
    ha = values["haproxy"]["enabled"]
    # redis-ha 4.39.0 renders the HAProxy ServiceMonitor whenever haproxy.metrics and its monitor
    # are on, HAProxy or not (templates/redis-haproxy-servicemonitor.yaml): only where it runs.
    assert values["haproxy"]["metrics"]["enabled"] is ha
    assert values["haproxy"]["metrics"]["serviceMonitor"]["enabled"] is ha
    assert ha is (run.stack not in ("local", "coast"))


def test_service_monitors_render_without_the_chart_api_check(run: ProgramRun) -> None:
    """redis-ha 4.39.0 renders its ServiceMonitors only if .Capabilities lists
    monitoring.coreos.com/v1 at render time unless disableAPICheck is set; on a first `pulumi up`
    the monitoring CRDs are created in the same run, so the Redis alerts would have no data."""
    values = chart(run)["values"]
    assert values["exporter"]["serviceMonitor"]["disableAPICheck"] is True
    assert values["haproxy"]["metrics"]["serviceMonitor"]["disableAPICheck"] is True


def test_haproxy_init_container_is_sized(run: ProgramRun) -> None:
    """The chart's HAProxy config-init init container takes haproxy.init.resources (empty by default)."""
    resources = chart(run)["values"]["haproxy"]["init"]["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_engine_is_the_sites_choice() -> None:
    assert chart(stack_run("north"))["values"]["image"]["tag"] == CACHE_ENGINES["redis-7.2"].tag
    staging = chart(stack_run("staging"))["values"]["image"]
    assert staging == {"repository": "docker.io/valkey/valkey", "tag": CACHE_ENGINES["valkey"].tag}


def test_air_gapped_site_pulls_chart_and_every_image_from_its_mirror() -> None:
    run = stack_run("north")
    inputs = chart(run)
    assert inputs["chart"] == "oci://mirror.north.platform.gov.example/charts/redis-ha"
    assert "repositoryOpts" not in inputs or not inputs["repositoryOpts"]
    values = inputs["values"]
    for image in images(values):
        assert image.startswith("mirror.north.platform.gov.example/upstream/docker.io/"), image
    assert values["imagePullSecrets"] == [{"name": "registry-pull"}]
    assert values["haproxy"]["imagePullSecrets"] == [{"name": "registry-pull"}]


def test_online_sites_pull_upstream(run: ProgramRun) -> None:
    if run.stack == "north":
        return
    inputs = chart(run)
    assert inputs["repositoryOpts"]["repo"] == REDIS_HA_CHART.repository
    assert all(image.startswith("docker.io/") for image in images(inputs["values"]))
    assert inputs["values"]["imagePullSecrets"] == []


def _selects(spec: dict) -> dict:
    return spec["podSelector"]["matchLabels"]


def _peer_namespaces(rule: dict) -> set[str]:
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["from"]
        if "namespaceSelector" in peer
    }


def _ports(rule: dict) -> set[int]:
    return {port["port"] for port in rule["ports"]}


def test_network_policies_select_the_charts_pods(run: ProgramRun) -> None:
    release = chart(run)["name"]
    found = policies(run)
    # redis-ha labels its pods `app: <chart name>` and `release: <release name>`, HAProxy's
    # `app: <chart name>-haproxy`: the policies must select exactly those.
    assert _selects(found["redis-server"]) == {"app": REDIS_HA_CHART.name, "release": release}
    ha = chart(run)["values"]["haproxy"]["enabled"]
    assert ("redis-haproxy" in found) is ha
    if ha:
        assert _selects(found["redis-haproxy"]) == {
            "app": f"{REDIS_HA_CHART.name}-haproxy",
            "release": release,
        }


def test_only_services_and_gateway_reach_the_redis_port(run: ProgramRun) -> None:
    found = policies(run)
    front = found["redis-haproxy"] if "redis-haproxy" in found else found["redis-server"]
    client_rules = [
        rule for rule in front["ingress"] if _peer_namespaces(rule) and REDIS_PORT in _ports(rule)
    ]
    (rule,) = client_rules
    assert _peer_namespaces(rule) == {"platform-services", "platform-gateway"}
    assert _ports(rule) == {REDIS_PORT}
    # Every other rule admits only the chart's own pods or the metrics scrapers.
    for spec in found.values():
        for other in spec["ingress"]:
            if other is rule:
                continue
            namespaces = _peer_namespaces(other)
            if namespaces:
                assert namespaces == {"platform-monitoring"}
                assert _ports(other) <= {EXPORTER_PORT, HAPROXY_METRICS_PORT}
            else:
                assert all(set(peer) == {"podSelector"} for peer in other["from"])


def test_air_gapped_site_has_a_pull_secret_in_every_namespace() -> None:
    run = stack_run("north")
    namespaces = {r.metadata["name"] for r in run.kubernetes("Namespace")}
    pulls = [r for r in run.kubernetes("Secret") if r.metadata["name"] == "registry-pull"]
    assert {r.metadata["namespace"] for r in pulls} == namespaces
    for secret in pulls:
        assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
        assert secret_at(secret.raw_inputs, "stringData", ".dockerconfigjson")
    assert not [r for r in stack_run("staging").kubernetes("Secret") if r.metadata["name"] == "registry-pull"]
