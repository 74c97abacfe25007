"""The logging layer: the ECK operator, then Elasticsearch, Kibana, Logstash and Filebeat as ECK
custom resources, wired Filebeat → Logstash → Elasticsearch through handles, with retention per
site applied as an index lifecycle policy, and Elasticsearch metrics for Prometheus.

The operator takes field ownership of the custom resources it reconciles (ECK 3.5 and earlier use
whole-object updates, elastic/cloud-on-k8s#8975), so Pulumi's server-side apply would conflict on
the next update: every ECK resource carries `pulumi.com/patchForce: "true"`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from natplat import netpol
from natplat.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.catalog import (
    ECK_OPERATOR_CHART,
    ELASTIC_STACK_VERSION,
    LOGGING_IMAGES,
    ResolvedImage,
    resolve_image,
)
from natplat.charts import pinned_chart
from natplat.gateway import operator_ui_route
from natplat.labels import common_labels, metadata
from natplat.model import ElasticsearchSizing, LoggingSection, RegistrySection, Resources, Site, Workload
from natplat.quantities import byte_count

CLUSTER = "logs"
"""The Elasticsearch cluster's name; ECK derives its Services and Secrets from it."""
ES_HTTP_PORT = 9200
KIBANA_PORT = 5601
BEATS_PORT = 5044
EXPORTER_PORT = 9114
MASTER_STORAGE = "10Gi"
MASTER_RESOURCES = Resources.model_validate({"cpu": "1", "memory": "4Gi", "memoryLimit": "4Gi"})
"""Dedicated masters hold cluster state, not data: a fixed, modest size whatever the profile
(sizing them like data nodes overran the large profile's logging quota)."""
FORCE = {"pulumi.com/patchForce": "true"}
RETENTION_POLICY = "platform-logs"
HOST_PATH_REASON = "reads every container's log files on the node"

HARDENED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


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


def _resources(resources: Resources) -> dict[str, Any]:
    return {
        "requests": {"cpu": resources.cpu, "memory": resources.memory},
        "limits": {"memory": resources.memory_limit},
    }


def node_sets(args: LoggingArgs) -> list[dict[str, Any]]:
    """`small`: one node with every role; `medium`: three; `large`: dedicated masters plus data
    nodes (from the profile)."""
    sizing = args.elasticsearch

    def node_set(
        name: str, count: int, roles: list[str], storage: str, resources: Resources
    ) -> dict[str, Any]:
        return {
            "name": name,
            "count": count,
            "config": {"node.roles": roles, "node.store.allow_mmap": False},
            "podTemplate": {
                "metadata": {"labels": common_labels(args.site, "elasticsearch", "logging")},
                "spec": {
                    "priorityClassName": PLATFORM_PRIORITY.name,
                    "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "elasticsearch",
                            "resources": _resources(resources),
                            "env": [{"name": "ES_JAVA_OPTS", "value": heap_option(resources)}],
                            "securityContext": HARDENED,
                        }
                    ],
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {
                                "matchLabels": {
                                    "elasticsearch.k8s.elastic.co/cluster-name": CLUSTER,
                                    "elasticsearch.k8s.elastic.co/statefulset-name": f"{CLUSTER}-es-{name}",
                                }
                            },
                        }
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "elasticsearch-data"},  # the name ECK expects
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": args.storage_class,
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        }

    if sizing.dedicated_masters:
        return [
            node_set("masters", sizing.dedicated_masters, ["master"], MASTER_STORAGE, MASTER_RESOURCES),
            node_set("data", sizing.data_nodes, ["data", "ingest"], sizing.storage, sizing.resources),
        ]
    return [
        node_set("default", sizing.data_nodes, ["master", "data", "ingest"], sizing.storage, sizing.resources)
    ]


def logstash_pipeline(args: LoggingArgs) -> str:
    """Beats in, data streams out. The services already log ECS JSON, which Filebeat decodes into
    the event: the pipeline keeps those fields as they are and only routes by dataset."""
    env = CLUSTER.upper()
    return f"""input {{
  beats {{ port => {BEATS_PORT} }}
}}
filter {{
  # Platform services log ECS with service.name; everything else is plain container output.
  if [service][name] {{
    mutate {{ add_field => {{ "[data_stream][dataset]" => "platform.%{{[service][name]}}" }} }}
  }} else {{
    mutate {{ add_field => {{ "[data_stream][dataset]" => "kubernetes.container" }} }}
  }}
  mutate {{ add_field => {{ "[data_stream][namespace]" => "{args.site}" }} }}
}}
output {{
  elasticsearch {{
    hosts => ["${{{env}_ES_HOSTS}}"]
    user => "${{{env}_ES_USER}}"
    password => "${{{env}_ES_PASSWORD}}"
    ssl_certificate_authorities => "${{{env}_ES_SSL_CERTIFICATE_AUTHORITY}}"
    data_stream => "true"
    data_stream_type => "logs"
    data_stream_auto_routing => "true"
  }}
}}
"""


def retention_requests(days: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The Elasticsearch API calls that set the site's retention on every `logs-*-*` data stream:
    a lifecycle policy (daily rollover, delete after `days`), attached through `logs@custom`, the
    component template Elasticsearch's built-in `logs` template reserves for this."""
    policy = {
        "policy": {
            "_meta": {"managed_by": "national-platform (pulumi)"},
            "phases": {
                "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
                "delete": {"min_age": f"{days}d", "actions": {"delete": {}}},
            },
        }
    }
    template = {"template": {"settings": {"index.lifecycle.name": RETENTION_POLICY}}}
    return [
        ("PUT", f"/_ilm/policy/{RETENTION_POLICY}", policy),
        ("PUT", "/_component_template/logs@custom", template),
    ]


def filebeat_config(logstash: LogstashHandle) -> dict[str, Any]:
    return {
        "filebeat.autodiscover": {
            "providers": [
                {
                    "type": "kubernetes",
                    "node": "${NODE_NAME}",
                    "hints.enabled": True,
                    "hints.default_config": {
                        "type": "filestream",
                        "id": "container-${data.kubernetes.container.id}",
                        "prospector.scanner.symlinks": True,
                        "paths": ["/var/log/containers/*${data.kubernetes.container.id}.log"],
                        "parsers": [
                            {"container": {}},
                            # ECS JSON lines become the event's fields; other lines stay text.
                            {
                                "ndjson": {
                                    "target": "",
                                    "overwrite_keys": True,
                                    "expand_keys": True,
                                    "ignore_decoding_error": True,
                                }
                            },
                        ],
                    },
                }
            ]
        },
        "processors": [{"add_host_metadata": {}}],
        "output.logstash": {"hosts": [f"{logstash.host}:{logstash.port}"]},
    }


class LoggingStack(pulumi.ComponentResource):
    """Centralised logging for one site."""

    elasticsearch: ElasticsearchHandle
    logstash: LogstashHandle

    def __init__(self, name: str, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:logging:LoggingStack", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        operator = self._operator(child)
        after_operator = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[operator]))
        es_image = args.image("elasticsearch")
        elasticsearch = self._custom(
            "elasticsearch",
            "elasticsearch.k8s.elastic.co/v1",
            "Elasticsearch",
            CLUSTER,
            ns,
            {
                "version": ELASTIC_STACK_VERSION,
                "image": es_image.reference,
                "nodeSets": node_sets(args),
            },
            after_operator,
            # Pulumi does not know an Elasticsearch's readiness: wait for green health.
            extra_annotations={"pulumi.com/waitFor": "jsonpath={.status.health}=green"},
        )
        self.elasticsearch = ElasticsearchHandle(
            name=CLUSTER,
            namespace=args.namespace.name,
            url=f"https://{args.namespace.service_host(f'{CLUSTER}-es-http')}:{ES_HTTP_PORT}",
            elastic_user_secret=f"{CLUSTER}-es-elastic-user",
            ca_secret=f"{CLUSTER}-es-http-certs-public",
        )
        after_es = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[elasticsearch]))
        self._kibana(after_es)
        self.logstash = self._logstash(after_es)
        self._filebeat(after_operator)
        self._retention(after_es)
        self._exporter(after_es)
        self._network_policies(child)
        self.register_outputs(
            {"elasticsearch": self.elasticsearch.url, "kibana": f"https://{args.kibana_host}"}
        )

    # -- helpers -----------------------------------------------------------------------------

    def _custom(
        self,
        resource: str,
        api_version: str,
        kind: str,
        name: str,
        namespace: pulumi.Input[str],
        spec: dict[str, Any],
        opts: pulumi.ResourceOptions,
        extra_annotations: dict[str, str] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            resource,
            api_version=api_version,
            kind=kind,
            metadata=metadata(
                self._args.site,
                name,
                "logging",
                namespace=namespace,
                annotations={**FORCE, **(extra_annotations or {})},
            ),
            spec=spec,
            opts=opts,
        )

    def _pod_spec(
        self, container: str, resources: Resources, env: list[dict[str, str]] | None = None
    ) -> dict:
        args = self._args
        return {
            "priorityClassName": PLATFORM_PRIORITY.name,
            "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": container,
                    "resources": _resources(resources),
                    "securityContext": HARDENED,
                    **({"env": env} if env else {}),
                }
            ],
        }

    def _small_pod(self, user: int, **spec: Any) -> k8s.core.v1.PodSpecArgs:
        """The pod of a small platform helper (the retention Job, the exporter): no API token,
        platform priority, the site's pull secret, non-root under RuntimeDefault."""
        pull = self._args.pull_secret
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

    @staticmethod
    def _locked_down(user: int) -> k8s.core.v1.SecurityContextArgs:
        return k8s.core.v1.SecurityContextArgs(
            run_as_non_root=True,
            run_as_user=user,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        )

    # -- parts -------------------------------------------------------------------------------

    def _operator(self, child: pulumi.ResourceOptions) -> pulumi.Resource:
        args = self._args
        operator_image = args.image("operator")
        es_image = args.image("elasticsearch")
        # ECK builds stack image names as <containerRegistry>/<product>/<product>:<version>; on a
        # mirror that keeps the upstream host as its first path segment, that is this prefix.
        container_registry = (
            es_image.registry
            if not args.registry.air_gapped
            else (f"{es_image.registry}/{LOGGING_IMAGES['elasticsearch'].registry}")
        )
        return pinned_chart(
            "eck-operator",
            ECK_OPERATOR_CHART,
            registry=args.registry,
            namespace=args.namespace.ready,
            values={
                "image": {"repository": operator_image.name, "tag": operator_image.tag},
                "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
                "installCRDs": True,
                "managedNamespaces": [args.namespace.name, args.node_agents.name],
                "createClusterScopedResources": True,
                "webhook": {"enabled": True, "manageCerts": True},
                "config": {
                    "containerRegistry": container_registry,
                    "metrics": {"port": "0"},  # Elasticsearch's metrics come from the exporter
                },
                "resources": {"requests": {"cpu": "100m", "memory": "150Mi"}, "limits": {"memory": "512Mi"}},
                "priorityClassName": PLATFORM_PRIORITY.name,
                "securityContext": HARDENED,
                "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            },
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.after))),
        )

    def _kibana(self, opts: pulumi.ResourceOptions) -> None:
        args = self._args
        image = args.image("kibana")
        self._custom(
            "kibana",
            "kibana.k8s.elastic.co/v1",
            "Kibana",
            CLUSTER,
            args.namespace.ready,
            {
                "version": ELASTIC_STACK_VERSION,
                "image": image.reference,
                "count": args.kibana.replicas,
                "elasticsearchRef": {"name": self.elasticsearch.name},
                "config": {"server.publicBaseUrl": f"https://{args.kibana_host}"},
                # Kong talks HTTPS to Kibana's own certificate.
                "http": {"service": {"metadata": {"annotations": {"konghq.com/protocol": "https"}}}},
                "podTemplate": {"spec": self._pod_spec("kibana", args.kibana.resources)},
            },
            opts,
        )
        if args.gateway_namespace is None:
            return
        operator_ui_route(
            "kibana-ingress",
            site=args.site,
            component="logging",
            namespace=args.namespace,
            host=args.kibana_host,
            service=f"{CLUSTER}-kb-http",
            port=KIBANA_PORT,
            reason="Kibana authenticates its users itself (Elasticsearch security)",
            opts=opts,
        )

    def _logstash(self, opts: pulumi.ResourceOptions) -> LogstashHandle:
        args = self._args
        image = args.image("logstash")
        self._custom(
            "logstash",
            "logstash.k8s.elastic.co/v1alpha1",
            "Logstash",
            CLUSTER,
            args.namespace.ready,
            {
                "version": ELASTIC_STACK_VERSION,
                "image": image.reference,
                "count": args.logstash.replicas,
                "elasticsearchRefs": [{"name": self.elasticsearch.name, "clusterName": CLUSTER}],
                "pipelines": [{"pipeline.id": "main", "config.string": logstash_pipeline(args)}],
                "services": [
                    {
                        "name": "beats",
                        "service": {
                            "spec": {
                                "type": "ClusterIP",
                                "ports": [
                                    {
                                        "name": "beats",
                                        "port": BEATS_PORT,
                                        "targetPort": BEATS_PORT,
                                        "protocol": "TCP",
                                    }
                                ],
                            }
                        },
                    }
                ],
                "podTemplate": {
                    "spec": self._pod_spec(
                        "logstash",
                        args.logstash.resources,
                        [{"name": "LS_JAVA_OPTS", "value": heap_option(args.logstash.resources)}],
                    )
                },
            },
            opts,
        )
        return LogstashHandle(
            host=args.namespace.service_host(f"{CLUSTER}-ls-beats"),
            port=BEATS_PORT,
            pod_labels={"logstash.k8s.elastic.co/name": CLUSTER},
            namespace=args.namespace.name,
        )

    def _filebeat(self, opts: pulumi.ResourceOptions) -> None:
        args = self._args
        ns = args.node_agents.ready
        account = k8s.core.v1.ServiceAccount(
            "filebeat-account",
            metadata=metadata(args.site, "filebeat", "logging", namespace=ns),
            opts=opts,
        )
        role = k8s.rbac.v1.ClusterRole(
            "filebeat-role",
            metadata=metadata(args.site, "national-platform-filebeat", "logging"),
            # Autodiscover reads pod, namespace and node metadata to label every log line.
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""], resources=["pods", "namespaces", "nodes"], verbs=["get", "list", "watch"]
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["apps"], resources=["replicasets"], verbs=["get", "list", "watch"]
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["batch"], resources=["jobs"], verbs=["get", "list", "watch"]
                ),
            ],
            opts=opts,
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            "filebeat-binding",
            metadata=metadata(args.site, "national-platform-filebeat", "logging"),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="national-platform-filebeat"
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount", name="filebeat", namespace=args.node_agents.name
                )
            ],
            opts=opts,
        )
        image = args.image("filebeat")
        # Filebeat is the one workload that reads host paths: the container log files live on each
        # node, and it must run as root to read them (they are root-owned, mode 0640). It runs in
        # platform-node-agents, the one namespace whose Pod Security level allows it, and mounts
        # the log folders read-only; it needs neither host networking nor host PID.
        host_paths = [("varlogcontainers", "/var/log/containers"), ("varlogpods", "/var/log/pods")]
        self._custom(
            "filebeat",
            "beat.k8s.elastic.co/v1beta1",
            "Beat",
            "filebeat",
            ns,
            {
                "type": "filebeat",
                "version": ELASTIC_STACK_VERSION,
                "image": image.reference,
                "config": filebeat_config(self.logstash),
                "daemonSet": {
                    "podTemplate": {
                        "metadata": {"annotations": {"national-platform/host-path-reason": HOST_PATH_REASON}},
                        "spec": {
                            "serviceAccountName": "filebeat",
                            "automountServiceAccountToken": True,
                            "priorityClassName": PLATFORM_PRIORITY.name,
                            "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
                            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                            "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}},
                            "containers": [
                                {
                                    "name": "filebeat",
                                    "env": [
                                        {
                                            "name": "NODE_NAME",
                                            "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                        }
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "128Mi"},
                                        "limits": {"memory": "400Mi"},
                                    },
                                    "securityContext": {
                                        "runAsUser": 0,
                                        "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]},
                                        "seccompProfile": {"type": "RuntimeDefault"},
                                    },
                                    "volumeMounts": [
                                        {"name": volume, "mountPath": path, "readOnly": True}
                                        for volume, path in host_paths
                                    ],
                                }
                            ],
                            "volumes": [
                                {"name": volume, "hostPath": {"path": path, "type": "Directory"}}
                                for volume, path in host_paths
                            ],
                        },
                    }
                },
            },
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[account, role, binding])),
        )

    def _retention(self, opts: pulumi.ResourceOptions) -> None:
        """A Job that applies the lifecycle policy through Elasticsearch's API, named after its
        content: a changed retention makes a new Job (Jobs are immutable), an unchanged one is
        left alone."""
        args = self._args
        requests = retention_requests(args.logging.retention_days)
        curl = 'curl -fsS --cacert /secrets/ca/ca.crt -u "$auth"'
        script_lines = [
            "set -eu",
            'auth="elastic:$(cat /secrets/elastic/elastic)"',
            f'url="{self.elasticsearch.url}"',
            f'for i in $(seq 60); do {curl} "$url/_cluster/health" >/dev/null && break; sleep 10; done',
        ]
        for method, path, body in requests:
            payload = json.dumps(body, sort_keys=True).replace("'", "'\\''")
            script_lines.append(
                f"{curl} -X {method} -H 'Content-Type: application/json' \"$url{path}\" -d '{payload}'"
            )
        script = "\n".join(script_lines) + "\n"
        digest = hashlib.sha256(script.encode()).hexdigest()[:10]
        image = args.image("elasticsearch")
        k8s.batch.v1.Job(
            "logs-retention",
            metadata=metadata(
                args.site,
                f"logs-retention-{digest}",
                "logging",
                namespace=args.namespace.ready,
                annotations={"national-platform/retention-days": str(args.logging.retention_days)},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=common_labels(args.site, "logs-retention", "logging")
                    ),
                    spec=self._small_pod(
                        1000,  # the elasticsearch user of the image it borrows curl from
                        restart_policy="OnFailure",
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="apply",
                                image=image.reference,
                                command=["/bin/sh", "-c", script],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "128Mi"}
                                ),
                                security_context=self._locked_down(1000),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="elastic", mount_path="/secrets/elastic", read_only=True
                                    ),
                                    k8s.core.v1.VolumeMountArgs(
                                        name="ca", mount_path="/secrets/ca", read_only=True
                                    ),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="elastic",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=self.elasticsearch.elastic_user_secret
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="ca",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=self.elasticsearch.ca_secret
                                ),
                            ),
                        ],
                    ),
                ),
            ),
            opts=opts,
        )

    def _exporter(self, opts: pulumi.ResourceOptions) -> None:
        args = self._args
        ns = args.namespace.ready
        labels = {
            "app.kubernetes.io/name": "elasticsearch-exporter",
            "app.kubernetes.io/part-of": "national-platform",
        }
        image = args.image("exporter")
        k8s.apps.v1.Deployment(
            "elasticsearch-exporter",
            metadata=metadata(args.site, "elasticsearch-exporter", "logging", namespace=ns),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**labels, "app.kubernetes.io/component": "logging"}
                    ),
                    spec=self._small_pod(
                        65534,  # nobody
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="exporter",
                                image=image.reference,
                                args=[
                                    f"--es.uri={self.elasticsearch.url}",
                                    "--es.ca=/secrets/ca/ca.crt",
                                    "--es.all",
                                    "--es.indices",
                                    f"--web.listen-address=:{EXPORTER_PORT}",
                                ],
                                env=[
                                    k8s.core.v1.EnvVarArgs(name="ES_USERNAME", value="elastic"),
                                    k8s.core.v1.EnvVarArgs(
                                        name="ES_PASSWORD",
                                        value_from=k8s.core.v1.EnvVarSourceArgs(
                                            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                                                name=self.elasticsearch.elastic_user_secret, key="elastic"
                                            )
                                        ),
                                    ),
                                ],
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name="metrics", container_port=EXPORTER_PORT
                                    )
                                ],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "25m", "memory": "32Mi"}, limits={"memory": "128Mi"}
                                ),
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="metrics")
                                ),
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="metrics")
                                ),
                                security_context=self._locked_down(65534),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="ca", mount_path="/secrets/ca", read_only=True
                                    )
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="ca",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=self.elasticsearch.ca_secret
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=opts,
        )
        k8s.core.v1.Service(
            "elasticsearch-exporter-service",
            metadata=metadata(args.site, "elasticsearch-exporter", "logging", namespace=ns),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=labels,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="metrics", port=EXPORTER_PORT, target_port="metrics")
                ],
            ),
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            "elasticsearch-exporter-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata(args.site, "elasticsearch-exporter", "logging", namespace=ns),
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": "elasticsearch-exporter"}},
                "endpoints": [{"port": "metrics", "interval": "30s"}],
            },
            opts=opts,
        )

    def _network_policies(self, child: pulumi.ResourceOptions) -> None:
        args = self._args
        policy = k8s.networking.v1
        everything = k8s.meta.v1.LabelSelectorArgs()

        ingress = [
            policy.NetworkPolicyIngressRuleArgs(
                from_=[policy.NetworkPolicyPeerArgs(pod_selector=everything)]
            ),
            # Shippers on every node send to Logstash's Beats input.
            policy.NetworkPolicyIngressRuleArgs(
                from_=netpol.namespaces(args.node_agents), ports=netpol.tcp(BEATS_PORT)
            ),
            # The API server calls the operator's admission webhook.
            policy.NetworkPolicyIngressRuleArgs(ports=netpol.tcp(9443)),
        ]
        if args.gateway_namespace is not None:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=[netpol.pods_in(args.gateway_namespace.name, args.gateway_pod_labels)],
                    ports=netpol.tcp(KIBANA_PORT),
                )
            )
        for scraper in args.scrapers:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(scraper), ports=netpol.tcp(EXPORTER_PORT)
                )
            )
        policy.NetworkPolicy(
            "logging-flows",
            metadata=metadata(args.site, "logging-flows", "logging", namespace=args.namespace.ready),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=everything,
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=[
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[policy.NetworkPolicyPeerArgs(pod_selector=everything)]
                    ),
                    # The operator watches and updates the Kubernetes API.
                    policy.NetworkPolicyEgressRuleArgs(ports=netpol.tcp(443, 6443)),
                ],
            ),
            opts=child,
        )
        policy.NetworkPolicy(
            "filebeat-flows",
            metadata=metadata(args.site, "filebeat-flows", "logging", namespace=args.node_agents.ready),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"beat.k8s.elastic.co/name": "filebeat"}
                ),
                policy_types=["Egress"],
                egress=[
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[netpol.pods_in(args.namespace.name, self.logstash.pod_labels)],
                        ports=netpol.tcp(self.logstash.port),
                    ),
                    policy.NetworkPolicyEgressRuleArgs(ports=netpol.tcp(443, 6443)),
                ],
            ),
            opts=child,
        )
