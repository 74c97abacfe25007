"""Containers operators inject into the platform's pods are declared hardened in the program's pod
templates, so every pod passes Pod Security `restricted` in its namespace (issue: no Logstash pod
was ever admitted, because ECK 3.5.0 gives its `logstash-internal-init-config` init container only
`privileged: false`)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from conftest import stack_run
from harness import ROOT, ProgramRun
from natplat.blocks.injected import (
    ALERTMANAGER,
    ELASTICSEARCH,
    INJECTED,
    KIBANA,
    LOGSTASH,
    PROMETHEUS,
    InjectedContainer,
    policy_table,
)
from natplat.review.policy_config import site_settings
from natplat.spec.stackfile import load_stack_file

sys.path.insert(0, str(ROOT / "policies"))
from platform_policies import operator_pod_templates

LOGGING_STACKS = ["staging", "capital", "north", "coast"]
ALL_STACKS = ["local", *LOGGING_STACKS]
CHART_VALUES_PATH = {
    PROMETHEUS: ("prometheus", "prometheusSpec"),
    ALERTMANAGER: ("alertmanager", "alertmanagerSpec"),
}


def restricted(container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """What Pod Security `restricted` would refuse in this container (pod-level fallbacks
    included), as the API server resolves it."""
    own = container.get("securityContext") or {}
    pod_context = pod.get("securityContext") or {}

    def effective(key: str) -> Any:
        return own.get(key) if own.get(key) is not None else pod_context.get(key)

    problems = []
    if own.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation != false")
    if "ALL" not in ((own.get("capabilities") or {}).get("drop") or []):
        problems.append("capabilities.drop != [ALL]")
    if set((own.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
        problems.append("capabilities added")
    if effective("runAsNonRoot") is not True:
        problems.append("runAsNonRoot != true")
    if (effective("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile not RuntimeDefault")
    if own.get("privileged"):
        problems.append("privileged")
    return problems


def _eck_templates(run: ProgramRun, resource_type: str) -> list[tuple[str, dict[str, Any]]]:
    (resource,) = run.of_type(resource_type)
    return operator_pod_templates(resource_type, resource.inputs)


def _declared(pod: dict[str, Any], container: InjectedContainer) -> dict[str, Any]:
    field = "initContainers" if container.init else "containers"
    matches = [c for c in pod.get(field) or [] if c.get("name") == container.name]
    assert len(matches) == 1, f"{container.name} is not declared once in {field}"
    return matches[0]


ECK_CONTAINERS = [c for c in INJECTED if c.resource_type in (ELASTICSEARCH, KIBANA, LOGSTASH)]
OPERATOR_CONTAINERS = [c for c in INJECTED if c.resource_type in (PROMETHEUS, ALERTMANAGER)]


@pytest.mark.parametrize("stack", LOGGING_STACKS)
@pytest.mark.parametrize(
    "container", ECK_CONTAINERS, ids=lambda c: f"{c.resource_type.rsplit(':', 1)[-1]}/{c.name}"
)
def test_eck_injected_containers_are_declared_hardened(stack: str, container: InjectedContainer) -> None:
    """ECK merges a declared container over the one it injects (PodTemplateBuilder.WithInitContainers
    takes the user's as the base): the fact behind each entry is `container.source`."""
    templates = _eck_templates(stack_run(stack), container.resource_type)
    assert templates
    for where, pod in templates:
        declared = _declared(pod, container)
        assert restricted(declared, pod) == [], (stack, where, container.source)
        # Keep the operator's own read-only root where it sets one.
        assert declared["securityContext"].get("readOnlyRootFilesystem", False) is container.read_only_root
        # Only name and security context: image, command and mounts stay the operator's.
        assert set(declared) == {"name", "securityContext"}


@pytest.mark.parametrize("stack", ALL_STACKS)
@pytest.mark.parametrize(
    "container", OPERATOR_CONTAINERS, ids=lambda c: f"{c.resource_type.rsplit(':', 1)[-1]}/{c.name}"
)
def test_prometheus_operator_injected_containers_are_declared_hardened(
    stack: str, container: InjectedContainer
) -> None:
    """kube-prometheus-stack 88.5.3 copies prometheusSpec / alertmanagerSpec `securityContext`,
    `containers` and `initContainers` into the Prometheus and Alertmanager resources it renders
    (templates/prometheus/prometheus.yaml, templates/alertmanager/alertmanager.yaml), and the
    operator merges same-named containers over its reloaders."""
    (chart,) = [
        r.inputs for r in stack_run(stack).of_type("kubernetes:helm.sh/v4:Chart") if r.name == "monitoring"
    ]
    top, spec_key = CHART_VALUES_PATH[container.resource_type]
    pod = chart["values"][top][spec_key]
    declared = _declared(pod, container)
    assert restricted(declared, pod) == [], container.source
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_every_pack_configuration_carries_the_injected_table() -> None:
    site = load_stack_file(ROOT / "stacks" / "Pulumi.north.yaml")
    table = site_settings(site)["injectedContainers"]
    assert table == policy_table()
    assert table[LOGSTASH] == {"init": ["logstash-internal-init-config"], "containers": [], "when": {}}
