"""What the logging layer's parts share: the cluster's name and ports, the handles one part gives
the next (Elasticsearch → Kibana, Logstash, retention, exporter; Logstash → Filebeat), the layer's
Args, and the pod and resource shapes of ECK-managed and helper workloads.

The operator takes field ownership of the custom resources it reconciles (ECK 3.5 and earlier use
whole-object updates, elastic/cloud-on-k8s#8975), so Pulumi's server-side apply would conflict on
the next update: every ECK resource carries `pulumi.com/patchForce: "true"` (`FORCE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.injected import hardened_declarations
from natplat.blocks.labels import metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.layers.certificates import PublicCertificates, store_trust
from natplat.spec.backups import BackupPolicy, ObjectStore
from natplat.spec.catalog import LOGGING_IMAGES, ResolvedImage, resolve_image
from natplat.spec.model import ElasticsearchSizing, LoggingSection, RegistrySection, Resources, Site, Workload
from natplat.spec.quantities import byte_count

CLUSTER = "logs"
"""The Elasticsearch cluster's name; ECK derives its Services and Secrets from it."""
ES_HTTP_PORT = 9200
KIBANA_PORT = 5601
BEATS_PORT = 5044
EXPORTER_PORT = 9114
FORCE = {"pulumi.com/patchForce": "true"}

HARDENED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

ELASTIC_FS_GROUP = 1000
"""The group ECK 3.5.0 itself gives Elasticsearch and Logstash pods (`defaultFsGroup`), that of the
user the Elastic images run as (uid 1000)."""


def eck_pod_security(writes_volumes: bool) -> dict[str, Any]:
    """The pod security context of an ECK-built pod. ECK 3.5.0 sets its own (fsGroup 1000,
    RuntimeDefault) only when the template has none (`PodTemplateBuilder.WithPodSecurityContext`),
    and its filesystem-preparing init script changes ownership only when it runs as root, which
    Pod Security `restricted` forbids: a pod that writes a volume (Elasticsearch's data,
    Logstash's queue) must carry the fsGroup itself, or on volumes created root-owned (most CSI
    drivers) it cannot write them. `OnRootMismatch`: the volume is walked only when its root is
    not already the group's (large data volumes restart fast)."""
    context: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if writes_volumes:
        context |= {"fsGroup": ELASTIC_FS_GROUP, "fsGroupChangePolicy": "OnRootMismatch"}
    return context


@dataclass(frozen=True)
class ElasticsearchHandle:
    """How other parts reach the cluster: its ECK name (for `elasticsearchRef`), its HTTPS
    Service, and the Secrets ECK makes for it."""

    name: str
    namespace: str
    url: str
    elastic_user_secret: str
    ca_secret: str


@dataclass(frozen=True)
class LogstashHandle:
    """Where shippers send: the Beats input of the Logstash pipeline."""

    host: str
    port: int
    pod_labels: dict[str, str]
    namespace: str


@dataclass(frozen=True)
class Snapshots:
    """Elasticsearch's backups: the object store, how often, and for how long."""

    store: ObjectStore
    policy: BackupPolicy
    retention_days: int
    """The profile's snapshot retention, capped by `logging.retentionDays`: a backup never keeps
    logs longer than the site's own retention rule allows."""
    trust: pulumi.Output[str] | None
    """The site's CA certificates (PEM), when the store's certificate chains to them."""

    @staticmethod
    def from_site(site: Site) -> Snapshots | None:
        store, policy, days = site.object_store, site.backup_policy, site.snapshot_retention_days
        if store is None or policy is None or days is None:
            return None
        return Snapshots(store=store, policy=policy, retention_days=days, trust=store_trust(site))


@dataclass(frozen=True)
class LoggingArgs:
    site: str
    domain: str
    logging: LoggingSection
    elasticsearch: ElasticsearchSizing
    kibana: Workload
    logstash: Workload
    registry: RegistrySection
    storage_class: str
    namespace: PlacedNamespace
    node_agents: PlacedNamespace
    gateway_namespace: PlacedNamespace | None
    gateway_pod_labels: dict[str, str]
    scrapers: tuple[PlacedNamespace, ...]
    pull_secret: str | None
    backups: Snapshots | None = None
    """Where and how often Elasticsearch snapshots go (None: the site runs without backups)."""
    certificates: PublicCertificates | None = None
    after: tuple[pulumi.Resource, ...] = ()

    @staticmethod
    def from_site(
        site: Site,
        *,
        namespace: PlacedNamespace,
        node_agents: PlacedNamespace,
        gateway_namespace: PlacedNamespace | None,
        gateway_pod_labels: dict[str, str],
        scrapers: tuple[PlacedNamespace, ...],
        pull_secret: str | None,
        certificates: PublicCertificates | None = None,
        after: tuple[pulumi.Resource, ...] = (),
    ) -> LoggingArgs:
        return LoggingArgs(
            site=site.name,
            domain=site.site.domain,
            logging=site.logging,
            elasticsearch=site.sizing.elasticsearch,
            kibana=site.sizing.kibana,
            logstash=site.sizing.logstash,
            registry=site.registry,
            storage_class=site.cluster.storage_class,
            namespace=namespace,
            node_agents=node_agents,
            gateway_namespace=gateway_namespace,
            gateway_pod_labels=gateway_pod_labels,
            scrapers=scrapers,
            pull_secret=pull_secret,
            backups=Snapshots.from_site(site),
            certificates=certificates,
            after=after,
        )

    def image(self, key: str) -> ResolvedImage:
        return resolve_image(LOGGING_IMAGES[key], self.registry)

    @property
    def kibana_host(self) -> str:
        return f"{self.logging.kibana_hostname}.{self.domain}"


def heap_option(resources: Resources) -> str:
    """Half the memory limit for the JVM heap (the rest is off-heap and page cache), in MiB."""
    heap = byte_count(resources.memory_limit) // 2 // 2**20
    return f"-Xms{heap}m -Xmx{heap}m"


def resources_of(resources: Resources) -> dict[str, Any]:
    return {
        "requests": {"cpu": resources.cpu, "memory": resources.memory},
        "limits": {"memory": resources.memory_limit},
    }


def eck_resource(
    args: LoggingArgs,
    resource: str,
    api_version: str,
    kind: str,
    name: str,
    namespace: pulumi.Input[str],
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
    extra_annotations: dict[str, str] | None = None,
) -> k8s.apiextensions.CustomResource:
    """An ECK custom resource, force-patched (the operator co-owns its fields)."""
    return k8s.apiextensions.CustomResource(
        resource,
        api_version=api_version,
        kind=kind,
        metadata=metadata(
            args.site,
            name,
            "logging",
            namespace=namespace,
            annotations={**FORCE, **(extra_annotations or {})},
        ),
        spec=spec,
        opts=opts,
    )


def eck_pod_spec(
    args: LoggingArgs,
    resource_type: str,
    container: str,
    resources: Resources,
    env: list[dict[str, str]] | None = None,
    *,
    writes_volumes: bool = False,
) -> dict:
    """The pod template spec of an ECK-managed workload: platform priority, pull secret,
    non-root under RuntimeDefault (with the fsGroup where it writes a volume), the one named
    container hardened."""
    return {
        "priorityClassName": PLATFORM_PRIORITY.name,
        "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
        "securityContext": eck_pod_security(writes_volumes),
        # The init containers ECK injects into every pod of this resource, hardened by name
        # (natplat.blocks.injected): ECK merges ours over its own.
        "initContainers": hardened_declarations(resource_type, init=True),
        "containers": [
            {
                "name": container,
                "resources": resources_of(resources),
                "securityContext": HARDENED,
                **({"env": env} if env else {}),
            }
        ],
    }


def small_pod(args: LoggingArgs, user: int, **spec: Any) -> k8s.core.v1.PodSpecArgs:
    """The pod of a small platform helper (the retention Job, the exporter): no API token,
    platform priority, the site's pull secret, non-root under RuntimeDefault."""
    pull = args.pull_secret
    return k8s.core.v1.PodSpecArgs(
        automount_service_account_token=False,
        priority_class_name=PLATFORM_PRIORITY.name,
        image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=pull)] if pull else None,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=user,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        **spec,
    )


def locked_down(user: int) -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )
