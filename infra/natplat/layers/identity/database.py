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
from natplat.layers.certificates import TRUST_BUNDLE, distribute_trust
from natplat.spec.backups import BackupPolicy, ObjectStore
from natplat.spec.catalog import (
    BACKUP_IMAGES,
    BARMAN_CLOUD_CHART,
    CNPG_CHART,
    DATABASE_IMAGES,
    resolve_image,
)
from natplat.spec.identity import DATABASE_CLUSTER, DatabaseRecovery
from natplat.spec.model import RegistrySection, StatefulWorkload

RELEASE = "cnpg"
OPERATOR_LABELS = {"app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": RELEASE}
"""The operator pod's labels (the chart's selectorLabels: chart name and release)."""
CLUSTER = DATABASE_CLUSTER
"""The Cluster's name until a recovery names another (`DatabaseArgs.cluster`)."""
BACKUP_SOURCE = "keycloak-db-backup"
"""The name a recovering Cluster gives the backups it replays (its `externalClusters` entry)."""
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

PLUGIN_RELEASE = "plugin-barman-cloud"
"""The release is named after the chart, so the chart's fullname (its Deployment, ServiceAccount
and ClusterRole names) is exactly `plugin-barman-cloud`."""
PLUGIN = "barman-cloud.cloudnative-pg.io"
PLUGIN_LABELS = {
    "app.kubernetes.io/name": "plugin-barman-cloud",
    "app.kubernetes.io/instance": PLUGIN_RELEASE,
}
OBJECT_STORE = "platform-backups"
BACKUP_CREDENTIALS = "database-s3-credentials"
PLUGIN_RESOURCES = {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
SIDECAR_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
"""The plugin's sidecar in each instance pod: it archives WAL and runs base backups."""
PLUGIN_CLUSTER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["barmancloud.cnpg.io"],
        "resources": ["objectstores"],
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
    },
    {"apiGroups": ["barmancloud.cnpg.io"], "resources": ["objectstores/finalizers"], "verbs": ["update"]},
    {
        "apiGroups": ["barmancloud.cnpg.io"],
        "resources": ["objectstores/status"],
        "verbs": ["get", "patch", "update"],
    },
    {"apiGroups": ["postgresql.cnpg.io"], "resources": ["backups"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["postgresql.cnpg.io"], "resources": ["clusters/finalizers"], "verbs": ["update"]},
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["rolebindings", "roles"],
        "verbs": ["create", "get", "list", "patch", "update", "watch"],
    },
]
"""plugin-barman-cloud 0.7.0's ClusterRole (templates/rbac.yaml) without its `secrets` rule, which
the chart grants on every Secret of every namespace."""
PLUGIN_SECRET_VERBS = ["get", "list", "watch"]
"""What the plugin holds on the object store's credentials Secret, by name, in the databases
namespace only. Plugin v0.13.0 reads no Secret itself: per Cluster it writes a Role granting
the instances exactly these verbs on exactly the credentials' Secret (internal/cnpgi/operator/
specs/role.go, BuildRoleRules), and Kubernetes lets it grant only what it holds (RBAC escalation
check, which honours resourceNames)."""


@dataclass(frozen=True)
class DatabaseBackups:
    """Where a database's base backups and WAL go, how often, and for how long."""

    store: ObjectStore
    policy: BackupPolicy
    trust: pulumi.Output[str] | None
    """The site's CA certificates, when the store's certificate chains to them."""
    after: tuple[pulumi.Resource, ...] = ()
    """cert-manager: the plugin's gRPC certificates are its Certificates."""


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
    backups: DatabaseBackups | None = None
    recovery: DatabaseRecovery | None = None
    """Restore into a new Cluster from the object store (the model requires backups then)."""
    after: tuple[pulumi.Resource, ...] = ()

    @property
    def cluster(self) -> str:
        """The live Cluster's name."""
        return self.recovery.cluster if self.recovery else CLUSTER

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
        "inheritedMetadata": {"labels": common_labels(args.site, args.cluster, "databases")},
        "storage": {"size": args.sizing.storage, "storageClass": args.storage_class},
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "bootstrap": bootstrap(args),
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
    if args.backups is not None:
        # WAL goes to the object store as it is written (point-in-time recovery), through the
        # plugin's sidecar in each instance.
        spec["plugins"] = [
            {"name": PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": OBJECT_STORE}}
        ]
    if args.recovery is not None:
        # The backups replayed: the same store, under the source Cluster's name (the plugin files
        # each Cluster's base backups and WAL under its own name).
        spec["externalClusters"] = [
            {
                "name": BACKUP_SOURCE,
                "plugin": {
                    "name": PLUGIN,
                    "parameters": {"barmanObjectName": OBJECT_STORE, "serverName": args.recovery.source},
                },
            }
        ]
    return spec


def bootstrap(args: DatabaseArgs) -> dict[str, Any]:
    """A new database, or one recovered to a point in time. Either way the owner's password is
    the one in the credentials Secret (a recovery resets it: the backup holds an older one)."""
    owner = {"database": DATABASE, "owner": OWNER, "secret": {"name": CREDENTIALS}}
    if args.recovery is None:
        return {"initdb": owner}
    return {
        "recovery": {
            "source": BACKUP_SOURCE,
            "recoveryTarget": {"targetTime": args.recovery.target_time},
            **owner,
        }
    }


def plugin_values(args: DatabaseArgs) -> dict[str, Any]:
    plugin = resolve_image(BACKUP_IMAGES["plugin"], args.registry)
    sidecar = resolve_image(BACKUP_IMAGES["sidecar"], args.registry)
    return {
        # The chart joins registry and repository itself: the repository carries the mirror's path.
        "image": {"registry": plugin.registry, "repository": plugin.repository, "tag": plugin.tag},
        "sidecarImage": {"registry": sidecar.registry, "repository": sidecar.repository, "tag": sidecar.tag},
        "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
        "crds": {"create": True},
        # Its RBAC is the program's (KeycloakDatabase._plugin_rbac): Secrets here only.
        "rbac": {"create": False},
        "priorityClassName": PLATFORM_PRIORITY.name,
        "resources": PLUGIN_RESOURCES,
    }


def object_store_spec(backups: DatabaseBackups, site: str) -> dict[str, Any]:
    store = backups.store
    configuration: dict[str, Any] = {
        # The plugin adds the Cluster's name (its server name) below this path.
        "destinationPath": f"s3://{store.bucket}/postgresql/{site}",
        "endpointURL": store.endpoint,
        "s3Credentials": {
            "accessKeyId": {"name": BACKUP_CREDENTIALS, "key": "ACCESS_KEY_ID"},
            "secretAccessKey": {"name": BACKUP_CREDENTIALS, "key": "ACCESS_SECRET_KEY"},
        },
        "wal": {"compression": "gzip", "maxParallel": 2},
        "data": {"compression": "gzip", "jobs": 2},
    }
    if backups.trust is not None:
        configuration["endpointCA"] = {"name": TRUST_BUNDLE, "key": "ca.crt"}
    return {
        "configuration": configuration,
        "retentionPolicy": f"{backups.policy.database_retention_days}d",
        "instanceSidecarConfiguration": {"resources": SIDECAR_RESOURCES},
    }


def scheduled_backup_spec(backups: DatabaseBackups, cluster: str) -> dict[str, Any]:
    return {
        "schedule": backups.policy.database_schedule,
        "cluster": {"name": cluster},
        "method": "plugin",
        "pluginConfiguration": {"name": PLUGIN},
        "backupOwnerReference": "self",
        # The first base backup right away: point-in-time recovery starts from one.
        "immediate": True,
    }


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
        backup_inputs = self._backups(args, child)
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
            metadata=metadata(args.site, args.cluster, "databases", namespace=ns),
            spec=cluster_spec(args),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[operator, own, *backup_inputs],
                    # A database is never deleted by the program: a recovery's new Cluster
                    # replaces it in the program, and the old one stays in the cluster, unmanaged,
                    # until an operator has checked the new one and deletes it (README).
                    retain_on_delete=True,
                ),
            ),
        )
        if args.backups is not None:
            k8s.apiextensions.CustomResource(
                "keycloak-db-backups",
                api_version="postgresql.cnpg.io/v1",
                kind="ScheduledBackup",
                metadata=metadata(args.site, f"{args.cluster}-daily", "databases", namespace=ns),
                spec=scheduled_backup_spec(args.backups, args.cluster),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster])),
            )
        if args.scrapers:
            k8s.apiextensions.CustomResource(
                "keycloak-db-metrics",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata(args.site, CLUSTER, "databases", namespace=ns),
                spec={
                    "selector": {
                        "matchLabels": {"cnpg.io/cluster": args.cluster, "cnpg.io/podRole": "instance"}
                    },
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
            host=args.namespace.service_host(f"{args.cluster}-rw"),
            port=POSTGRES_PORT,
            database=DATABASE,
            namespace=args.namespace.name,
            pod_labels={"cnpg.io/cluster": args.cluster},
            credentials=copies[0] if copies else own,
            credentials_name=CREDENTIALS,
        )
        self.cluster = cluster
        self.register_outputs({"host": self.endpoint.host})

    def _backups(self, args: DatabaseArgs, child: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        """The Barman Cloud plugin, its RBAC, the object store and its credentials: everything a
        Cluster that archives through the plugin needs before it starts."""
        backups = args.backups
        if backups is None:
            return []
        ns = args.namespace.ready
        rbac = self._plugin_rbac(args, child)
        plugin = pinned_chart(
            PLUGIN_RELEASE,
            BARMAN_CLOUD_CHART,
            site=args.site,
            registry=args.registry,
            namespace=ns,
            values=plugin_values(args),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[*backups.after, *args.after, *rbac])
            ),
        )
        made: list[pulumi.Resource] = [plugin]
        made.append(
            k8s.core.v1.Secret(
                "database-s3-credentials",
                metadata=metadata(args.site, BACKUP_CREDENTIALS, "databases", namespace=ns),
                type="Opaque",
                string_data={
                    "ACCESS_KEY_ID": backups.store.access_key_id.output(),
                    "ACCESS_SECRET_KEY": backups.store.secret_access_key.output(),
                },
                opts=child,
            )
        )
        if backups.trust is not None:
            # The ObjectStore takes its CA from a Secret only.
            made.append(
                distribute_trust(
                    args.site,
                    backups.trust,
                    namespace=args.namespace,
                    component="databases",
                    opts=child,
                    as_secret=True,
                )
            )
        made.append(
            k8s.apiextensions.CustomResource(
                "database-object-store",
                api_version="barmancloud.cnpg.io/v1",
                kind="ObjectStore",
                metadata=metadata(args.site, OBJECT_STORE, "databases", namespace=ns),
                spec=object_store_spec(backups, args.site),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(made))),
            )
        )
        return made

    def _plugin_rbac(self, args: DatabaseArgs, child: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        rbac = k8s.rbac.v1
        account = rbac.SubjectArgs(kind="ServiceAccount", name=PLUGIN_RELEASE, namespace=args.namespace.name)
        cluster_role = rbac.ClusterRole(
            "barman-cloud-plugin",
            metadata=metadata(args.site, PLUGIN_RELEASE, "databases"),
            rules=PLUGIN_CLUSTER_RULES,
            opts=child,
        )
        role = rbac.Role(
            "barman-cloud-plugin-secrets",
            metadata=metadata(
                args.site, f"{PLUGIN_RELEASE}-secrets", "databases", namespace=args.namespace.ready
            ),
            rules=[
                rbac.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["secrets"],
                    resource_names=[BACKUP_CREDENTIALS],
                    verbs=PLUGIN_SECRET_VERBS,
                )
            ],
            opts=child,
        )
        return [
            cluster_role,
            role,
            rbac.ClusterRoleBinding(
                "barman-cloud-plugin",
                metadata=metadata(args.site, PLUGIN_RELEASE, "databases"),
                role_ref=rbac.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=PLUGIN_RELEASE
                ),
                subjects=[account],
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster_role])),
            ),
            rbac.RoleBinding(
                "barman-cloud-plugin-secrets",
                metadata=metadata(
                    args.site, f"{PLUGIN_RELEASE}-secrets", "databases", namespace=args.namespace.ready
                ),
                role_ref=rbac.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=f"{PLUGIN_RELEASE}-secrets"
                ),
                subjects=[account],
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[role])),
            ),
        ]

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
                    # Base backups and WAL to the object store (outside the cluster: its port).
                    *([netpol.outwards(args.backups.store.port)] if args.backups else []),
                ],
            ),
            opts=child,
        )
