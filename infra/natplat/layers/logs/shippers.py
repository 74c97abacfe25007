"""The shippers: Logstash (Beats in, data streams out) and Filebeat on every node, the one
workload of the platform that reads host paths."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.injected import LOGSTASH
from natplat.blocks.labels import metadata
from natplat.layers.baseline import PLATFORM_PRIORITY
from natplat.layers.logs.common import (
    BEATS_PORT,
    CLUSTER,
    ElasticsearchHandle,
    LoggingArgs,
    LogstashHandle,
    eck_pod_spec,
    eck_resource,
    heap_option,
)
from natplat.spec.catalog import ELASTIC_STACK_VERSION

HOST_PATH_REASON = "reads every container's log files on the node"


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


def logstash(args: LoggingArgs, es: ElasticsearchHandle, opts: pulumi.ResourceOptions) -> LogstashHandle:
    """Logstash receiving Beats and writing data streams; returns where shippers send."""
    image = args.image("logstash")
    eck_resource(
        args,
        "logstash",
        "logstash.k8s.elastic.co/v1alpha1",
        "Logstash",
        CLUSTER,
        args.namespace.ready,
        {
            "version": ELASTIC_STACK_VERSION,
            "image": image.reference,
            "count": args.logstash.replicas,
            "elasticsearchRefs": [{"name": es.name, "clusterName": CLUSTER}],
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
                "spec": eck_pod_spec(
                    args,
                    LOGSTASH,
                    "logstash",
                    args.logstash.resources,
                    [{"name": "LS_JAVA_OPTS", "value": heap_option(args.logstash.resources)}],
                    # ECK gives Logstash a `logstash-data` claim (its queue and state) when the
                    # resource declares none (pkg/controller/logstash/volume/defaults.go).
                    writes_volumes=True,
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


def filebeat(args: LoggingArgs, logstash: LogstashHandle, opts: pulumi.ResourceOptions) -> None:
    """Filebeat on every node (the one host-path workload), with read-only RBAC for autodiscover."""
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
            k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="filebeat", namespace=args.node_agents.name)
        ],
        opts=opts,
    )
    image = args.image("filebeat")
    # Filebeat is the one workload that reads host paths: the container log files live on each
    # node, and it must run as root to read them (they are root-owned, mode 0640). It runs in
    # platform-node-agents, the one namespace whose Pod Security level allows it, and mounts
    # the log folders read-only; it needs neither host networking nor host PID.
    host_paths = [("varlogcontainers", "/var/log/containers"), ("varlogpods", "/var/log/pods")]
    eck_resource(
        args,
        "filebeat",
        "beat.k8s.elastic.co/v1beta1",
        "Beat",
        "filebeat",
        ns,
        {
            "type": "filebeat",
            "version": ELASTIC_STACK_VERSION,
            "image": image.reference,
            "config": filebeat_config(logstash),
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
