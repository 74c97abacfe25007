"""The cluster baseline every site gets before any workload: one namespace per concern with Pod
Security Admission, quotas and default container sizes from the profile, default-deny network
policies that still allow DNS, and the priority classes of the platform and its services."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.labels import metadata
from natplat.spec.model import Concern, NamespaceQuota, Resources, Site
from natplat.spec.sensitive import SecretValue

PULL_SECRET_NAME = "registry-pull"  # noqa: S105 - a Secret's name, not its value
"""The image pull Secret every namespace gets when the site's registry needs credentials."""


@dataclass(frozen=True)
class NamespacePlan:
    concern: Concern
    name: str
    pod_security: str
    why: str = ""


NAMESPACES: dict[Concern, NamespacePlan] = {
    plan.concern: plan
    for plan in (
        NamespacePlan("gateway", "platform-gateway", "restricted"),
        NamespacePlan("services", "platform-services", "restricted"),
        NamespacePlan("cache", "platform-cache", "restricted"),
        NamespacePlan("monitoring", "platform-monitoring", "restricted"),
        NamespacePlan("logging", "platform-logging", "restricted"),
        NamespacePlan("identity", "platform-identity", "restricted"),
        # PostgreSQL clusters (CloudNativePG): the operator watches only this namespace, so
        # every database of the platform lives here, next to it.
        NamespacePlan("databases", "platform-databases", "restricted"),
        # cert-manager: the site's issuer, its CA or ACME account key and DNS credentials.
        NamespacePlan("certificates", "platform-certificates", "restricted"),
        # The one looser namespace. Filebeat reads every container's log files from the node
        # (hostPath /var/log/containers and /var/log/pods) and the node exporter reads the
        # host's /proc and /sys: both are node agents by nature, which `restricted` and even
        # `baseline` forbid. Keeping them here keeps every other namespace `restricted`.
        NamespacePlan(
            "nodeAgents",
            "platform-node-agents",
            "privileged",
            "node agents: Filebeat reads container logs and the node exporter reads /proc and "
            "/sys from host paths",
        ),
    )
}


@dataclass(frozen=True)
class PriorityPlan:
    name: str
    value: int
    description: str


PLATFORM_PRIORITY = PriorityPlan(
    "national-platform-infrastructure",
    100_000,
    "The platform itself (gateway, cache, monitoring, logging): evicted last, before services.",
)
SERVICES_PRIORITY = PriorityPlan(
    "national-platform-services",
    50_000,
    "The platform's microservices: above unlabelled workloads, below the platform itself.",
)


def concerns_for(site: Site) -> list[Concern]:
    """The namespaces a site needs: one per enabled layer, plus node agents when a layer that
    runs them (logging's shipper, monitoring's node exporter) is on."""
    wanted: list[Concern] = []
    if site.gateway.enabled:
        wanted.append("gateway")
    if site.certificates is not None:
        wanted.append("certificates")
    if site.services:
        wanted.append("services")
    if site.identity.enabled:
        wanted += ["identity", "databases"]
    for concern in ("cache", "monitoring", "logging"):
        if getattr(site, concern).enabled:
            wanted.append(concern)  # type: ignore[arg-type]
    if site.monitoring.enabled or site.logging.enabled:
        wanted.append("nodeAgents")
    return wanted


@dataclass(frozen=True)
class BaselineArgs:
    site: str
    kubernetes_version: str
    concerns: tuple[Concern, ...]
    quotas: dict[Concern, NamespaceQuota]
    container_defaults: Resources
    container_max_memory: str
    pull_secret: SecretValue | None = None

    @staticmethod
    def from_site(site: Site) -> BaselineArgs:
        concerns = tuple(concerns_for(site))
        return BaselineArgs(
            site=site.name,
            kubernetes_version=site.site.kubernetes_version,
            concerns=concerns,
            quotas={c: site.sizing.namespace_quotas.for_concern(c) for c in concerns},
            container_defaults=site.sizing.container_defaults,
            container_max_memory=site.sizing.container_max_memory,
            pull_secret=site.registry.pull_secret,
        )


@dataclass(frozen=True)
class PlacedNamespace:
    """A namespace handed to a layer: its name, for DNS names and selectors, and `ready`, the
    same name as an Output that resolves once the namespace and its guard rails exist, for
    metadata (so nothing lands in it unguarded)."""

    name: str
    ready: pulumi.Output[str]

    @property
    def selector(self) -> dict[str, str]:
        """Labels that select this namespace in a NetworkPolicy peer."""
        return {"kubernetes.io/metadata.name": self.name}

    def service_host(self, service: str) -> str:
        return f"{service}.{self.name}.svc.cluster.local"


class ClusterBaseline(pulumi.ComponentResource):
    """Namespaces and their guard rails. `namespaces` maps each concern to the namespace the
    layer of that concern deploys into."""

    namespaces: dict[Concern, PlacedNamespace]
    pull_secret_name: str | None
    """The image pull Secret present in every namespace, or None when the registry is open."""

    def __init__(self, name: str, args: BaselineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:cluster:ClusterBaseline", name, None, opts)
        self._args = args
        self.namespaces = {}
        self.pull_secret_name = PULL_SECRET_NAME if args.pull_secret is not None else None
        for plan in (PLATFORM_PRIORITY, SERVICES_PRIORITY):
            k8s.scheduling.v1.PriorityClass(
                plan.name,
                metadata=metadata(args.site, plan.name, "baseline"),
                value=plan.value,
                global_default=False,
                preemption_policy="PreemptLowerPriority",
                description=plan.description,
                opts=pulumi.ResourceOptions(parent=self),
            )
        for concern in args.concerns:
            plan = NAMESPACES[concern]
            self.namespaces[concern] = PlacedNamespace(plan.name, self._namespace(plan))
        self.register_outputs({"namespaces": {c: n.ready for c, n in self.namespaces.items()}})

    def _namespace(self, plan: NamespacePlan) -> pulumi.Output[str]:
        args = self._args
        version = f"v{args.kubernetes_version}"
        annotations = {"national-platform/pod-security-reason": plan.why} if plan.why else None
        namespace = k8s.core.v1.Namespace(
            plan.name,
            metadata=metadata(
                args.site,
                plan.name,
                "baseline",
                labels={
                    f"pod-security.kubernetes.io/{mode}{suffix}": value
                    for mode in ("enforce", "audit", "warn")
                    for suffix, value in (("", plan.pod_security), ("-version", version))
                },
                annotations=annotations,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        inside = pulumi.ResourceOptions(parent=namespace)
        ns = namespace.metadata.name
        quota = args.quotas[plan.concern]
        defaults = args.container_defaults
        guards = [
            k8s.core.v1.ResourceQuota(
                f"{plan.name}-quota",
                metadata=metadata(args.site, "quota", "baseline", namespace=ns),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(
                    hard={
                        "requests.cpu": quota.requests_cpu,
                        "requests.memory": quota.requests_memory,
                        "limits.memory": quota.limits_memory,
                        "pods": str(quota.pods),
                        "persistentvolumeclaims": str(quota.persistent_volume_claims),
                        "requests.storage": quota.requests_storage,
                    }
                ),
                opts=inside,
            ),
            k8s.core.v1.LimitRange(
                f"{plan.name}-limits",
                metadata=metadata(args.site, "container-defaults", "baseline", namespace=ns),
                spec=k8s.core.v1.LimitRangeSpecArgs(
                    limits=[
                        k8s.core.v1.LimitRangeItemArgs(
                            type="Container",
                            default_request={"cpu": defaults.cpu, "memory": defaults.memory},
                            default={"memory": defaults.memory_limit},
                            max={"memory": args.container_max_memory},
                        )
                    ]
                ),
                opts=inside,
            ),
            k8s.networking.v1.NetworkPolicy(
                f"{plan.name}-default-deny",
                metadata=metadata(args.site, "default-deny", "baseline", namespace=ns),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Ingress", "Egress"],
                ),
                opts=inside,
            ),
            k8s.networking.v1.NetworkPolicy(
                f"{plan.name}-allow-dns",
                metadata=metadata(args.site, "allow-dns-egress", "baseline", namespace=ns),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                    policy_types=["Egress"],
                    egress=[
                        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                            to=[
                                k8s.networking.v1.NetworkPolicyPeerArgs(
                                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                        match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                    ),
                                    pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                        match_labels={"k8s-app": "kube-dns"}
                                    ),
                                )
                            ],
                            ports=[
                                k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=53)
                                for protocol in ("UDP", "TCP")
                            ],
                        )
                    ],
                ),
                opts=inside,
            ),
        ]
        if args.pull_secret is not None:
            guards.append(
                k8s.core.v1.Secret(
                    f"{plan.name}-registry-pull",
                    metadata=metadata(args.site, PULL_SECRET_NAME, "baseline", namespace=ns),
                    type="kubernetes.io/dockerconfigjson",
                    string_data={".dockerconfigjson": args.pull_secret.output()},
                    opts=inside,
                )
            )
        # Layers get the name only once the namespace is guarded: nothing lands in it before
        # its quota, defaults and default-deny policy exist.
        return pulumi.Output.all(ns, *[guard.urn for guard in guards]).apply(lambda values: values[0])
