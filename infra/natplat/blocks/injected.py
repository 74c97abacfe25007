"""Containers that operators add to the pods of resources the program declares.

Pod Security `restricted` is checked on the pod the operator finally builds, not on the resource the
program sends: a container the operator injects with a weak security context gets the whole pod
refused, while `pulumi up` reports the resource itself as created. ECK 3.5.0's Logstash controller
did exactly that (`logstash-internal-init-config` with only `privileged: false`), so no Logstash pod
ever started on any site with logging.

Each entry below is a fact read in the operator's source at the pinned version. For every one, the
program's pod template declares the container by name with the hardened settings, so the operator
merges ours over its own (ECK: `PodTemplateBuilder.WithInitContainers` takes the user's container as
the base and only fills what it leaves unset; prometheus-operator: a strategic merge patch by
name). Declaring a name the operator does not inject would add a container of our own to the pod,
so the list holds exactly what each operator injects for the way the program configures it.
The policy pack checks the same list (`injected-containers-hardened`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HARDENED_CONTAINER: dict[str, Any] = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""What Pod Security `restricted` asks of every container (a read-only root is our own rule on
top, set where the image allows it)."""


@dataclass(frozen=True)
class InjectedContainer:
    resource_type: str
    """The Pulumi type of the resource whose pods get the container."""
    name: str
    init: bool
    operator: str
    source: str
    """Where the operator's source says so, at the pinned version."""
    read_only_root: bool
    """Whether the operator's own security context for it has a read-only root: ours keeps it."""
    when: str | None = None
    """The resource's `spec` field whose presence makes the operator inject it (None: always)."""


ECK = "ECK 3.5.0 (elastic/cloud-on-k8s v3.5.0)"
PROMETHEUS_OPERATOR = "prometheus-operator v0.93 (kube-prometheus-stack 88.5.3)"

ELASTICSEARCH = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
KIBANA = "kubernetes:kibana.k8s.elastic.co/v1:Kibana"
LOGSTASH = "kubernetes:logstash.k8s.elastic.co/v1alpha1:Logstash"
PROMETHEUS = "kubernetes:monitoring.coreos.com/v1:Prometheus"
ALERTMANAGER = "kubernetes:monitoring.coreos.com/v1:Alertmanager"

INJECTED: tuple[InjectedContainer, ...] = (
    InjectedContainer(
        ELASTICSEARCH,
        "elastic-internal-init-filesystem",
        True,
        ECK,
        "pkg/controller/elasticsearch/initcontainer/initcontainer.go: PrepareFilesystemContainerName,"
        " always added by NewInitContainers",
        read_only_root=True,
    ),
    InjectedContainer(
        ELASTICSEARCH,
        "elastic-internal-suspend",
        True,
        ECK,
        "pkg/controller/elasticsearch/initcontainer/initcontainer.go: SuspendContainerName,"
        " always added by NewInitContainers",
        read_only_root=True,
    ),
    InjectedContainer(
        ELASTICSEARCH,
        "elastic-internal-init-keystore",
        True,
        ECK,
        "pkg/controller/common/keystore/initcontainer.go: InitContainerName, added for secureSettings"
        " (pkg/controller/elasticsearch/driver/stateful/keystore.go: securitycontext.For(version, true):"
        " read-only root, no escalation, drops ALL, non-root; no seccomp of its own)",
        read_only_root=True,
        when="secureSettings",
    ),
    InjectedContainer(
        KIBANA,
        "elastic-internal-init",
        True,
        ECK,
        "pkg/controller/kibana/volume/volume.go: InitContainerName; pkg/controller/kibana/pod.go adds it"
        " to every Kibana pod",
        read_only_root=True,
    ),
    InjectedContainer(
        LOGSTASH,
        "logstash-internal-init-config",
        True,
        ECK,
        "pkg/controller/logstash/initcontainer.go: InitConfigContainerName, SecurityContext with only"
        " Privileged: false (refused by Pod Security restricted unless ours is merged over it)",
        read_only_root=False,
    ),
    InjectedContainer(
        PROMETHEUS,
        "init-config-reloader",
        True,
        PROMETHEUS_OPERATOR,
        "pkg/operator/config_reloader.go: drops ALL, no escalation, read-only root; runAsNonRoot and"
        " seccomp come from the pod (prometheusSpec.securityContext)",
        read_only_root=True,
    ),
    InjectedContainer(
        PROMETHEUS,
        "config-reloader",
        False,
        PROMETHEUS_OPERATOR,
        "pkg/operator/config_reloader.go, as init-config-reloader",
        read_only_root=True,
    ),
    InjectedContainer(
        ALERTMANAGER,
        "init-config-reloader",
        True,
        PROMETHEUS_OPERATOR,
        "pkg/alertmanager/statefulset.go: the operator's config reloader (pkg/operator/config_reloader.go)",
        read_only_root=True,
    ),
    InjectedContainer(
        ALERTMANAGER,
        "config-reloader",
        False,
        PROMETHEUS_OPERATOR,
        "pkg/alertmanager/statefulset.go, as init-config-reloader",
        read_only_root=True,
    ),
)
"""Not listed, with the reason: ECK adds nothing to Beats pods without `secureSettings` or stack
monitoring (pkg/controller/beat/common/pod.go), which Filebeat has neither of, and Filebeat runs
in the node agents' namespace anyway; Kibana and Logstash get no `secureSettings`. Kong's
`clear-stale-pid` and redis-ha's `config-init` init containers are chart templates, not operator
injections: they take the chart's `containerSecurityContext` values, which the gateway and cache
layers set."""


def injected(resource_type: str) -> list[InjectedContainer]:
    return [c for c in INJECTED if c.resource_type == resource_type]


def hardened_context(container: InjectedContainer) -> dict[str, Any]:
    return {**HARDENED_CONTAINER, **({"readOnlyRootFilesystem": True} if container.read_only_root else {})}


def hardened_declarations(
    resource_type: str, *, init: bool, spec_fields: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The containers of `resource_type` the operator injects (init or regular) into a resource
    whose spec sets `spec_fields`, declared by name with the hardened security context, for the
    program's pod template. A conditional one is declared only when its field is set: declaring
    a name the operator does not inject would add a container of our own."""
    return [
        {"name": c.name, "securityContext": hardened_context(c)}
        for c in injected(resource_type)
        if c.init == init and (c.when is None or c.when in spec_fields)
    ]


def policy_table() -> dict[str, dict[str, Any]]:
    """The same facts for the policy pack: resource type → init and regular container names."""
    table: dict[str, dict[str, Any]] = {}
    for c in INJECTED:
        entry = table.setdefault(c.resource_type, {"init": [], "containers": [], "when": {}})
        entry["init" if c.init else "containers"].append(c.name)
        if c.when is not None:
            entry["when"][c.name] = c.when
    return table
