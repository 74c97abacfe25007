"""A pinned upstream chart as a `helm.v4.Chart`, fetched from where the site fetches charts."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from natplat.spec.catalog import Chart, resolve_chart
from natplat.spec.model import RegistrySection


def pinned_chart(
    release: str,
    chart: Chart,
    *,
    registry: RegistrySection,
    namespace: pulumi.Input[str],
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    removed_defaults: tuple[str, ...] = (),
) -> k8s.helm.v4.Chart:
    """The release is named explicitly (not after the Pulumi resource), so the names the chart
    derives from it, which other layers select on, are fixed.

    `removed_defaults` names chart defaults to delete (dotted paths). Helm deletes a default given
    `null`, but Pulumi's Python SDK drops null map values before they reach the provider
    (pulumi/pulumi#12178): they travel as a values file instead, which the provider passes to Helm
    as written (`key: null`), before the inline values."""
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
        opts=opts,
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
