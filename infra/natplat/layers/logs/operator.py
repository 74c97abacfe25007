"""The ECK operator (Elastic's chart): it installs the stack's CRDs and reconciles Elasticsearch,
Kibana, Logstash and Beats resources in the managed namespaces."""

from __future__ import annotations

import pulumi

from natplat.blocks.charts import pinned_chart
from natplat.layers.baseline import PLATFORM_PRIORITY
from natplat.layers.logs.common import HARDENED, LoggingArgs
from natplat.spec.catalog import ECK_OPERATOR_CHART, LOGGING_IMAGES


def eck_operator(args: LoggingArgs, child: pulumi.ResourceOptions) -> pulumi.Resource:
    """The ECK operator chart: its CRDs, its webhook, and the registry it builds stack images from."""
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
        site=args.site,
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
        # Helm merges values into the chart's defaults, and eck-operator 3.5.0's values.yaml sets
        # resources.limits.cpu: 1: it must be deleted (the platform sets no CPU limits).
        removed_defaults=("resources.limits.cpu",),
    )
