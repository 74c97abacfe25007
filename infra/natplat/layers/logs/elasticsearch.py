"""The store and what reads it: the Elasticsearch cluster (node sets per profile), Kibana behind
Kong, and the exporter that feeds Prometheus."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.injected import ELASTICSEARCH, KIBANA, hardened_declarations
from natplat.blocks.labels import common_labels, metadata
from natplat.layers.baseline import PLATFORM_PRIORITY
from natplat.layers.gateway.routes import operator_ui_route
from natplat.layers.logs.common import (
    CLUSTER,
    ES_HTTP_PORT,
    EXPORTER_PORT,
    HARDENED,
    KIBANA_PORT,
    ElasticsearchHandle,
    LoggingArgs,
    eck_pod_security,
    eck_pod_spec,
    eck_resource,
    heap_option,
    locked_down,
    resources_of,
    small_pod,
)
from natplat.layers.logs.snapshots import CREDENTIALS_SECRET, node_settings, trust_volumes
from natplat.spec.catalog import ELASTIC_STACK_VERSION
from natplat.spec.model import Resources

MASTER_STORAGE = "10Gi"
MASTER_RESOURCES = Resources.model_validate({"cpu": "1", "memory": "4Gi", "memoryLimit": "4Gi"})
"""Dedicated masters hold cluster state, not data: a fixed, modest size whatever the profile
(sizing them like data nodes overran the large profile's logging quota)."""


def node_sets(args: LoggingArgs) -> list[dict[str, Any]]:
    """`small`: one node with every role; `medium`: three; `large`: dedicated masters plus data
    nodes (from the profile)."""
    sizing = args.elasticsearch
    snapshot_config, snapshot_init, jvm_options = node_settings(args.backups)
    volumes, mounts = trust_volumes(args.backups)

    def node_set(
        name: str, count: int, roles: list[str], storage: str, resources: Resources
    ) -> dict[str, Any]:
        return {
            "name": name,
            "count": count,
            "config": {"node.roles": roles, "node.store.allow_mmap": False, **snapshot_config},
            "podTemplate": {
                "metadata": {"labels": common_labels(args.site, "elasticsearch", "logging")},
                "spec": {
                    "priorityClassName": PLATFORM_PRIORITY.name,
                    "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
                    "securityContext": eck_pod_security(writes_volumes=True),  # its data volume
                    "initContainers": [
                        *hardened_declarations(
                            ELASTICSEARCH,
                            init=True,
                            spec_fields=frozenset({"secureSettings"}) if args.backups else frozenset(),
                        ),
                        *({**init, "securityContext": HARDENED} for init in snapshot_init),
                    ],
                    "containers": [
                        {
                            "name": "elasticsearch",
                            "resources": resources_of(resources),
                            "env": [
                                {
                                    "name": "ES_JAVA_OPTS",
                                    "value": " ".join([heap_option(resources), *jvm_options]),
                                }
                            ],
                            "securityContext": HARDENED,
                            **({"volumeMounts": mounts} if mounts else {}),
                        }
                    ],
                    **({"volumes": volumes} if volumes else {}),
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


def elasticsearch(
    args: LoggingArgs, opts: pulumi.ResourceOptions
) -> tuple[pulumi.Resource, ElasticsearchHandle]:
    """The cluster, and the handle its readers use."""
    resource = eck_resource(
        args,
        "elasticsearch",
        "elasticsearch.k8s.elastic.co/v1",
        "Elasticsearch",
        CLUSTER,
        args.namespace.ready,
        {
            "version": ELASTIC_STACK_VERSION,
            "image": args.image("elasticsearch").reference,
            "nodeSets": node_sets(args),
            # The object store's keys, copied by ECK into every node's keystore.
            **({"secureSettings": [{"secretName": CREDENTIALS_SECRET}]} if args.backups else {}),
        },
        opts,
        # Pulumi does not know an Elasticsearch's readiness: wait for green health.
        extra_annotations={"pulumi.com/waitFor": "jsonpath={.status.health}=green"},
    )
    handle = ElasticsearchHandle(
        name=CLUSTER,
        namespace=args.namespace.name,
        url=f"https://{args.namespace.service_host(f'{CLUSTER}-es-http')}:{ES_HTTP_PORT}",
        elastic_user_secret=f"{CLUSTER}-es-elastic-user",
        ca_secret=f"{CLUSTER}-es-http-certs-public",
    )
    return resource, handle


def kibana(args: LoggingArgs, es: ElasticsearchHandle, opts: pulumi.ResourceOptions) -> None:
    """Kibana on the cluster, routed through Kong at kibana.<domain>."""
    image = args.image("kibana")
    eck_resource(
        args,
        "kibana",
        "kibana.k8s.elastic.co/v1",
        "Kibana",
        CLUSTER,
        args.namespace.ready,
        {
            "version": ELASTIC_STACK_VERSION,
            "image": image.reference,
            "count": args.kibana.replicas,
            "elasticsearchRef": {"name": es.name},
            "config": {"server.publicBaseUrl": f"https://{args.kibana_host}"},
            # Kong talks HTTPS to Kibana's own certificate.
            "http": {"service": {"metadata": {"annotations": {"konghq.com/protocol": "https"}}}},
            "podTemplate": {"spec": eck_pod_spec(args, KIBANA, "kibana", args.kibana.resources)},
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
        certificates=args.certificates,
        opts=opts,
    )


def exporter(args: LoggingArgs, es: ElasticsearchHandle, opts: pulumi.ResourceOptions) -> None:
    """The Prometheus community Elasticsearch exporter, its Service and ServiceMonitor."""
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
                spec=small_pod(
                    args,
                    65534,  # nobody
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="exporter",
                            image=image.reference,
                            args=[
                                f"--es.uri={es.url}",
                                "--es.ca=/secrets/ca/ca.crt",
                                "--es.all",
                                "--es.indices",
                                # Snapshot ages per repository and SLM outcomes, for the backup alerts.
                                *(["--collector.snapshots", "--collector.slm"] if args.backups else []),
                                f"--web.listen-address=:{EXPORTER_PORT}",
                            ],
                            env=[
                                k8s.core.v1.EnvVarArgs(name="ES_USERNAME", value="elastic"),
                                k8s.core.v1.EnvVarArgs(
                                    name="ES_PASSWORD",
                                    value_from=k8s.core.v1.EnvVarSourceArgs(
                                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                                            name=es.elastic_user_secret, key="elastic"
                                        )
                                    ),
                                ),
                            ],
                            ports=[
                                k8s.core.v1.ContainerPortArgs(name="metrics", container_port=EXPORTER_PORT)
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
                            security_context=locked_down(65534),
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
                            secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=es.ca_secret),
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
            ports=[k8s.core.v1.ServicePortArgs(name="metrics", port=EXPORTER_PORT, target_port="metrics")],
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
