"""The invariant checker `make render-charts` runs on rendered charts: each rule on a small manifest
that breaks it and one that keeps it (the charts cannot be rendered on a machine without helm and
the chart repositories; the pull-request workflow renders them for every site)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness import ROOT
from natplat.layers.gateway.kong import PROXY_SERVICE
from natplat.review.policy_config import policy_config
from natplat.review.render_charts import helm_command, judge_with_the_pack, render_manifest, site_facts
from natplat.review.render_check import (
    SiteFacts,
    check,
    check_custom_resources,
    check_exposure,
    check_images,
    check_requests,
    check_secret_readers,
    check_service_monitors,
)
from natplat.spec.stackfile import load_stack_file

MIRROR = "mirror.north.example/upstream"
FACTS = SiteFacts(
    site="north",
    gateway_namespace="platform-gateway",
    gateway_proxy_service=PROXY_SERVICE,
    allowed_images=frozenset({f"{MIRROR}/quay.io/prometheus/node-exporter:v1.12.1-distroless"}),
    image_mirror=MIRROR,
)


def daemon_set(image: str, requests: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "node-exporter", "namespace": "platform-node-agents"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "node-exporter",
                            "image": image,
                            "resources": {
                                "requests": requests
                                if requests is not None
                                else {"cpu": "10m", "memory": "32Mi"}
                            },
                        }
                    ]
                }
            }
        },
    }


def service(
    name: str, namespace: str, kind: str = "ClusterIP", labels: dict | None = None, port: str = "http"
):
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"type": kind, "ports": [{"name": port, "port": 80}]},
    }


def role(kind: str, name: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, **({"namespace": "platform-monitoring"} if kind == "Role" else {})},
        "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}],
    }


def monitor(selector: dict[str, Any], port: str = "http", namespace_selector: dict | None = None):
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "redis-ha", "namespace": "platform-cache"},
        "spec": {
            "selector": selector,
            "endpoints": [{"port": port}],
            **({"namespaceSelector": namespace_selector} if namespace_selector else {}),
        },
    }


# (rule, objects that break it, objects that keep it)
CASES = [
    (
        # The node exporter's tag suffix: what the chart renders vs what the mirror list names.
        check_images,
        [daemon_set(f"{MIRROR}/quay.io/prometheus/node-exporter:v1.12.1-distroless-distroless")],
        [daemon_set(f"{MIRROR}/quay.io/prometheus/node-exporter:v1.12.1-distroless")],
    ),
    (
        check_images,
        [daemon_set("quay.io/prometheus/node-exporter:v1.12.1-distroless")],
        [daemon_set(f"{MIRROR}/quay.io/prometheus/node-exporter:v1.12.1-distroless")],
    ),
    (
        # Kong Manager's Service, NodePort by default in the chart.
        check_exposure,
        [service("kong-kong-manager", "platform-gateway", "NodePort")],
        [
            service(PROXY_SERVICE, "platform-gateway", "NodePort"),
            service("kong-kong-manager", "platform-gateway"),
        ],
    ),
    (
        check_exposure,
        [service(PROXY_SERVICE, "platform-services", "LoadBalancer")],
        [service(PROXY_SERVICE, "platform-gateway", "LoadBalancer")],
    ),
    (
        # Grafana's chart ClusterRole on ConfigMaps and Secrets.
        check_secret_readers,
        [
            role(
                "ClusterRole",
                "monitoring-grafana-clusterrole",
                ["configmaps", "secrets"],
                ["get", "watch", "list"],
            )
        ],
        [role("Role", "grafana-dashboards-reader", ["configmaps"], ["get", "watch", "list"])],
    ),
    (
        check_secret_readers,
        [role("Role", "anything", ["*"], ["list"])],
        [
            role("ClusterRole", "elastic-operator", ["secrets"], ["*"]),
            role("Role", "x", ["secrets"], ["create"]),
        ],
    ),
    (
        # redis-ha's HAProxy monitor where no HAProxy runs.
        check_service_monitors,
        [
            monitor({"matchLabels": {"app": "redis-ha-haproxy"}}),
            service("redis-ha", "platform-cache", labels={"app": "redis-ha"}),
        ],
        [
            monitor({"matchLabels": {"app": "redis-ha"}}),
            service("redis-ha", "platform-cache", labels={"app": "redis-ha"}),
        ],
    ),
    (
        check_service_monitors,
        [
            monitor({"matchLabels": {"app": "redis-ha"}}, port="metrics"),
            service("redis-ha", "platform-cache", labels={"app": "redis-ha"}),
        ],
        [
            monitor(
                {"matchLabels": {"app": "redis-ha"}}, namespace_selector={"matchNames": ["platform-cache"]}
            ),
            service("redis-ha", "platform-cache", labels={"app": "redis-ha"}),
        ],
    ),
    (
        # Grafana's sidecars and redis-ha's HAProxy config-init without requests.
        check_requests,
        [daemon_set(f"{MIRROR}/x:1", requests={"memory": "32Mi"})],
        [daemon_set(f"{MIRROR}/x:1")],
    ),
]


@pytest.mark.parametrize(
    ("rule", "bad", "good"), CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_refuses_a_breach_and_accepts_compliance(rule, bad, good) -> None:
    assert rule(bad, FACTS), f"{rule.__name__} accepted a breach"
    assert rule(good, FACTS) == []


def test_an_online_site_checks_images_against_its_list_only() -> None:
    online = SiteFacts("capital", "platform-gateway", PROXY_SERVICE, frozenset({"quay.io/x:1"}))
    assert check_images([daemon_set("quay.io/x:1")], online) == []
    assert check_images([daemon_set("quay.io/x:2")], online) == [
        "DaemonSet platform-node-agents/node-exporter: image quay.io/x:2 is not in the site's mirror list"
    ]


def test_custom_resources_images_and_init_containers_count() -> None:
    prometheus = {
        "kind": "Prometheus",
        "metadata": {"name": "p", "namespace": "m"},
        "spec": {"image": "quay.io/prometheus/prometheus:v3.14.0"},
    }
    assert check_images([prometheus], FACTS)
    job = daemon_set(f"{MIRROR}/quay.io/prometheus/node-exporter:v1.12.1-distroless")
    job["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "image": f"{MIRROR}/busybox:1"}]
    problems = check([job], FACTS)
    assert any("busybox" in p for p in problems) and any(
        "'init' requests no cpu or memory" in p for p in problems
    )


def test_check_ignores_empty_documents() -> None:
    assert check([None, {}, copy.deepcopy(service("a", "b"))], FACTS) == []  # type: ignore[list-item]


def test_helm_command_renders_the_pinned_chart_with_the_sites_values(tmp_path) -> None:
    (tmp_path / "eck-operator.yaml").write_text("{}\n")
    (tmp_path / "eck-operator.removed.yaml").write_text("resources:\n  limits:\n    cpu: null\n")
    chart = {
        "name": "eck-operator",
        "chart": "oci://mirror.north.example/charts/eck-operator",
        "namespace": "platform-logging",
    }
    command = helm_command(chart, tmp_path, "1.34", None)
    assert command[:4] == ["helm", "template", "eck-operator", "eck-operator"]
    assert command[command.index("--repo") + 1] == "https://helm.elastic.co"
    assert command[command.index("--version") + 1] == "3.5.0"
    assert command[command.index("--kube-version") + 1] == "1.34.0"
    assert "monitoring.coreos.com/v1" in command
    values = [command[i + 1] for i, arg in enumerate(command) if arg == "--values"]
    assert values == [str(tmp_path / "eck-operator.removed.yaml"), str(tmp_path / "eck-operator.yaml")]


def test_site_facts_come_from_the_plan() -> None:
    inventory = {"site": "north", "images": [{"upstream": "a", "pulledFrom": f"{MIRROR}/a:1"}]}
    facts = site_facts(inventory, MIRROR)
    assert facts.allowed_images == {f"{MIRROR}/a:1"} and facts.image_mirror == MIRROR


def test_monitors_of_cluster_services_select_what_every_cluster_has() -> None:
    """kube-prometheus-stack 88.5.3's kubelet and apiserver ServiceMonitors select Services no chart
    renders: default/kubernetes, and the kubelet Service prometheus-operator maintains."""
    kubelet = monitor(
        {"matchLabels": {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"}},
        port="https-metrics",
        namespace_selector={"matchNames": ["kube-system"]},
    )
    apiserver = monitor(
        {"matchLabels": {"component": "apiserver", "provider": "kubernetes"}},
        port="https",
        namespace_selector={"matchNames": ["default"]},
    )
    assert check_service_monitors([kubelet, apiserver], FACTS) == []
    wrong = copy.deepcopy(kubelet)
    wrong["spec"]["namespaceSelector"]["matchNames"] = ["platform-monitoring"]
    assert check_service_monitors([wrong], FACTS)


OBJECT_STORE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "objectstores.barmancloud.cnpg.io"},
    "spec": {
        "group": "barmancloud.cnpg.io",
        "names": {"kind": "ObjectStore"},
        "versions": [
            {
                "name": "v1",
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "retentionPolicy": {"type": "string"},
                                    "configuration": {
                                        "type": "object",
                                        "properties": {
                                            "endpointURL": {"type": "string"},
                                            "endpointCA": {
                                                "type": "object",
                                                "properties": {
                                                    "name": {"type": "string"},
                                                    "key": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    "port": {"x-kubernetes-int-or-string": True},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


def object_store(spec: dict) -> dict:
    return {
        "apiVersion": "barmancloud.cnpg.io/v1",
        "kind": "ObjectStore",
        "metadata": {"name": "platform-backups", "namespace": "platform-databases"},
        "spec": spec,
    }


def test_custom_resources_must_match_the_crd_the_charts_render() -> None:
    """The API server prunes a field its CRD does not know: a misspelt `endpointCa` would leave
    the backups verifying the store against public CAs only, with nothing said."""
    good = object_store(
        {
            "retentionPolicy": "7d",
            "configuration": {
                "endpointURL": "https://s3.example",
                "endpointCA": {"name": "t", "key": "ca.crt"},
            },
            "extra": {"anything": {"goes": 1}},
            "port": "https",
        }
    )
    assert check_custom_resources([OBJECT_STORE_CRD, good], FACTS) == []
    typo = object_store({"configuration": {"endpointCa": {"name": "t", "key": "ca.crt"}}})
    (problem,) = check_custom_resources([OBJECT_STORE_CRD, typo], FACTS)
    assert problem.startswith("ObjectStore platform-databases/platform-backups: spec.configuration:")
    assert "'endpointCa' was unexpected" in problem
    wrong_type = object_store({"retentionPolicy": 7})
    assert check_custom_resources([OBJECT_STORE_CRD, wrong_type], FACTS)
    # Without the CRD in the render (a resource of an operator applied from a manifest), no judgement.
    assert check_custom_resources([typo], FACTS) == []


def _operator(env: list[dict], args: list[str]) -> dict:
    deployment = daemon_set(f"{MIRROR}/quay.io/prometheus/node-exporter:v1.12.1-distroless")
    deployment["kind"] = "Deployment"
    deployment["spec"]["template"]["spec"]["containers"][0].update({"env": env, "args": args})
    return deployment


@pytest.mark.parametrize(
    ("objects", "image"),
    [
        (
            [
                {
                    "kind": "Keycloak",
                    "metadata": {"name": "k"},
                    "spec": {"image": "quay.io/keycloak/keycloak:1"},
                }
            ],
            "quay.io/keycloak/keycloak:1",
        ),
        (
            [{"kind": "Cluster", "metadata": {"name": "c"}, "spec": {"imageName": "ghcr.io/pg:17"}}],
            "ghcr.io/pg:17",
        ),
        ([_operator([{"name": "RELATED_IMAGE_KEYCLOAK", "value": "quay.io/kc:2"}], [])], "quay.io/kc:2"),
        (
            [
                _operator([], ["--acme-http01-solver-image=quay.io/jetstack/solver:v1"]),
                {"kind": "ClusterIssuer", "metadata": {"name": "platform"}, "spec": {"acme": {}}},
            ],
            "quay.io/jetstack/solver:v1",
        ),
        ([_operator([], ["--prometheus-config-reloader=quay.io/reloader:v1"])], "quay.io/reloader:v1"),
        (
            [
                _operator(
                    [
                        {
                            "name": "SIDECAR_IMAGE",
                            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "SIDECAR_IMAGE"}},
                        }
                    ],
                    [],
                ),
                {
                    "kind": "ConfigMap",
                    "metadata": {"name": "cfg", "namespace": "platform-node-agents"},
                    "data": {"SIDECAR_IMAGE": "ghcr.io/sidecar:v1"},
                },
            ],
            "ghcr.io/sidecar:v1",
        ),
    ],
    ids=["keycloak-image", "cnpg-imageName", "env", "solver-flag", "reloader-flag", "env-from-configmap"],
)
def test_images_operators_are_told_of_are_checked_against_the_mirror(objects: list[dict], image: str) -> None:
    """The images an operator's pods pull that no container of the render names: the image fields
    of its resources, and the images its flags and environment give it."""
    problems = check_images(objects, FACTS)
    assert f"image {image} is not from the site's mirror {MIRROR}" in " ".join(problems)
    mirrored = f"{MIRROR}/{image}"
    allowed = SiteFacts(
        "north", "platform-gateway", PROXY_SERVICE, FACTS.allowed_images | {mirrored}, image_mirror=MIRROR
    )
    text = yaml.safe_dump(objects).replace(image, mirrored)
    assert check_images(yaml.safe_load(text), allowed) == []


OPERATOR_MANIFEST = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: keycloak-operator}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: keycloak-operator-role}
rules:
- {apiGroups: [""], resources: [secrets, services], verbs: [get, list, watch, create, delete, patch, update]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: keycloak-operator}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: keycloak-operator}}
  template:
    metadata: {labels: {app.kubernetes.io/name: keycloak-operator}}
    spec:
      containers:
      - name: keycloak-operator
        image: quay.io/keycloak/keycloak-operator:26.7.3
        env:
        - {name: RELATED_IMAGE_KEYCLOAK, value: quay.io/keycloak/keycloak:26.7.3}
        resources: {limits: {cpu: 700m, memory: 450Mi}, requests: {cpu: 300m, memory: 450Mi}}
"""
"""The shape of the Keycloak Operator's kubernetes.yml (its Deployment and Secret-reading Role)."""


def test_a_manifest_renders_as_the_program_applies_it_and_the_pack_judges_its_objects() -> None:
    north = load_stack_file(ROOT / "stacks" / "Pulumi.north.yaml")
    objects = render_manifest("operator", OPERATOR_MANIFEST, north)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "platform-identity"
    assert deployment["metadata"]["labels"]["national-platform/site"] == "north"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    mirror = north.registry.image_mirror
    assert container["image"] == f"{mirror}/quay.io/keycloak/keycloak-operator:26.7.3"
    assert container["env"][0]["value"] == f"{mirror}/quay.io/keycloak/keycloak:26.7.3"
    # The Role reads Secrets: listed with its reason, so the render accepts it.
    facts = SiteFacts("north", "platform-gateway", PROXY_SERVICE, frozenset(), image_mirror=mirror)
    assert check_secret_readers(objects, facts) == []
    assert check_secret_readers(objects, SiteFacts("north", "g", "p", frozenset(), secret_readers={}))
    # The pack's rules over the manifest's objects, as a real preview would hand them over: a
    # medium site's single-replica operator passes only as a named singleton.
    staging = load_stack_file(ROOT / "stacks" / "Pulumi.staging.yaml")
    staged = render_manifest("operator", OPERATOR_MANIFEST, staging)
    assert judge_with_the_pack({"manifest-operator": staged}, staging) == []
    settings = policy_config(staging)
    for config in settings.values():
        config["singletons"] = [s for s in config["singletons"] if s != "platform-identity/keycloak-operator"]
    found = judge_with_the_pack({"manifest-operator": staged}, staging, settings)
    assert found == [
        "policy replicas-and-disruption-budgets: platform-identity/keycloak-operator: 1 replica(s);"
        " a medium or large site runs at least 2",
        "policy replicas-and-disruption-budgets: platform-identity/keycloak-operator: no PodDisruptionBudget"
        " selects it",
    ]


def test_the_acme_solver_image_is_pulled_only_where_an_acme_issuer_is() -> None:
    controller = _operator([], ["--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1"])
    assert check_images([controller], FACTS) == []  # north: its CA issues, no solver ever runs
    acme = {"kind": "ClusterIssuer", "metadata": {"name": "platform"}, "spec": {"acme": {}}}
    assert check_images([controller, acme], FACTS)
