"""The catalog pins everything, and resolves it through the site's registry settings."""

from __future__ import annotations

import re

from harness import ROOT
from natplat.spec.catalog import (
    KIND_NODE_IMAGES,
    KUBERNETES_VERSIONS,
    Chart,
    Image,
    resolve_chart,
    resolve_image,
)
from natplat.spec.stackfile import load_stack_file

KONG_LIKE = Image("docker.io", "library/kong", "3.9.1")
CHART = Chart("redis-ha", "https://dandydeveloper.github.io/charts", "4.39.0")
OCI_CHART = Chart("kube-prometheus-stack", "oci://ghcr.io/prometheus-community/charts", "88.5.3")


def _registry(stack: str):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml").registry


def test_online_sites_pull_from_upstream() -> None:
    resolved = resolve_image(KONG_LIKE, _registry("capital"))
    assert resolved.reference == "docker.io/library/kong:3.9.1"
    chart = resolve_chart(CHART, _registry("capital"))
    assert (chart.chart, chart.repository, chart.version) == ("redis-ha", CHART.repository, "4.39.0")
    oci = resolve_chart(OCI_CHART, _registry("capital"))
    assert (oci.chart, oci.repository) == (
        "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
        None,
    )


def test_air_gapped_sites_pull_everything_from_their_mirror() -> None:
    registry = _registry("north")
    resolved = resolve_image(KONG_LIKE, registry)
    assert resolved.reference == "mirror.north.platform.gov.example/upstream/docker.io/library/kong:3.9.1"
    assert resolved.registry == registry.image_mirror
    for chart in (CHART, OCI_CHART):
        mirrored = resolve_chart(chart, registry)
        assert mirrored.chart == f"oci://mirror.north.platform.gov.example/charts/{chart.name}"
        assert mirrored.repository is None and mirrored.version == chart.version


def test_mirror_paths_keep_upstream_registries_apart() -> None:
    registry = _registry("north")
    a = resolve_image(Image("docker.io", "library/redis", "7.2.5"), registry)
    b = resolve_image(Image("public.ecr.aws", "library/redis", "7.2.5"), registry)
    assert a.reference != b.reference


def test_every_kubernetes_version_has_a_kind_image_pinned_by_digest() -> None:
    assert KUBERNETES_VERSIONS == ("1.34", "1.35", "1.36")
    for version, image in KIND_NODE_IMAGES.items():
        assert image.tag.startswith(f"v{version}.")
        assert image.digest is not None and re.fullmatch(r"sha256:[0-9a-f]{64}", image.digest)
