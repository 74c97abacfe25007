"""Cross-field rules of the site model, by class: route ownership, names unique across sections,
the callers/dependsOn graph, and names that become Kubernetes object names. Each mistake is one a
new operator makes, refused with the file and the key path before any resource exists."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import stack_run
from natplat.spec.model import PLATFORM_PATHS, PROJECT, RESERVED_SERVICE_NAMES
from natplat.spec.stackfile import load_stack_file
from test_site_model import refusal, stack_document, write

NS = PROJECT


def services(*extra: dict[str, Any], first: dict[str, Any] | None = None) -> Callable[[dict], None]:
    """Keep the stack's own first service (with changes) and add `extra` ones."""

    def mutate(document: dict) -> None:
        listed = document["config"][f"{NS}:services"]
        listed[0].update(first or {})
        listed.extend(copy.deepcopy(list(extra)))

    return mutate


def setting(key: str, path: list[str | int], value: Any) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        node = document["config"].setdefault(f"{NS}:{key}", {})
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[path[-1]] = value

    return mutate


def clients(*extra: dict[str, Any]) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        document["config"][f"{NS}:identity"]["clients"].extend(copy.deepcopy(list(extra)))

    return mutate


SECRET = {"secure": "v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA"}
CLIENT_KEY = (
    (Path(__file__).resolve().parents[1] / "stacks" / "Pulumi.capital.yaml")
    .read_text()
    .split("publicKey: |\n", 1)[1]
    .split("  national")[0]
)
CLIENT_KEY = "\n".join(line.strip() for line in CLIENT_KEY.strip().splitlines()) + "\n"
BILLING = {"name": "billing", "routes": ["/v1/billing"]}

# (class, case id, stack, mutation, expected key path, expected words)
CASES: list[tuple[str, str, str, Callable[[dict], None], str, str]] = [
    # ---- route ownership
    (
        "routes",
        "same-route-two-services",
        "capital",
        services({**BILLING, "routes": ["/v1/offices"]}),
        "services[1].routes[0]",
        "overlaps services[0].routes[0] '/v1/offices' of 'offices'",
    ),
    (
        "routes",
        "nested-route-two-services",
        "capital",
        services({**BILLING, "routes": ["/v1"]}),
        "services[1].routes[0]",
        "Kong routes by prefix",
    ),
    (
        "routes",
        "route-under-another",
        "staging",
        services({**BILLING, "routes": ["/v1/offices/invoices"]}),
        "services[1].routes[0]",
        "overlaps services[0].routes[0]",
    ),
    (
        "routes",
        "same-route-twice-in-one-service",
        "coast",
        services(first={"routes": ["/v1/offices", "/v1/offices"]}),
        "services[0].routes[1]",
        "of the same service",
    ),
    (
        "routes",
        "whole-host",
        "capital",
        services({**BILLING, "routes": ["/"]}),
        "services[1].routes[0]",
        "would claim the whole API host",
    ),
    (
        "routes",
        "platform-metrics",
        "capital",
        services({**BILLING, "routes": ["/metrics"]}),
        "services[1].routes[0]",
        "Prometheus endpoint",
    ),
    (
        "routes",
        "well-known-on-api",
        "north",
        services(first={"routes": ["/v1/offices", "/.well-known/openid-configuration"]}),
        "services[0].routes[1]",
        "RFC 8615",
    ),
    (
        "routes",
        "trailing-slash",
        "capital",
        services({**BILLING, "routes": ["/v1/billing/"]}),
        "services[1].routes[0]",
        "not a clean path prefix",
    ),
    (
        "routes",
        "dot-dot-segment",
        "capital",
        services({**BILLING, "routes": ["/v1/../offices"]}),
        "services[1].routes[0]",
        "not a clean path prefix",
    ),
    # ---- names unique across sections
    (
        "identity",
        "client-id-twice",
        "capital",
        clients({"id": "registry-sync", "scopes": ["offices.read"], "publicKey": CLIENT_KEY}),
        "identity.clients[1].id",
        "'registry-sync' is already clients[0].id",
    ),
    (
        "identity",
        "grafana-host-is-the-api-host",
        "capital",
        setting("monitoring", ["grafanaHostname"], "api"),
        "monitoring.grafanaHostname",
        "'api' is also gateway.hostname",
    ),
    (
        "identity",
        "kibana-host-is-grafana",
        "staging",
        setting("logging", ["kibanaHostname"], "grafana"),
        "logging.kibanaHostname",
        "'grafana' is also monitoring.grafanaHostname",
    ),
    (
        "identity",
        "auth-host-is-the-api-host",
        "north",
        setting("gateway", ["hostname"], "auth"),
        "identity.hostname",
        "'auth' is also gateway.hostname",
    ),
    (
        "identity",
        "service-named-twice",
        "capital",
        services(BILLING, {**BILLING, "routes": ["/v2/billing"]}),
        "services[2].name",
        "'billing' is already services[1].name",
    ),
    # ---- the callers / dependsOn graph
    (
        "graph",
        "depends-on-itself",
        "capital",
        services(first={"dependsOn": ["offices"]}),
        "services[0].dependsOn",
        "names 'offices' itself",
    ),
    (
        "graph",
        "caller-of-itself",
        "coast",
        services(first={"callers": ["offices"]}),
        "services[0].callers",
        "names 'offices' itself",
    ),
    (
        "graph",
        "depends-on-cycle",
        "capital",
        services({**BILLING, "dependsOn": ["offices"]}, first={"dependsOn": ["billing"]}),
        "services[1]",
        "form a cycle: billing → offices → billing",
    ),
    (
        "graph",
        "caller-and-dependency-cycle",
        "staging",
        services({**BILLING, "callers": ["offices"], "dependsOn": ["offices"]}),
        "services[1]",
        "form a cycle",
    ),
    # ---- names that become Kubernetes names
    (
        "kubernetes-names",
        "service-named-like-the-baseline-policy",
        "capital",
        services({**BILLING, "name": "default-deny"}),
        "services[1].name",
        "the baseline's NetworkPolicy",
    ),
    (
        "kubernetes-names",
        "service-name-too-long",
        "capital",
        services({**BILLING, "name": "b" * 33}),
        "services[1].name",
        "must match the pattern",
    ),
    (
        "kubernetes-names",
        "service-name-starts-with-digit",
        "capital",
        services({**BILLING, "name": "2fa"}),
        "services[1].name",
        "must match the pattern",
    ),
    (
        "kubernetes-names",
        "key-generation-upper-case",
        "capital",
        setting("identity", ["signingKeys"], ["Primary"]),
        "identity.signingKeys[0]",
        "must match the pattern",
    ),
]


@pytest.mark.parametrize(
    ("stack", "mutate", "key", "words"),
    [pytest.param(*case[2:], id=f"{case[0]}:{case[1]}") for case in CASES],
)
def test_cross_field_mistakes_are_refused_with_the_key(
    tmp_path: Path, stack: str, mutate: Callable[[dict], None], key: str, words: str
) -> None:
    path, problems = refusal(tmp_path, stack, mutate)
    matching = [line for line in problems if f"{NS}:{key}:" in line and words in line]
    assert matching, f"no line names {key!r} with {words!r}: {problems}"
    assert all(line.startswith(f"{path}: ") for line in problems)


def test_every_class_has_cases() -> None:
    assert {case[0] for case in CASES} == {"routes", "identity", "graph", "kubernetes-names"}


@pytest.mark.parametrize(
    "mutate",
    [
        services({**BILLING, "routes": ["/v1/billing", "/v2/billing"], "dependsOn": ["offices"]}),
        services({**BILLING, "callers": ["offices"]}),
        services({**BILLING, "routes": ["/v1/offices-archive"]}),  # a sibling, not a nested prefix
        setting("logging", ["kibanaHostname"], "logs"),
    ],
    ids=["two-routes-and-a-dependency", "caller", "sibling-prefix", "renamed-host"],
)
def test_valid_neighbours_of_those_mistakes_are_accepted(
    tmp_path: Path, mutate: Callable[[dict], None]
) -> None:
    document = copy.deepcopy(stack_document("capital"))
    mutate(document)
    assert load_stack_file(write(tmp_path, "capital", document)).name == "capital"


def test_reserved_service_names_are_what_the_platform_puts_beside_services() -> None:
    """The names a service may not take are exactly the kinds a service creates that the platform
    also creates in platform-services (here, the baseline's NetworkPolicies), plus the names of
    the identity layer's own workloads (`auth`, its host; `keycloak`), kept off for clarity."""
    kinds = {"Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler", "PodDisruptionBudget",
             "ServiceMonitor", "NetworkPolicy", "Ingress"}  # fmt: skip
    run = stack_run("capital")
    services_made = {"offices"}
    taken = {
        r.metadata["name"]
        for r in run.resources
        if r.kind in kinds
        and r.metadata.get("namespace") == "platform-services"
        and r.metadata.get("name") not in services_made
        and not r.metadata.get("name", "").startswith("offices")
    }
    assert taken == set(RESERVED_SERVICE_NAMES) - {"auth", "keycloak"}


def test_platform_paths_are_the_kits_and_the_hosts() -> None:
    kit = (
        Path(__file__).resolve().parents[1] / "services" / "lib" / "kit" / "src" / "service.js"
    ).read_text()
    for path in ("/healthz", "/readyz", "/metrics"):
        assert f"'{path}'" in kit and path in PLATFORM_PATHS
    assert "/.well-known" in PLATFORM_PATHS
