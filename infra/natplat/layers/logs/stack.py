"""The logging layer: the ECK operator, then Elasticsearch, Kibana, Logstash and Filebeat as ECK
custom resources, wired Filebeat → Logstash → Elasticsearch through handles, with retention per
site applied as an index lifecycle policy, and Elasticsearch metrics for Prometheus.

The operator takes field ownership of the custom resources it reconciles (ECK 3.5 and earlier use
whole-object updates, elastic/cloud-on-k8s#8975), so Pulumi's server-side apply would conflict on
the next update: every ECK resource carries `pulumi.com/patchForce: "true"`.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks import netpol
from natplat.blocks.labels import metadata
from natplat.layers.logs.common import (
    BEATS_PORT,
    CLUSTER,
    EXPORTER_PORT,
    KIBANA_PORT,
    ElasticsearchHandle,
    LoggingArgs,
    LogstashHandle,
)
from natplat.layers.logs.elasticsearch import elasticsearch, exporter, kibana
from natplat.layers.logs.operator import eck_operator
from natplat.layers.logs.retention import retention_job
from natplat.layers.logs.shippers import filebeat, logstash
from natplat.layers.logs.snapshots import credentials, snapshot_job


class LoggingStack(pulumi.ComponentResource):
    """Centralised logging for one site."""

    elasticsearch: ElasticsearchHandle
    logstash: LogstashHandle

    def __init__(self, name: str, args: LoggingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:logging:LoggingStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        operator = eck_operator(args, child)
        backup_inputs = credentials(args, child)
        after_operator = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[operator, *backup_inputs])
        )
        cluster, self.elasticsearch = elasticsearch(args, after_operator)
        after_es = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster]))
        kibana(args, self.elasticsearch, after_es)
        self.logstash = logstash(args, self.elasticsearch, after_es)
        filebeat(args, self.logstash, after_operator)
        retention_job(args, self.elasticsearch, after_es)
        snapshot_job(args, self.elasticsearch, after_es)
        exporter(args, self.elasticsearch, after_es)
        network_policies(args, self.logstash, child)
        self.register_outputs(
            {"elasticsearch": self.elasticsearch.url, "kibana": f"https://{args.kibana_host}"}
        )


def network_policies(args: LoggingArgs, logstash: LogstashHandle, child: pulumi.ResourceOptions) -> None:
    policy = k8s.networking.v1
    everything = k8s.meta.v1.LabelSelectorArgs()

    ingress = [
        policy.NetworkPolicyIngressRuleArgs(from_=[policy.NetworkPolicyPeerArgs(pod_selector=everything)]),
        # Shippers on every node send to Logstash's Beats input.
        policy.NetworkPolicyIngressRuleArgs(
            from_=netpol.namespaces(args.node_agents), ports=netpol.tcp(BEATS_PORT)
        ),
        # The API server calls the operator's admission webhook.
        netpol.from_api_server(9443),
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
                netpol.kubernetes_api(),
            ],
        ),
        opts=child,
    )
    policy.NetworkPolicy(
        "filebeat-flows",
        metadata=metadata(args.site, "filebeat-flows", "logging", namespace=args.node_agents.ready),
        spec=policy.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"beat.k8s.elastic.co/name": "filebeat"}),
            policy_types=["Egress"],
            egress=[
                policy.NetworkPolicyEgressRuleArgs(
                    to=[netpol.pods_in(args.namespace.name, logstash.pod_labels)],
                    ports=netpol.tcp(logstash.port),
                ),
                netpol.kubernetes_api(),
            ],
        ),
        opts=child,
    )

    if args.backups is not None:
        # Elasticsearch's nodes write snapshots to the object store, outside the cluster: its
        # port only, and only from the nodes.
        policy.NetworkPolicy(
            "elasticsearch-object-store",
            metadata=metadata(
                args.site, "elasticsearch-object-store", "logging", namespace=args.namespace.ready
            ),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"elasticsearch.k8s.elastic.co/cluster-name": CLUSTER}
                ),
                policy_types=["Egress"],
                egress=[netpol.outwards(args.backups.store.port)],
            ),
            opts=child,
        )
