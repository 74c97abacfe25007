"""A pinned upstream chart as a `helm.v4.Chart`, fetched from where the site fetches charts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from natplat.blocks.labels import with_platform_labels
from natplat.spec.catalog import Chart, resolve_chart
from natplat.spec.model import RegistrySection


def label_transform(site: str, release: str) -> pulumi.ResourceTransform:
    """Every Kubernetes object a chart renders gets the platform's labels (`with_platform_labels`):
    under helm.v4.Chart each one is a resource of its own in previews, judged by the policy pack."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.type_.startswith("kubernetes:") or args.type_.startswith("kubernetes:helm.sh/"):
            return None
        if not isinstance(args.props.get("metadata"), Mapping):
            return None
        return pulumi.ResourceTransformResult(with_platform_labels(args.props, site, release), args.opts)

    return transform


def pinned_chart(
    release: str,
    chart: Chart,
    *,
    site: str,
    registry: RegistrySection,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    removed_defaults: tuple[str, ...] = (),
    transforms: tuple[pulumi.ResourceTransform, ...] = (),
) -> k8s.helm.v4.Chart:
    """The release is named explicitly (not after the Pulumi resource), so the names the chart
    derives from it, which other layers select on, are fixed.

    `removed_defaults` names chart defaults to delete (dotted paths). Helm deletes a default given
    `null`, but Pulumi's Python SDK drops null map values before they reach the provider
    (pulumi/pulumi#12178): they travel as a values file instead, which the provider passes to Helm
    as written (`key: null`), before the inline values.

    `values` must be known before anything exists (a value unknown at preview makes the provider
    skip the whole chart); a value made in the same deployment goes onto the object that holds it,
    through one of `transforms` (run on every rendered object after the label transform)."""
    resolved = resolve_chart(chart, registry)
    repository = k8s.helm.v4.RepositoryOptsArgs(repo=resolved.repository) if resolved.repository else None
    return k8s.helm.v4.Chart(
        release,
        name=release,
        chart=resolved.chart,
        version=resolved.version,
        repository_opts=repository,
        namespace=namespace,
        values=values,
        value_yaml_files=[pulumi.StringAsset(removal_yaml(removed_defaults))] if removed_defaults else None,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(transforms=[label_transform(site, release), *transforms])
        ),
    )


def removal_yaml(paths: tuple[str, ...]) -> str:
    """`a.b.c` → a values document setting that key to null (sorted, so the asset is stable)."""
    document: dict[str, Any] = {}
    for path in sorted(paths):
        *parents, leaf = path.split(".")
        node = document
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = None
    return yaml.safe_dump(document, sort_keys=True)
