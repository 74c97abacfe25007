"""The monitoring layer: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager,
Grafana, kube-state-metrics, node exporter), the platform's alert rules and dashboards as code,
Grafana behind Kong.

Why `helm.v4.Chart` and not `helm.v3.Release`: every object of the stack then shows in the preview
and passes through the policy pack, and the CRDs are upgraded with the chart. The price is that
Helm hooks do not run, and this chart makes its admission-webhook certificate in a pre-install
hook Job: without it the operator waits forever for a Secret. So the operator's admission webhooks
and its TLS are switched off. What they did, rejecting a malformed PrometheusRule at admission,
the tests do before anything ships (`promtool check rules` and unit tests over every rule), and a
bad rule the operator meets anyway is reported in its logs and status, not loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from natplat.blocks import netpol
from natplat.blocks.charts import pinned_chart
from natplat.blocks.injected import ALERTMANAGER, PROMETHEUS, hardened_declarations
from natplat.blocks.labels import metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.layers.certificates import PublicCertificates
from natplat.layers.gateway.routes import operator_ui_route
from natplat.observability.alert_rules import BackupAlerting, rule_groups
from natplat.observability.dashboards import dashboards
from natplat.spec.backups import SNAPSHOT_POLICY, SNAPSHOT_REPOSITORY, BackupPolicy
from natplat.spec.catalog import (
    KUBE_PROMETHEUS_STACK_CHART,
    MONITORING_IMAGES,
    THANOS_BASE_IMAGE,
    Image,
    resolve_image,
)
from natplat.spec.model import MonitoringSection, RegistrySection, Site, Sizing
from natplat.spec.quantities import byte_count

RELEASE = "monitoring"
GRAFANA_ADMIN_SECRET = "grafana-admin"  # noqa: S105 - a Secret's name
RECEIVERS_SECRET = "alertmanager-receivers"  # noqa: S105 - a Secret's name
RECEIVERS_DIR = f"/etc/alertmanager/secrets/{RECEIVERS_SECRET}"
GRAFANA_PORT = 3000
GRAFANA_POD_LABELS = {"app.kubernetes.io/name": "grafana"}
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
ALERTMANAGER_POD_LABELS = {"app.kubernetes.io/name": "alertmanager"}
SMALL = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
SIDECAR_RESOURCES = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
READ_ONLY_CONTAINER = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
GRAFANA_ROLE = "grafana-dashboards-reader"
"""Our Role for Grafana's sidecars: get/watch/list on ConfigMaps of the monitoring namespace only."""
KUBE_STATE_METRICS_COLLECTORS = (
    # kube-state-metrics 8.4.0's default list without `secrets`.
    "certificatesigningrequests", "configmaps", "cronjobs", "daemonsets", "deployments",
    "endpointslices", "horizontalpodautoscalers", "ingresses", "jobs", "leases", "limitranges",
    "mutatingwebhookconfigurations", "namespaces", "networkpolicies", "nodes",
    "persistentvolumeclaims", "persistentvolumes", "poddisruptionbudgets", "pods", "replicasets",
    "replicationcontrollers", "resourcequotas", "services", "statefulsets", "storageclasses",
    "validatingwebhookconfigurations", "volumeattachments",
)  # fmt: skip
OPERATOR_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 2000,
    "fsGroup": 2000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""The pod security context of the Prometheus and Alertmanager pods the operator builds. It is the
chart's default at 88.5.3, written here so that a chart upgrade cannot loosen it silently: the
operator's reloader containers take runAsNonRoot and seccomp from the pod (natplat.blocks.injected)."""


def operator_pod_hardening(resource_type: str) -> dict[str, Any]:
    """Pod security, and the reloader containers the operator injects declared hardened by name
    (merged over the operator's own by a strategic merge patch)."""
    return {
        "securityContext": OPERATOR_POD_SECURITY,
        "initContainers": hardened_declarations(resource_type, init=True),
        "containers": hardened_declarations(resource_type, init=False),
    }


def _resources(cpu: str, memory: str, limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}


CONFIG_RELOADER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}


def backup_alerting(policy: BackupPolicy | None, *, snapshots: bool, database: bool) -> BackupAlerting | None:
    """The backup alerts' windows for a site with `policy` (None: backups disabled), for the
    stores it has: Elasticsearch (`snapshots`) and the identity database (`database`)."""
    if policy is None or not (snapshots or database):
        return None
    return BackupAlerting(
        repository=SNAPSHOT_REPOSITORY,
        snapshot_policy=SNAPSHOT_POLICY,
        snapshot_every_hours=policy.snapshot_every_hours,
        snapshot_alert_hours=policy.snapshot_alert_hours if snapshots else None,
        database_alert_hours=policy.database_alert_hours if database else None,
    )


@dataclass(frozen=True)
class MonitoringArgs:
    site: str
    domain: str
    monitoring: MonitoringSection
    sizing: Sizing
    registry: RegistrySection
    storage_class: str
    namespace: PlacedNamespace
    node_agents: PlacedNamespace
    gateway_namespace: PlacedNamespace | None
    gateway_pod_labels: dict[str, str]
    services: tuple[str, ...]
    cache_enabled: bool
    logging_enabled: bool
    identity_enabled: bool
    pull_secret: str | None
    certificates: PublicCertificates | None = None
    """Grafana's host certificate comes from here (None: the site's provided certificate)."""
    backup_policy: BackupPolicy | None = None
    """The site's backup policy, whose windows the backup alerts use (None: backups disabled)."""

    @staticmethod
    def from_site(
        site: Site,
        *,
        namespace: PlacedNamespace,
        node_agents: PlacedNamespace,
        gateway_namespace: PlacedNamespace | None,
        gateway_pod_labels: dict[str, str],
        pull_secret: str | None,
        certificates: PublicCertificates | None = None,
    ) -> MonitoringArgs:
        return MonitoringArgs(
            site=site.name,
            domain=site.site.domain,
            monitoring=site.monitoring,
            sizing=site.sizing,
            registry=site.registry,
            storage_class=site.cluster.storage_class,
            namespace=namespace,
            node_agents=node_agents,
            gateway_namespace=gateway_namespace,
            gateway_pod_labels=gateway_pod_labels,
            services=tuple(s.name for s in site.services),
            cache_enabled=site.cache.enabled,
            logging_enabled=site.logging.enabled,
            identity_enabled=site.identity.enabled,
            pull_secret=pull_secret,
            certificates=certificates,
            backup_policy=site.backup_policy,
        )

    @property
    def grafana_host(self) -> str:
        return f"{self.monitoring.grafana_hostname}.{self.domain}"


def _resolved(image: Image, registry: RegistrySection) -> dict[str, str]:
    resolved = resolve_image(image, registry)
    return {"registry": resolved.registry, "repository": resolved.repository, "tag": resolved.tag}


def _image(key: str, registry: RegistrySection) -> dict[str, str]:
    return _resolved(MONITORING_IMAGES[key], registry)


def receiver_credentials(monitoring: MonitoringSection) -> dict[str, pulumi.Input[str]]:
    """The receivers' secret files: the SMTP password and the webhook URL, where the site has them."""
    alerting = monitoring.alerting
    data: dict[str, pulumi.Input[str]] = {}
    if alerting.email is not None and alerting.email.auth_password is not None:
        data["smtp-password"] = alerting.email.auth_password.output()
    if alerting.webhook is not None:
        data["webhook-url"] = alerting.webhook.url.output()
    return data


def alertmanager_config(monitoring: MonitoringSection) -> dict[str, Any]:
    """Routing for a national on-call rota: one notification per alert name, namespace and
    service; critical alerts repeated hourly, warnings every 4 h; a critical alert silences the
    warnings it explains. Credentials are read from files (the receivers Secret), never inlined."""
    alerting = monitoring.alerting
    oncall: dict[str, Any] = {"name": "oncall"}
    global_config: dict[str, Any] = {"resolve_timeout": "5m"}
    if alerting.email is not None:
        email = alerting.email
        global_config.update(
            {"smtp_smarthost": email.smarthost, "smtp_from": email.sender, "smtp_require_tls": True}
        )
        config: dict[str, Any] = {"to": ", ".join(email.to), "send_resolved": True}
        if email.auth_username:
            config["auth_username"] = email.auth_username
        if email.auth_password is not None:
            config["auth_password_file"] = f"{RECEIVERS_DIR}/smtp-password"
        oncall["email_configs"] = [config]
    if alerting.webhook is not None:
        oncall["webhook_configs"] = [{"url_file": f"{RECEIVERS_DIR}/webhook-url", "send_resolved": True}]
    has_receiver = alerting.email is not None or alerting.webhook is not None
    default = "oncall" if has_receiver else "null"
    return {
        "global": global_config,
        "route": {
            "receiver": default,
            "group_by": ["alertname", "namespace", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "null", "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
                {"receiver": default, "matchers": ['severity="critical"'], "repeat_interval": "1h"},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": ["namespace", "alertname"],
            },
            {
                # A Redis that is down explains the missing master and the memory alerts.
                "source_matchers": ['alertname="RedisDown"'],
                "target_matchers": ['alertname=~"RedisMemoryNearMaxmemory|PrometheusTargetDown"'],
                "equal": ["namespace"],
            },
            {
                "source_matchers": ['alertname="ElasticsearchClusterRed"'],
                "target_matchers": ['alertname="ElasticsearchClusterNotGreen"'],
                "equal": ["cluster"],
            },
        ],
        "receivers": [{"name": "null"}, *([oncall] if has_receiver else [])],
    }


def chart_values(args: MonitoringArgs) -> dict[str, Any]:
    sizing = args.sizing
    pulls = [{"name": args.pull_secret}] if args.pull_secret else []
    prometheus_storage = byte_count(sizing.prometheus.storage)
    retention_size_gib = max(1, int(prometheus_storage * 0.85) // 2**30)
    res = sizing.prometheus.resources
    am = sizing.alertmanager.resources
    gr = sizing.grafana.resources

    def volume(size: str) -> dict[str, Any]:
        return {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": args.storage_class,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}},
                }
            }
        }

    return {
        "fullnameOverride": RELEASE,
        "crds": {"enabled": True, "upgradeJob": {"enabled": False}},
        "global": {"imagePullSecrets": pulls},
        "defaultRules": {"create": True},
        # Managed control planes do not expose these; scraping them only yields TargetDown noise.
        "kubeEtcd": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": {
            "image": _image("prometheusOperator", args.registry),
            # The config-reloader sidecar the operator injects into Prometheus and Alertmanager:
            # the chart passes these as --config-reloader-{cpu,memory}-{request,limit} and
            # defaults them to 0 (unsized sidecars, a memory limit of none).
            "prometheusConfigReloader": {
                "image": _image("prometheusConfigReloader", args.registry),
                "resources": CONFIG_RELOADER_RESOURCES,
            },
            # Passed to the operator as --thanos-default-base-image: no pod pulls it (no Thanos
            # sidecar), but nothing in the cluster should name an upstream registry.
            "thanosImage": _resolved(THANOS_BASE_IMAGE, args.registry),
            # See the module docstring: no hooks under helm.v4.Chart, so no webhook certificates.
            "admissionWebhooks": {"enabled": False, "patch": {"enabled": False}},
            "tls": {"enabled": False},
            "resources": _resources("100m", "128Mi", "512Mi"),
            "priorityClassName": PLATFORM_PRIORITY.name,
        },
        "prometheus": {
            "prometheusSpec": {
                "image": _image("prometheus", args.registry),
                "replicas": sizing.prometheus.replicas,
                "retention": f"{args.monitoring.retention_days}d",
                "retentionSize": f"{retention_size_gib}GiB",
                "storageSpec": volume(sizing.prometheus.storage),
                "resources": _resources(res.cpu, res.memory, res.memory_limit),
                "priorityClassName": PLATFORM_PRIORITY.name,
                # Select every rule, monitor and probe in the cluster, not only this release's.
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
                **operator_pod_hardening(PROMETHEUS),
            }
        },
        "alertmanager": {
            "config": alertmanager_config(args.monitoring),
            "alertmanagerSpec": {
                "image": _image("alertmanager", args.registry),
                "replicas": sizing.alertmanager.replicas,
                "storage": volume(sizing.alertmanager.storage),
                "resources": _resources(am.cpu, am.memory, am.memory_limit),
                # Mounted only where the site has receiver credentials (see _receivers_secret).
                "secrets": [RECEIVERS_SECRET] if receiver_credentials(args.monitoring) else [],
                "priorityClassName": PLATFORM_PRIORITY.name,
                **operator_pod_hardening(ALERTMANAGER),
            },
        },
        "grafana": {
            "image": _image("grafana", args.registry),
            # Grafana reads only the dashboard and datasource ConfigMaps of its own namespace. The
            # chart (grafana 12.11.1) would otherwise bind a ClusterRole with get/watch/list on
            # every ConfigMap and Secret (templates/clusterrole.yaml, kube-prometheus-stack sets
            # the dashboards sidecar's searchNamespace to ALL), and even its namespaced Role grants
            # Secrets (templates/role.yaml). So: namespaced RBAC bound to our own Role
            # (`useExistingRole`, ConfigMaps only), sidecars watching ConfigMaps of this namespace.
            "rbac": {"create": True, "namespaced": True, "useExistingRole": GRAFANA_ROLE},
            "sidecar": {
                "image": _image("grafanaSidecar", args.registry),
                "resources": SIDECAR_RESOURCES,
                "securityContext": READ_ONLY_CONTAINER,
                "dashboards": {
                    "enabled": True,
                    "label": "grafana_dashboard",
                    "labelValue": "1",
                    "resource": "configmap",
                    "searchNamespace": args.namespace.name,
                },
                "datasources": {
                    "enabled": True,
                    "defaultDatasourceEnabled": True,
                    "resource": "configmap",
                    "searchNamespace": args.namespace.name,
                },
            },
            "replicas": sizing.grafana.replicas,
            "resources": _resources(gr.cpu, gr.memory, gr.memory_limit),
            "admin": {
                "existingSecret": GRAFANA_ADMIN_SECRET,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "persistence": {"enabled": False},  # dashboards and datasources are code
            # Read-only root: Grafana writes only to /var/lib/grafana (the chart's `storage`
            # emptyDir when persistence is off) and to /tmp, given its own emptyDir here.
            "containerSecurityContext": {**READ_ONLY_CONTAINER, "privileged": False},
            "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a mount in the pod
            "initChownData": {"enabled": False},  # a root init container, useless without a volume
            "testFramework": {"enabled": False},
            "ingress": {"enabled": False},  # routed through Kong below
            "priorityClassName": PLATFORM_PRIORITY.name,
            "grafana.ini": {
                "server": {"root_url": f"https://{args.grafana_host}"},
                "security": {"cookie_secure": True, "disable_gravatar": True},
                "users": {"allow_sign_up": False},
                # Air-gapped sites cannot call home, and no site should.
                "analytics": {
                    "reporting_enabled": False,
                    "check_for_updates": False,
                    "check_for_plugin_updates": False,
                },
            },
        },
        "kube-state-metrics": {
            "image": _image("kubeStateMetrics", args.registry),
            "resources": SMALL,
            "priorityClassName": PLATFORM_PRIORITY.name,
            # kube-state-metrics 8.4.0 grants list/watch on every Secret of the cluster when its
            # `secrets` collector is on (templates/role.yaml); the platform has no use for
            # kube_secret_* series, so the collector and that grant are off.
            "collectors": list(KUBE_STATE_METRICS_COLLECTORS),
        },
        "prometheus-node-exporter": {
            # Node exporter reads the host's /proc and /sys: it lives in the one privileged
            # namespace (see the baseline), not in the restricted monitoring one.
            "namespaceOverride": args.node_agents.name,
            # The sub-chart appends "-distroless" to the tag when image.distroless is true (the
            # parent chart's default): off, so the pod pulls the catalog's tag, suffix included.
            "image": {**_image("nodeExporter", args.registry), "distroless": False},
            # The node exporter needs the host's network and PID namespaces and a read-only view
            # of its root (what the node agents' namespace allows); not privilege escalation, any
            # capability, or an unconfined seccomp profile (prometheus-node-exporter 4.56.1 sets
            # only readOnlyRootFilesystem and the pod's user by default).
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "fsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": {
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": SMALL,
            "priorityClassName": PLATFORM_PRIORITY.name,
        },
    }


class MonitoringStack(pulumi.ComponentResource):
    """Monitoring for one site. `chart` is what layers creating ServiceMonitors and rules wait for
    (it installs their CRDs)."""

    chart: pulumi.Resource
    dashboard_uids: list[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:monitoring:MonitoringStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        password = random.RandomPassword("grafana-admin-password", length=32, special=False, opts=child)
        admin = k8s.core.v1.Secret(
            GRAFANA_ADMIN_SECRET,
            metadata=metadata(args.site, GRAFANA_ADMIN_SECRET, "monitoring", namespace=ns),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(password.result)},
            opts=child,
        )
        receivers = self._receivers_secret(args, child)
        grafana_role = k8s.rbac.v1.Role(
            GRAFANA_ROLE,
            metadata=metadata(args.site, GRAFANA_ROLE, "monitoring", namespace=ns),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""], resources=["configmaps"], verbs=["get", "watch", "list"]
                )
            ],
            opts=child,
        )
        waits_for = [admin, grafana_role, *([receivers] if receivers is not None else [])]
        self.chart = pinned_chart(
            RELEASE,
            KUBE_PROMETHEUS_STACK_CHART,
            site=args.site,
            registry=args.registry,
            namespace=ns,
            values=chart_values(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=waits_for)),
        )
        after = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.chart]))
        k8s.apiextensions.CustomResource(
            "platform-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=metadata(args.site, "platform-alerts", "monitoring", namespace=ns),
            spec={
                "groups": rule_groups(
                    backup_alerting(
                        args.backup_policy, snapshots=args.logging_enabled, database=args.identity_enabled
                    )
                )
            },
            opts=after,
        )
        boards = dashboards(
            list(args.services),
            logging_enabled=args.logging_enabled,
            cache_enabled=args.cache_enabled,
            identity_enabled=args.identity_enabled,
        )
        for uid, board in boards.items():
            k8s.core.v1.ConfigMap(
                f"dashboard-{uid}",
                metadata=metadata(
                    args.site,
                    f"dashboard-{uid}",
                    "monitoring",
                    namespace=ns,
                    labels={"grafana_dashboard": "1"},
                ),
                data={f"{uid}.json": json.dumps(board, sort_keys=True)},
                opts=child,
            )
        self.dashboard_uids = list(boards)
        if args.gateway_namespace is not None:
            self._grafana_route(args, after)
        self._network_policies(args, child)
        self.register_outputs({"grafana": f"https://{args.grafana_host}"})

    def _receivers_secret(
        self, args: MonitoringArgs, child: pulumi.ResourceOptions
    ) -> k8s.core.v1.Secret | None:
        """The receivers' credentials, read by Alertmanager as files. None where the site has none:
        a Secret with an empty data map is diffed as changed on every `pulumi up` and, Secret data
        being replace-on-change, deleted and re-created each time (seen on north)."""
        data = receiver_credentials(args.monitoring)
        if not data:
            return None
        return k8s.core.v1.Secret(
            RECEIVERS_SECRET,
            metadata=metadata(args.site, RECEIVERS_SECRET, "monitoring", namespace=args.namespace.ready),
            type="Opaque",
            string_data=data,
            opts=child,
        )

    def _grafana_route(self, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        operator_ui_route(
            "grafana-ingress",
            site=args.site,
            component="monitoring",
            namespace=args.namespace,
            host=args.grafana_host,
            service=f"{RELEASE}-grafana",
            port=80,
            reason="Grafana authenticates its users itself",
            certificates=args.certificates,
            opts=opts,
        )

    def _network_policies(self, args: MonitoringArgs, child: pulumi.ResourceOptions) -> None:
        policy = k8s.networking.v1
        ns = args.namespace.ready
        everything = k8s.meta.v1.LabelSelectorArgs()

        def make(name: str, pods: dict[str, str], types: list[str], **rules: Any) -> None:
            policy.NetworkPolicy(
                f"monitoring-{name}",
                metadata=metadata(args.site, name, "monitoring", namespace=ns),
                spec=policy.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pods),
                    policy_types=types,
                    **rules,
                ),
                opts=child,
            )

        same_namespace = [policy.NetworkPolicyPeerArgs(pod_selector=everything)]
        make(
            "within-namespace",
            {},
            ["Ingress", "Egress"],
            ingress=[policy.NetworkPolicyIngressRuleArgs(from_=same_namespace)],
            egress=[
                policy.NetworkPolicyEgressRuleArgs(to=same_namespace),
                # The operator, kube-state-metrics, Prometheus's discovery and Grafana's sidecar
                # watch the Kubernetes API.
                netpol.kubernetes_api(),
            ],
        )
        make(
            "prometheus-scrapes",
            PROMETHEUS_POD_LABELS,
            ["Egress"],
            egress=[
                # Every namespace's targets (each admits the monitoring namespace on its metrics
                # port), plus the kubelets and node exporters on the nodes' own addresses.
                policy.NetworkPolicyEgressRuleArgs(
                    to=[policy.NetworkPolicyPeerArgs(namespace_selector=everything)]
                ),
                netpol.outwards(9100, 10250),
            ],
        )
        smarthost_port = (
            int(args.monitoring.alerting.email.smarthost.rsplit(":", 1)[1])
            if args.monitoring.alerting.email is not None
            else 587
        )
        make(
            "alertmanager-notifies",
            ALERTMANAGER_POD_LABELS,
            ["Egress"],
            egress=[netpol.outwards(smarthost_port, 443)],
        )
        if args.gateway_namespace is not None:
            make(
                "grafana-from-gateway",
                GRAFANA_POD_LABELS,
                ["Ingress"],
                ingress=[
                    policy.NetworkPolicyIngressRuleArgs(
                        from_=[netpol.pods_in(args.gateway_namespace.name, args.gateway_pod_labels)],
                        ports=netpol.tcp(GRAFANA_PORT),
                    )
                ],
            )
