"""The labels every object of the platform carries, so that ops, policies and dashboards can
select by site, layer and component."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi_kubernetes as k8s

PART_OF = "national-platform"
SITE_LABEL = "national-platform/site"


def common_labels(site: str, name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        SITE_LABEL: site,
    }


def metadata(
    site: str,
    name: str,
    component: str,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Object metadata with an explicit name (no auto-naming: the names are part of the
    platform's contract) and the common labels."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**common_labels(site, name, component), **(labels or {})},
        annotations=annotations,
    )


def with_platform_labels(obj: Mapping[str, Any], site: str, release: str) -> dict[str, Any]:
    """A chart-rendered object with the platform's labels on its own metadata: part-of and site
    set, a name kept where the chart gave one (else the chart's `app` label, else the release).
    Only the object's metadata changes, never a selector or a pod template, so nothing a chart
    selects on moves (checked on the rendered charts by `make render-charts`)."""
    result = dict(obj)
    meta = dict(result.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    labels.setdefault("app.kubernetes.io/name", labels.get("app") or release)
    labels["app.kubernetes.io/part-of"] = PART_OF
    labels[SITE_LABEL] = site
    meta["labels"] = labels
    result["metadata"] = meta
    return result
