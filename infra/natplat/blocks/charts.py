"""A pinned upstream chart as a `helm.v4.Chart`, fetched from where the site fetches charts."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

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
) -> k8s.helm.v4.Chart:
    """The release is named explicitly (not after the Pulumi resource), so the names the chart
    derives from it, which other layers select on, are fixed."""
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
        opts=opts,
    )
