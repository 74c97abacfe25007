"""The composition root: builds the layers in dependency order and hands each the typed handles
it needs from the layers before it. The only module that sees the whole `Site`."""

from __future__ import annotations

from typing import Any

import pulumi

from natplat.baseline import BaselineArgs, ClusterBaseline
from natplat.cluster import ClusterArgs, KubernetesCluster
from natplat.model import Site


def build_platform(site: Site) -> dict[str, Any]:
    """Create every resource of the site; return the stack outputs."""
    cluster = KubernetesCluster("cluster", ClusterArgs.from_site(site))
    on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])
    baseline = ClusterBaseline("baseline", BaselineArgs.from_site(site), opts=on_cluster)
    return {
        "site": site.name,
        "region": site.site.region,
        "profile": site.profile,
        "kubernetesVersion": site.site.kubernetes_version,
        "airGapped": site.registry.air_gapped,
        "namespaces": baseline.namespaces,
    }
