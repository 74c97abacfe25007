"""The cache layer: Redis (or Valkey) from the redis-ha chart, behind one endpoint that always
reaches the master, with a generated password the services and Kong receive through a typed
handle.

Topology follows the profile. One replica runs alone: clients talk to it directly. Three or more
run under Sentinel (quorum 2) with HAProxy in front, which health-checks every node for
`role:master` and forwards only there, so clients that cannot speak Sentinel (OSS Kong's
rate-limiting plugin among them) still follow a failover.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from natplat.blocks import netpol
from natplat.blocks.charts import pinned_chart
from natplat.blocks.labels import common_labels, metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.spec.catalog import (
    CACHE_ENGINES,
    HAPROXY_IMAGE,
    REDIS_EXPORTER_IMAGE,
    REDIS_HA_CHART,
    ResolvedImage,
    resolve_image,
)
from natplat.spec.model import CacheSection, RegistrySection, Site, StatefulWorkload
from natplat.spec.quantities import byte_count

RELEASE = "redis-ha"
"""The Helm release name. It contains the chart name, so the chart's fullname is exactly this and
the names below (Services, pod labels) follow from it."""

REDIS_PORT = 6379
SENTINEL_PORT = 26379
EXPORTER_PORT = 9121
HAPROXY_METRICS_PORT = 9101

# Pod labels the chart's templates set (`app: <chart name>[-haproxy]`, `release: <release>`).
REDIS_POD_LABELS = {"app": "redis-ha", "release": RELEASE}
HAPROXY_POD_LABELS = {"app": "redis-ha-haproxy", "release": RELEASE}

PASSWORD_SECRET = "redis-auth"  # noqa: S105 - the Secret's name
PASSWORD_KEY = "auth"  # noqa: S105 - the key inside it

# Sidecars (Sentinel, exporter, split-brain check, init) are small and fixed; the Redis container
# itself is sized by the profile.
SIDECAR_RESOURCES = {"requests": {"cpu": "25m", "memory": "32Mi"}, "limits": {"memory": "96Mi"}}
HAPROXY_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}

HARDENED_CONTAINER = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,  # Redis and Sentinel write only under /data (the volume)
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}


@dataclass(frozen=True)
class SecretKeyRef:
    """One key of a Kubernetes Secret, with the Secret resource to depend on."""

    namespace: str
    name: str
    key: str
    secret: k8s.core.v1.Secret


@dataclass(frozen=True)
class CacheEndpoint:
    """What a cache client needs: where the master is and where its password lives. Secrets do
    not cross namespaces, so the password exists once per client namespace."""

    host: str
    port: int
    namespace: str
    pod_labels: Mapping[str, str]
    """Labels of the pods clients connect to (HAProxy, or Redis itself), for egress policies."""
    passwords: Mapping[str, SecretKeyRef]

    def client_egress(self) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        """The egress rule a client's NetworkPolicy needs: the endpoint's pods, its port only."""
        return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
            to=[netpol.pods_in(self.namespace, self.pod_labels)], ports=netpol.tcp(self.port)
        )

    def password_in(self, namespace: str) -> SecretKeyRef:
        if namespace not in self.passwords:
            raise KeyError(
                f"the cache password was not granted to namespace {namespace!r} "
                f"(granted: {', '.join(sorted(self.passwords))}); add it to the cache's clients"
            )
        return self.passwords[namespace]


@dataclass(frozen=True)
class CacheArgs:
    site: str
    cache: CacheSection
    sizing: StatefulWorkload
    registry: RegistrySection
    storage_class: str
    namespace: PlacedNamespace
    clients: tuple[PlacedNamespace, ...]
    """Namespaces whose pods may connect (the services, and Kong for its rate-limiting counters)."""
    credentials_in: tuple[PlacedNamespace, ...]
    """Namespaces that get a copy of the password Secret: where the pods and the Kong plugins
    that read it live. Secrets cannot be read across namespaces."""
    scrapers: tuple[PlacedNamespace, ...]
    """Namespaces allowed to scrape the metrics ports (monitoring)."""
    pull_secret: str | None
    after: tuple[pulumi.Resource, ...] = ()
    """What the chart waits for: the monitoring layer, whose CRDs its ServiceMonitors need."""

    @staticmethod
    def from_site(
        site: Site,
        namespace: PlacedNamespace,
        clients: tuple[PlacedNamespace, ...],
        credentials_in: tuple[PlacedNamespace, ...],
        scrapers: tuple[PlacedNamespace, ...],
        pull_secret: str | None,
        after: tuple[pulumi.Resource, ...] = (),
    ) -> CacheArgs:
        return CacheArgs(
            site=site.name,
            cache=site.cache,
            sizing=site.sizing.redis,
            registry=site.registry,
            storage_class=site.cluster.storage_class,
            namespace=namespace,
            clients=clients,
            credentials_in=credentials_in,
            scrapers=scrapers,
            pull_secret=pull_secret,
            after=after,
        )

    @property
    def highly_available(self) -> bool:
        return self.sizing.replicas >= 3

    @property
    def maxmemory_bytes(self) -> int:
        """The share of the container's memory limit Redis may fill before evicting; the rest
        covers replication buffers and the copy-on-write of background saves."""
        return byte_count(self.sizing.resources.memory_limit) * self.cache.maxmemory_percent // 100

    @property
    def master_host(self) -> str:
        # One replica has no failover: clients reach it through its own stable Service.
        service = f"{RELEASE}-haproxy" if self.highly_available else f"{RELEASE}-announce-0"
        return self.namespace.service_host(service)

    def image(self) -> ResolvedImage:
        return resolve_image(CACHE_ENGINES[self.cache.engine], self.registry)


def chart_values(args: CacheArgs) -> dict[str, Any]:
    """The redis-ha values for a site. The password is never here: the chart reads it from the
    Secret named by `existingSecret`."""
    ha = args.highly_available
    engine = args.image()
    haproxy = resolve_image(HAPROXY_IMAGE, args.registry)
    exporter = resolve_image(REDIS_EXPORTER_IMAGE, args.registry)
    pull = [{"name": args.pull_secret}] if args.pull_secret else []
    resources = args.sizing.resources
    return {
        "global": {"priorityClassName": PLATFORM_PRIORITY.name},
        "extraLabels": common_labels(args.site, "redis", "cache"),
        "image": {"repository": engine.name, "tag": engine.tag},
        "imagePullSecrets": pull,
        "replicas": args.sizing.replicas,
        "auth": True,
        "existingSecret": PASSWORD_SECRET,
        "authKey": PASSWORD_KEY,
        "redis": {
            "port": REDIS_PORT,
            "config": {
                "maxmemory": str(args.maxmemory_bytes),
                "maxmemory-policy": args.cache.maxmemory_policy,
                # Refuse writes without a replica only where there are replicas to wait for.
                "min-replicas-to-write": 1 if ha else 0,
                "min-replicas-max-lag": 5,
                "save": "900 1",  # a warm cache survives a restart; losing it is not an outage
                "appendonly": "no",
            },
            "resources": {
                "requests": {"cpu": resources.cpu, "memory": resources.memory},
                "limits": {"memory": resources.memory_limit},
            },
        },
        "sentinel": {
            "port": SENTINEL_PORT,
            "quorum": 2 if ha else 1,
            "resources": SIDECAR_RESOURCES,
        },
        "splitBrainDetection": {"resources": SIDECAR_RESOURCES},
        "init": {"resources": SIDECAR_RESOURCES},
        "persistentVolume": {
            "enabled": True,
            "storageClass": args.storage_class,
            "size": args.sizing.storage,
            "accessModes": ["ReadWriteOnce"],
        },
        "securityContext": {"runAsUser": 1000, "fsGroup": 1000, "runAsNonRoot": True},
        "containerSecurityContext": {"runAsUser": 1000, **HARDENED_CONTAINER},
        "hardAntiAffinity": ha,
        "topologySpreadConstraints": {
            "enabled": ha,
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
        },
        "podDisruptionBudget": {"maxUnavailable": 1} if ha else {},
        "exporter": {
            "enabled": True,
            "image": exporter.name,
            "tag": exporter.tag,
            "port": EXPORTER_PORT,
            "resources": SIDECAR_RESOURCES,
            # redis-ha 4.39.0 renders its ServiceMonitors only if .Capabilities lists
            # monitoring.coreos.com/v1 at render time, unless disableAPICheck: on a first
            # `pulumi up` the monitoring layer creates those CRDs in the same run, so without it
            # the Redis alerts would have no data. The cache waits for the monitoring chart.
            "serviceMonitor": {"enabled": True, "disableAPICheck": True},
        },
        "haproxy": {
            "enabled": ha,
            "replicas": args.sizing.replicas,
            "image": {"repository": haproxy.name, "tag": haproxy.tag},
            "imagePullSecrets": pull,
            "resources": HAPROXY_RESOURCES,
            # The chart's config-init init container takes haproxy.init.resources (empty by default).
            "init": {"resources": SIDECAR_RESOURCES},
            "podDisruptionBudget": {"minAvailable": 1} if ha else {},
            "hardAntiAffinity": True,
            "containerSecurityContext": HARDENED_CONTAINER,
            # HAProxy never calls the Kubernetes API: no token in its pods (the chart mounts one
            # unless haproxy.serviceAccount.automountToken is false).
            "serviceAccount": {"create": True, "automountToken": False},
            # The chart renders the HAProxy ServiceMonitor whenever metrics and the monitor are on,
            # HAProxy or not: where there is no HAProxy it would select nothing.
            "metrics": {
                "enabled": ha,
                "port": HAPROXY_METRICS_PORT,
                "serviceMonitor": {"enabled": ha, "disableAPICheck": True},
            },
        },
        # The chart's own policies are replaced by the ones below, which name the clients.
        "networkPolicy": {"enabled": False},
        "sysctlImage": {"enabled": False},
    }


class RedisCache(pulumi.ComponentResource):
    """The cache of one site. `endpoint` is the only thing other layers take from it."""

    endpoint: CacheEndpoint

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:cache:RedisCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        password = random.RandomPassword(
            "redis-password",
            length=40,
            special=False,  # 40 alphanumerics: ~238 bits, and no quoting trouble in any client
            opts=child,
        )
        secret_value = pulumi.Output.secret(password.result)
        own = self._password_secret(args, args.namespace, secret_value, child)
        passwords = {
            client.name: SecretKeyRef(
                client.name,
                PASSWORD_SECRET,
                PASSWORD_KEY,
                self._password_secret(args, client, secret_value, child),
            )
            for client in args.credentials_in
        }
        chart = pinned_chart(
            RELEASE,
            REDIS_HA_CHART,
            site=args.site,
            registry=args.registry,
            namespace=ns,
            values=chart_values(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[own, *args.after])),
        )
        self._network_policies(args, child, chart)
        self.endpoint = CacheEndpoint(
            host=args.master_host,
            port=REDIS_PORT,
            namespace=args.namespace.name,
            pod_labels=HAPROXY_POD_LABELS if args.highly_available else REDIS_POD_LABELS,
            passwords=passwords,
        )
        self.register_outputs({"host": self.endpoint.host, "port": self.endpoint.port})

    def _password_secret(
        self,
        args: CacheArgs,
        namespace: PlacedNamespace,
        value: pulumi.Output[str],
        child: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"redis-auth-{namespace.name}",
            metadata=metadata(args.site, PASSWORD_SECRET, "cache", namespace=namespace.ready),
            type="Opaque",
            string_data={PASSWORD_KEY: value},
            opts=child,
        )

    def _network_policies(
        self, args: CacheArgs, child: pulumi.ResourceOptions, chart: pulumi.Resource
    ) -> None:
        policy = k8s.networking.v1
        ns = args.namespace.ready

        both = (REDIS_PORT, SENTINEL_PORT)
        server_ingress = [
            policy.NetworkPolicyIngressRuleArgs(
                from_=[netpol.pods(REDIS_POD_LABELS)], ports=netpol.tcp(*both)
            ),
        ]
        if args.highly_available:
            server_ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=[netpol.pods(HAPROXY_POD_LABELS)], ports=netpol.tcp(*both)
                )
            )
        else:
            server_ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.clients), ports=netpol.tcp(REDIS_PORT)
                )
            )
        if args.scrapers:
            server_ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers), ports=netpol.tcp(EXPORTER_PORT)
                )
            )
        opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[chart]))
        policy.NetworkPolicy(
            "redis-server",
            metadata=metadata(args.site, "redis-server", "cache", namespace=ns),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=REDIS_POD_LABELS),
                policy_types=["Ingress", "Egress"],
                ingress=server_ingress,
                # Replication and Sentinel gossip between the Redis pods.
                egress=[
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[netpol.pods(REDIS_POD_LABELS)], ports=netpol.tcp(*both)
                    )
                ],
            ),
            opts=opts,
        )
        if not args.highly_available:
            return
        haproxy_ingress = [
            policy.NetworkPolicyIngressRuleArgs(
                from_=netpol.namespaces(*args.clients), ports=netpol.tcp(REDIS_PORT)
            ),
        ]
        if args.scrapers:
            haproxy_ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers), ports=netpol.tcp(HAPROXY_METRICS_PORT)
                )
            )
        policy.NetworkPolicy(
            "redis-haproxy",
            metadata=metadata(args.site, "redis-haproxy", "cache", namespace=ns),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=HAPROXY_POD_LABELS),
                policy_types=["Ingress", "Egress"],
                ingress=haproxy_ingress,
                # HAProxy asks each node and its Sentinel which one is the master.
                egress=[
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[netpol.pods(REDIS_POD_LABELS)], ports=netpol.tcp(*both)
                    )
                ],
            ),
            opts=opts,
        )
