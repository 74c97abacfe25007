"""Keycloak's PostgreSQL on CloudNativePG: the operator (its chart, confined to the databases
namespace) and one `Cluster`, sized by profile: a single instance on small sites, three with
synchronous replication (one standby must confirm each commit) on medium and large ones. The
credentials are generated here and live only in Secrets; the metrics go to Prometheus.

The operator watches only `platform-databases` (`config.clusterWide: false`): it reads and writes
Secrets there and nowhere else. Another service that needs a database gets its `Cluster` in that
namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from natplat.blocks import netpol
from natplat.blocks.charts import pinned_chart
from natplat.blocks.labels import common_labels, metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.spec.catalog import CNPG_CHART, DATABASE_IMAGES, resolve_image
from natplat.spec.model import RegistrySection, StatefulWorkload

RELEASE = "cnpg"
OPERATOR_LABELS = {"app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": RELEASE}
"""The operator pod's labels (the chart's selectorLabels: chart name and release)."""
CLUSTER = "keycloak-db"
DATABASE = "keycloak"
OWNER = "keycloak"
POSTGRES_PORT = 5432
STATUS_PORT = 8000
"""The instance manager's status port, which the operator calls."""
METRICS_PORT = 9187
WEBHOOK_PORT = 9443
OPERATOR_METRICS_PORT = 8080
CREDENTIALS = "keycloak-db-app"
"""The `kubernetes.io/basic-auth` Secret CNPG creates the owner role with (databases namespace),
and the name of its copy Keycloak reads (identity namespace)."""

OPERATOR_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


@dataclass(frozen=True)
class DatabaseEndpoint:
    """What Keycloak needs of its database: where the primary is and the credentials' Secret."""

    host: str
    port: int
    database: str
    namespace: str
    pod_labels: dict[str, str]
    credentials: k8s.core.v1.Secret
    credentials_name: str


@dataclass(frozen=True)
class DatabaseArgs:
    site: str
    sizing: StatefulWorkload
    registry: RegistrySection
    storage_class: str
    namespace: PlacedNamespace
    clients: tuple[PlacedNamespace, ...]
    scrapers: tuple[PlacedNamespace, ...]
    pull_secret: str | None
    after: tuple[pulumi.Resource, ...] = ()

    @property
    def highly_available(self) -> bool:
        return self.sizing.replicas >= 3


def operator_values(args: DatabaseArgs) -> dict[str, Any]:
    image = resolve_image(DATABASE_IMAGES["operator"], args.registry)
    return {
        "image": {"repository": image.name, "tag": image.tag},
        "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
        "crds": {"create": True},
        # Only this namespace: the operator's Role (Secrets included) is bound here and nowhere
        # else; the chart's ClusterRole keeps nodes, webhook configurations and image catalogs.
        "config": {"clusterWide": False},
        "priorityClassName": PLATFORM_PRIORITY.name,
        "resources": OPERATOR_RESOURCES,
        "monitoring": {"podMonitorEnabled": bool(args.scrapers), "grafanaDashboard": {"create": False}},
    }


def cluster_spec(args: DatabaseArgs) -> dict[str, Any]:
    resources = args.sizing.resources
    image = resolve_image(DATABASE_IMAGES["postgresql"], args.registry)
    spec: dict[str, Any] = {
        "instances": args.sizing.replicas,
        "imageName": image.reference,
        "primaryUpdateStrategy": "unsupervised",
        "enableSuperuserAccess": False,
        "priorityClassName": PLATFORM_PRIORITY.name,
        "inheritedMetadata": {"labels": common_labels(args.site, CLUSTER, "databases")},
        "storage": {"size": args.sizing.storage, "storageClass": args.storage_class},
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "bootstrap": {"initdb": {"database": DATABASE, "owner": OWNER, "secret": {"name": CREDENTIALS}}},
        "affinity": {
            "enablePodAntiAffinity": True,
            "topologyKey": "kubernetes.io/hostname",
            "podAntiAffinityType": "required" if args.highly_available else "preferred",
        },
        "postgresql": {"parameters": {"max_connections": "200", "log_min_duration_statement": "1000"}},
    }
    if args.highly_available:
        # Quorum-based synchronous replication: a commit returns once one standby has it, so a
        # failover never loses an acknowledged write; with three instances one standby may be
        # down without stopping writes.
        spec["postgresql"]["synchronous"] = {"method": "any", "number": 1, "dataDurability": "required"}
    if args.pull_secret:
        spec["imagePullSecrets"] = [{"name": args.pull_secret}]
    return spec


class KeycloakDatabase(pulumi.ComponentResource):
    endpoint: DatabaseEndpoint

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:identity:KeycloakDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        operator = pinned_chart(
            RELEASE,
            CNPG_CHART,
            site=args.site,
            registry=args.registry,
            namespace=ns,
            values=operator_values(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.after))),
        )
        password = random.RandomPassword("keycloak-db-password", length=40, special=False, opts=child)
        secret_value = pulumi.Output.secret(password.result)
        own = k8s.core.v1.Secret(
            "keycloak-db-credentials",
            metadata=metadata(args.site, CREDENTIALS, "databases", namespace=ns),
            type="kubernetes.io/basic-auth",
            string_data={"username": OWNER, "password": secret_value},
            opts=child,
        )
        cluster = k8s.apiextensions.CustomResource(
            "keycloak-db",
            api_version="postgresql.cnpg.io/v1",
            kind="Cluster",
            metadata=metadata(args.site, CLUSTER, "databases", namespace=ns),
            spec=cluster_spec(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[operator, own])),
        )
        if args.scrapers:
            k8s.apiextensions.CustomResource(
                "keycloak-db-metrics",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata(args.site, CLUSTER, "databases", namespace=ns),
                spec={
                    "selector": {"matchLabels": {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}},
                    "podMetricsEndpoints": [{"port": "metrics", "interval": "30s"}],
                },
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster])),
            )
        copies = [
            k8s.core.v1.Secret(
                f"keycloak-db-credentials-{client.name}",
                metadata=metadata(args.site, CREDENTIALS, "identity", namespace=client.ready),
                type="kubernetes.io/basic-auth",
                string_data={"username": OWNER, "password": secret_value},
                opts=child,
            )
            for client in args.clients
        ]
        self._network_policies(args, child)
        self.endpoint = DatabaseEndpoint(
            host=args.namespace.service_host(f"{CLUSTER}-rw"),
            port=POSTGRES_PORT,
            database=DATABASE,
            namespace=args.namespace.name,
            pod_labels={"cnpg.io/cluster": CLUSTER},
            credentials=copies[0] if copies else own,
            credentials_name=CREDENTIALS,
        )
        self.cluster = cluster
        self.register_outputs({"host": self.endpoint.host})

    def _network_policies(self, args: DatabaseArgs, child: pulumi.ResourceOptions) -> None:
        policy = k8s.networking.v1
        everything = netpol.everything()
        ingress = [
            # The operator and the instances: status checks, replication, the operator's probes.
            policy.NetworkPolicyIngressRuleArgs(
                from_=[policy.NetworkPolicyPeerArgs(pod_selector=everything)]
            ),
            # The API server calls the operator's admission webhooks (its address is not a pod).
            netpol.from_api_server(WEBHOOK_PORT),
            policy.NetworkPolicyIngressRuleArgs(
                from_=netpol.namespaces(*args.clients), ports=netpol.tcp(POSTGRES_PORT)
            ),
        ]
        if args.scrapers:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers),
                    ports=netpol.tcp(METRICS_PORT, OPERATOR_METRICS_PORT),
                )
            )
        policy.NetworkPolicy(
            "databases-flows",
            metadata=metadata(args.site, "databases-flows", "databases", namespace=args.namespace.ready),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=everything,
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=[
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[policy.NetworkPolicyPeerArgs(pod_selector=everything)]
                    ),
                    # The operator and the instance managers watch and update the Kubernetes API.
                    netpol.kubernetes_api(),
                ],
            ),
            opts=child,
        )
