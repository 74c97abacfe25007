"""The typed, frozen, validated description of one deployment site.

A stack file is read once (`stackfile.py`) into a `Site`. Components never read Pulumi config:
they receive the part of the `Site` they need. Every key of the stack file maps onto a field
here; unknown keys, wrong types, out-of-range numbers, bad enum values and secrets written in
plain text are rejected before any resource exists.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from natplat.spec.backups import BACKUP_POLICIES, BackupPolicy, BackupsSection, ObjectStore
from natplat.spec.catalog import KUBERNETES_VERSIONS
from natplat.spec.certificates import CertificatesSection
from natplat.spec.identity import IdentitySection
from natplat.spec.quantities import Bytes, Cpu, byte_count, cpu_millicores
from natplat.spec.sensitive import SecretValue
from natplat.spec.settings import DnsLabel, Origin, Scope, Settings, problem

PROJECT = "national-platform"
"""The Pulumi project name, hence the namespace of every config key (`national-platform:site`)."""

Profile = Literal["small", "medium", "large"]
KubernetesVersion = Literal[KUBERNETES_VERSIONS]  # type: ignore[valid-type]

DnsDomain = Annotated[
    str, Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", max_length=200)
]
NodePort = Annotated[int, Field(ge=30000, le=32767)]
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"is not a network in CIDR form ({error})") from None
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]


def _check_registry_path(value: str) -> str:
    if "://" in value or value.endswith("/") or " " in value or "." not in value.split("/", maxsplit=1)[0]:
        raise ValueError(
            "must be a registry host and path without a scheme, e.g. registry.example.gov/platform"
        )
    return value


RegistryPath = Annotated[str, AfterValidator(_check_registry_path)]


def _check_oci(value: str) -> str:
    if not value.startswith("oci://") or value.endswith("/") or len(value) <= len("oci://"):
        raise ValueError("must be an OCI repository URL, e.g. oci://registry.example.gov/charts")
    return value


OciRepository = Annotated[str, AfterValidator(_check_oci)]


def _check_https_base(value: str) -> str:
    if not value.startswith("https://") or value.endswith("/") or " " in value or len(value) <= 8:
        raise ValueError(
            "must be an https:// base URL without a trailing '/', e.g. https://mirror.example.gov/manifests"
        )
    return value


HttpsBase = Annotated[str, AfterValidator(_check_https_base)]


# ---------------------------------------------------------------------------- sizing


class Resources(Settings):
    """Requests and the memory limit of one container. No CPU limit: CPU is compressible and a
    limit only adds throttling; memory is not, so it always has a limit."""

    cpu: Cpu
    memory: Bytes
    memory_limit: Bytes

    @model_validator(mode="after")
    def _limit_covers_request(self) -> Resources:
        if byte_count(self.memory_limit) < byte_count(self.memory):
            raise problem("memoryLimit", f"must be at least the memory request ({self.memory})")
        return self

    @property
    def cpu_millicores(self) -> int:
        return cpu_millicores(self.cpu)


class Workload(Settings):
    replicas: Annotated[int, Field(ge=1, le=50)]
    resources: Resources


class StatefulWorkload(Workload):
    storage: Bytes


class ServiceWorkload(Workload):
    max_replicas: Annotated[int, Field(ge=1, le=200)]

    @model_validator(mode="after")
    def _max_covers_min(self) -> ServiceWorkload:
        if self.max_replicas < self.replicas:
            raise problem("maxReplicas", f"must be at least replicas ({self.replicas})")
        return self


class ElasticsearchSizing(Settings):
    dedicated_masters: Literal[0, 3, 5]
    data_nodes: Annotated[int, Field(ge=1, le=50)]
    resources: Resources
    storage: Bytes

    @model_validator(mode="after")
    def _quorum(self) -> ElasticsearchSizing:
        # Without dedicated masters every data node is master-eligible: an even count cannot
        # keep a majority through the loss of half the nodes.
        if self.dedicated_masters == 0 and self.data_nodes % 2 == 0:
            raise problem("dataNodes", "must be odd when there are no dedicated masters")
        return self


class NamespaceQuota(Settings):
    requests_cpu: Cpu
    requests_memory: Bytes
    limits_memory: Bytes
    pods: Annotated[int, Field(ge=1, le=5000)]
    persistent_volume_claims: Annotated[int, Field(ge=0, le=500)]
    requests_storage: Annotated[str, Field(pattern=r"^\d+(Ki|Mi|Gi|Ti)$")]


Concern = Literal[
    "gateway",
    "services",
    "cache",
    "monitoring",
    "logging",
    "nodeAgents",
    "identity",
    "databases",
    "certificates",
]


class NamespaceQuotas(Settings):
    gateway: NamespaceQuota
    services: NamespaceQuota
    cache: NamespaceQuota
    monitoring: NamespaceQuota
    logging: NamespaceQuota
    node_agents: NamespaceQuota
    identity: NamespaceQuota
    databases: NamespaceQuota
    certificates: NamespaceQuota

    def for_concern(self, concern: Concern) -> NamespaceQuota:
        return getattr(self, {"nodeAgents": "node_agents"}.get(concern, concern))


class Sizing(Settings):
    """The profile's sizing with the site's overrides applied."""

    container_defaults: Resources
    container_max_memory: Bytes
    namespace_quotas: NamespaceQuotas
    gateway: Workload
    redis: StatefulWorkload
    prometheus: StatefulWorkload
    alertmanager: StatefulWorkload
    grafana: Workload
    elasticsearch: ElasticsearchSizing
    kibana: Workload
    logstash: Workload
    services: ServiceWorkload
    keycloak: Workload
    keycloak_database: StatefulWorkload

    @model_validator(mode="after")
    def _sentinel_majority(self) -> Sizing:
        # One Redis runs alone; more run under Sentinel, whose quorum of 2 needs at least 3
        # voters to survive the loss of one node.
        if self.grafana.replicas != 1:
            raise problem(
                "grafana.replicas",
                "must be 1: Grafana keeps users and sessions in its own SQLite file, so a second "
                "replica would log people out at random until it gets a shared database",
            )
        if self.redis.replicas == 2:
            raise problem("redis.replicas", "must be 1 (a single instance) or at least 3 (Sentinel quorum)")
        if self.keycloak_database.replicas == 2 or self.keycloak_database.replicas > 5:
            raise problem(
                "keycloakDatabase.replicas",
                "must be 1, or 3 to 5: with synchronous replication a primary and a single standby "
                "stop accepting writes when the standby is lost",
            )
        return self


# ---------------------------------------------------------------------------- sections


class SiteSection(Settings):
    """`national-platform:site`: who the site is."""

    name: DnsLabel
    region: DnsLabel
    domain: DnsDomain
    kubernetes_version: KubernetesVersion
    profile: Profile


class ClusterSection(Settings):
    """`national-platform:cluster`: how to reach the cluster and what it offers."""

    type: Literal["existing", "kind"]
    kubeconfig: SecretValue | None = None
    context: str | None = None
    storage_class: Annotated[str, Field(min_length=1)] = "standard"
    load_balancer: bool
    kind_workers: Annotated[int, Field(ge=0, le=4)] = 1

    @model_validator(mode="after")
    def _connection(self) -> ClusterSection:
        if self.type == "existing" and self.kubeconfig is None:
            raise problem("kubeconfig", "is required for an existing cluster (a secure: value)")
        if self.type == "kind" and self.kubeconfig is not None:
            raise problem("kubeconfig", "must not be set: the kind cluster's kubeconfig is generated")
        if self.type == "kind" and self.load_balancer:
            raise problem("loadBalancer", "must be false: kind has no LoadBalancer implementation")
        return self


DOCKER_CONFIG_FORMAT = (
    'must be a Docker config JSON document, {"auths": {"<registry>": {"auth": "<base64 of user:password>"}}}'
    " (the API server refuses anything else in a kubernetes.io/dockerconfigjson Secret); see the README,"
    ' "registry.pullSecret"'
)


def docker_config_problem(text: str) -> str | None:
    """Why `text` is not a `.dockerconfigjson` document, or None. Never quotes the value."""
    try:
        document = json.loads(text)
    except ValueError:
        return f"is not JSON: {DOCKER_CONFIG_FORMAT}"
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict) or not auths:
        return f'has no "auths" object with at least one registry: {DOCKER_CONFIG_FORMAT}'
    for registry, entry in auths.items():
        if not isinstance(entry, dict) or not (
            isinstance(entry.get("auth"), str) or {"username", "password"} <= set(entry)
        ):
            return (
                f'"auths" entry {registry!r} has neither "auth" nor "username" and "password": '
                f"{DOCKER_CONFIG_FORMAT}"
            )
    return None


class RegistrySection(Settings):
    """`national-platform:registry`: where images and charts come from, and where service
    images go. On an air-gapped site every image and chart comes from the site's mirror."""

    air_gapped: bool
    image_mirror: RegistryPath | None = None
    chart_mirror: OciRepository | None = None
    manifest_mirror: HttpsBase | None = None
    """Where an air-gapped site serves copies of the plain manifests the program applies by
    URL (`make mirror-list` names each file and its path under this base)."""
    service_repository: RegistryPath | None = None
    pull_secret: SecretValue | None = None

    @model_validator(mode="after")
    def _mirrors(self) -> RegistrySection:
        for key, value in (("imageMirror", self.image_mirror), ("chartMirror", self.chart_mirror)):
            if self.air_gapped and value is None:
                raise problem(key, "is required on an air-gapped site")
        for key, value in (
            ("imageMirror", self.image_mirror),
            ("chartMirror", self.chart_mirror),
            ("manifestMirror", self.manifest_mirror),
        ):
            if not self.air_gapped and value is not None:
                raise problem(key, "is only used on air-gapped sites (airGapped: true)")
        if self.pull_secret is not None and (wrong := self.pull_secret.check(docker_config_problem)):
            raise problem("pullSecret", wrong)
        return self


class NodePorts(Settings):
    http: NodePort
    https: NodePort

    @model_validator(mode="after")
    def _distinct(self) -> NodePorts:
        if self.http == self.https:
            raise problem("https", "must differ from the http node port")
        return self


class RateLimit(Settings):
    per_second: Annotated[int, Field(ge=1, le=100_000)] | None = None
    per_minute: Annotated[int, Field(ge=1, le=1_000_000)]
    per_hour: Annotated[int, Field(ge=1, le=10_000_000)] | None = None


class TlsCertificate(Settings):
    certificate: SecretValue
    key: SecretValue


class GatewaySection(Settings):
    """`national-platform:gateway`: Kong, the single entry point of the site."""

    enabled: bool = True
    hostname: DnsLabel = "api"
    node_ports: NodePorts | None = None
    load_balancer_source_ranges: tuple[Cidr, ...] = ()
    cors_origins: tuple[Origin, ...] = ()
    rate_limit: RateLimit = Field(default_factory=lambda: RateLimit.model_validate({"perMinute": 600}))
    request_size_limit_mb: Annotated[int, Field(ge=1, le=100)] = 8
    tls: TlsCertificate | None = None


class CacheSection(Settings):
    """`national-platform:cache`: Redis (or Valkey) for the services and Kong's rate limiting."""

    enabled: bool = True
    engine: Literal["valkey", "redis-7.2", "redis-8"] = "valkey"
    maxmemory_policy: Literal[
        "allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl"
    ] = "allkeys-lru"
    maxmemory_percent: Annotated[int, Field(ge=50, le=90)] = 75


class EmailReceiver(Settings):
    to: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")], ...], Field(min_length=1)
    ]
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
    smarthost: Annotated[str, Field(pattern=r"^[a-z0-9.-]+:\d{2,5}$")]
    auth_username: str | None = None
    auth_password: SecretValue | None = None


class WebhookReceiver(Settings):
    url: SecretValue


class AlertingSection(Settings):
    email: EmailReceiver | None = None
    webhook: WebhookReceiver | None = None


class MonitoringSection(Settings):
    """`national-platform:monitoring`: Prometheus, Alertmanager and Grafana."""

    enabled: bool = True
    retention_days: Annotated[int, Field(ge=1, le=400)] = 15
    grafana_hostname: DnsLabel = "grafana"
    alerting: AlertingSection = AlertingSection()


class LoggingSection(Settings):
    """`national-platform:logging`: Elasticsearch, Logstash, Kibana and Filebeat."""

    enabled: bool = True
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    kibana_hostname: DnsLabel = "kibana"


class ServiceSpec(Settings):
    """One entry of `national-platform:services`: a business API built from services/<name>."""

    name: DnsLabel
    routes: Annotated[tuple[Annotated[str, Field(pattern=r"^/[a-z0-9/_.-]*$")], ...], Field(min_length=1)]
    scopes: tuple[Scope, ...] = ()
    """The OAuth scopes the service serves; left out, `<name>.read` and `<name>.write`
    (`served_scopes`). The realm creates exactly the scopes the site's services serve, and a
    client or application may name no other."""
    callers: tuple[DnsLabel, ...] = ()
    depends_on: tuple[DnsLabel, ...] = ()
    cache: bool = False
    image_digest: Digest | None = None

    @property
    def served_scopes(self) -> tuple[str, ...]:
        return self.scopes or (f"{self.name}.read", f"{self.name}.write")


# ---------------------------------------------------------------------------- the site

RESERVED_SERVICE_NAMES: dict[str, str] = {
    "auth": "'auth' is the identity host's default name (Keycloak), not a service",
    "keycloak": "'keycloak' is the identity layer's Keycloak, not a service",
    # A service's NetworkPolicy is named after it, in the namespace where the baseline's are.
    "default-deny": "'default-deny' is the baseline's NetworkPolicy in platform-services",
    "allow-dns-egress": "'allow-dns-egress' is the baseline's NetworkPolicy in platform-services",
}
"""Names a listed service may not take: the objects named after a service (Deployment, Service,
ServiceAccount, autoscaler, disruption budget, ServiceMonitor, NetworkPolicy, Ingress) would
collide with what the platform puts in the services' namespace (a test derives these from the
program's objects)."""

PLATFORM_PATHS: dict[str, str] = {
    "/healthz": "every service's liveness probe (never routed)",
    "/readyz": "every service's readiness probe (never routed)",
    "/metrics": "every service's Prometheus endpoint (never routed)",
    "/.well-known": "reserved for the host itself (RFC 8615 well-known URIs)",
}
"""Paths a service may not claim on the API host, nor a prefix of, nor anything under."""


def _nested(a: str, b: str) -> bool:
    """Whether one path prefix contains the other, by whole segments."""
    return a == b or a.startswith(f"{b}/") or b.startswith(f"{a}/")


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


CONFIG_KEYS = (
    "site",
    "cluster",
    "registry",
    "sizing",
    "gateway",
    "certificates",
    "identity",
    "cache",
    "monitoring",
    "logging",
    "backups",
    "services",
)
"""Every key a stack file may hold, without the `national-platform:` namespace."""


class Site(Settings):
    """One deployment site, as the whole program sees it."""

    site: SiteSection
    cluster: ClusterSection
    registry: RegistrySection
    sizing: Sizing
    gateway: GatewaySection = GatewaySection()
    certificates: CertificatesSection | None = None
    """Required wherever the gateway runs (`_certificate_rules`)."""
    identity: IdentitySection = IdentitySection()
    cache: CacheSection = CacheSection()
    monitoring: MonitoringSection = MonitoringSection()
    logging: LoggingSection = LoggingSection()
    backups: BackupsSection | None = None
    """Required on every site, enabled or not (`_backup_rules`): never a silent nothing."""
    services: tuple[ServiceSpec, ...] = ()

    @property
    def name(self) -> str:
        return self.site.name

    @property
    def profile(self) -> str:
        return self.site.profile

    @property
    def is_local(self) -> bool:
        return self.cluster.type == "kind"

    @property
    def object_store(self) -> ObjectStore | None:
        """Where the site's backups go; None when it runs without backups."""
        return self.backups.object_store if self.backups else None

    @property
    def backup_policy(self) -> BackupPolicy | None:
        """How often and how long the site backs up (its profile's policy); None without backups."""
        return BACKUP_POLICIES[self.profile] if self.object_store else None

    @property
    def snapshot_retention_days(self) -> int | None:
        """How long Elasticsearch snapshots are kept: the profile's retention, capped by
        `logging.retentionDays`, so that a backup never keeps logs the site's own rule deletes."""
        policy = self.backup_policy
        return min(policy.snapshot_retention_days, self.logging.retention_days) if policy else None

    def host(self, label: str) -> str:
        """The fully qualified name of a public host of this site, e.g. api.<domain>."""
        return f"{label}.{self.site.domain}"

    @model_validator(mode="after")
    def _site_rules(self) -> Site:
        for rule in (
            self._gateway_rules,
            self._certificate_rules,
            self._backup_rules,
            self._service_rules,
            self._scope_rules,
            self._route_rules,
            self._graph_rules,
            self._identity_rules,
            self._registry_rules,
        ):
            rule()
        return self

    def _gateway_rules(self) -> None:
        if not self.cluster.load_balancer and self.gateway.enabled and self.gateway.node_ports is None:
            raise problem(
                "gateway.nodePorts",
                "is required: the cluster has no LoadBalancer, so the gateway is exposed by NodePort",
            )
        if self.cluster.load_balancer and self.gateway.node_ports is not None:
            raise problem("gateway.nodePorts", "is only used when cluster.loadBalancer is false")
        if self.services and not self.gateway.enabled:
            raise problem("gateway.enabled", "must be true: services are reached only through the gateway")
        if self.gateway.enabled and not self.identity.enabled:
            raise problem(
                "identity.enabled",
                "must be true: every gateway route verifies tokens the identity layer issues",
            )
        if self.identity.enabled and not self.gateway.enabled:
            raise problem("gateway.enabled", "must be true: Keycloak is reached only through the gateway")

    def _certificate_rules(self) -> None:
        certificates = self.certificates
        if certificates is None:
            if self.gateway.enabled:
                raise problem(
                    "certificates",
                    "is required: name who issues the site's public certificates (issuer: acme, "
                    "ca, selfSigned on a kind cluster, or provided with gateway.tls)",
                )
            return
        if (certificates.issuer == "selfSigned") != self.is_local:
            raise problem(
                "certificates.issuer",
                "must be selfSigned on a kind cluster, and only there: nobody outside a laptop "
                "trusts a generated CA (use acme, ca or provided)",
            )
        if certificates.issuer == "provided" and self.gateway.tls is None:
            raise problem("gateway.tls", "is required with certificates.issuer: provided")
        acme = certificates.acme
        if acme is not None and self.registry.air_gapped and not acme.private:
            raise problem(
                "certificates.acme.server",
                f"'{acme.server}' is Let's Encrypt, which an air-gapped site cannot reach: give "
                "the URL of the in-datacentre ACME server, or use issuer: ca",
            )
        if acme is not None and acme.dns01 and acme.dns01.route53 and self.registry.air_gapped:
            raise problem("certificates.acme.dns01.route53", "is AWS, which an air-gapped site cannot reach")

    def _backup_rules(self) -> None:
        if self.backups is None:
            raise problem(
                "backups",
                "is required: give the object store the site's backups go to "
                "(backups.enabled: true and backups.objectStore), or write backups.enabled: false "
                "to run this site without backups, deliberately",
            )
        store = self.object_store
        if store is not None and not store.path_style and not store.on_aws and self.identity.enabled:
            raise problem(
                "backups.objectStore.pathStyle",
                "is false, but the identity database's backups (barman-cloud, through botocore) "
                "always address a store outside amazonaws.com path-style: a store that only takes "
                "virtual-hosted addressing cannot hold them",
            )
        if self.identity.database_recovery is not None and store is None:
            raise problem(
                "identity.databaseRecovery",
                "needs backups.objectStore: the database is restored from the site's object store",
            )
        if store is not None and store.trust == "site":
            certificates = self.certificates
            trusted = certificates is not None and (
                certificates.trusted_certificates or certificates.issuer in ("ca", "selfSigned")
            )
            if not trusted:
                raise problem(
                    "backups.objectStore.trust",
                    "is 'site', but the site trusts no CA of its own: add the store's CA to "
                    "certificates.trustedCertificates",
                )

    def _service_rules(self) -> None:
        names = [service.name for service in self.services]
        for index, service in enumerate(self.services):
            at = f"services[{index}]"
            if service.name in RESERVED_SERVICE_NAMES:
                raise problem(f"{at}.name", RESERVED_SERVICE_NAMES[service.name])
            if service.name in names[:index]:
                first = names.index(service.name)
                raise problem(f"{at}.name", f"'{service.name}' is already services[{first}].name")
            for key, targets in (("callers", service.callers), ("dependsOn", service.depends_on)):
                for target in targets:
                    if target not in names:
                        raise problem(f"{at}.{key}", f"names '{target}', which is not a listed service")
            if service.cache and not self.cache.enabled:
                raise problem(f"{at}.cache", "needs the cache layer (cache.enabled: true)")

    @property
    def api_scopes(self) -> tuple[str, ...]:
        """Every scope the site's services serve, in their order: what the realm holds."""
        return tuple(scope for service in self.services for scope in service.served_scopes)

    def _scope_rules(self) -> None:
        """A scope is declared by one service only, and a client or application names only declared
        scopes: a misspelt scope would otherwise be created silently and its client get 403 forever."""
        owners: dict[str, str] = {}
        for index, service in enumerate(self.services):
            for position, scope in enumerate(service.served_scopes):
                at = f"services[{index}].scopes[{position}]" if service.scopes else f"services[{index}].name"
                if scope in owners:
                    raise problem(at, f"'{scope}' is already {owners[scope]}: a scope is one service's")
                owners[scope] = at
        if not self.identity.enabled:
            return
        declared = ", ".join(owners) or "none"
        for kind, entries in (
            ("clients", self.identity.clients),
            ("applications", self.identity.applications),
        ):
            for index, entry in enumerate(entries):
                for position, scope in enumerate(entry.scopes):
                    if scope not in owners:
                        raise problem(
                            f"identity.{kind}[{index}].scopes[{position}]",
                            f"names '{scope}', which no service declares (services' scopes: {declared})",
                        )

    def _route_rules(self) -> None:
        """Every route a service claims on the API host is its own: not the whole host, not a
        platform endpoint, and no other service's route is the same or nested in it (Ingress
        paths are prefixes, so Kong would send part of one service's traffic to the other)."""
        claimed: list[tuple[str, str, str]] = []  # (route, key path, service)
        for index, service in enumerate(self.services):
            for position, route in enumerate(service.routes):
                at = f"services[{index}].routes[{position}]"
                if route == "/":
                    raise problem(at, "'/' would claim the whole API host: name the service's own prefix")
                if route.endswith("/") or "//" in route or any(p in (".", "..") for p in route.split("/")):
                    raise problem(
                        at,
                        f"'{route}' is not a clean path prefix (no trailing '/', empty, '.' or '..' segment)",
                    )
                for endpoint, owner in PLATFORM_PATHS.items():
                    if _nested(route, endpoint):
                        raise problem(at, f"'{route}' overlaps '{endpoint}', which is {owner}")
                for other, other_at, other_service in claimed:
                    if _nested(route, other):
                        whose = "the same service" if other_service == service.name else f"'{other_service}'"
                        raise problem(
                            at,
                            f"'{route}' overlaps {other_at} '{other}' of {whose}: "
                            "Kong routes by prefix, so one route would take the other's requests",
                        )
                claimed.append((route, at, service.name))

    def _graph_rules(self) -> None:
        """`callers` and `dependsOn` draw one graph (a caller depends on what it calls): no
        service names itself, and the graph has no cycle (a cycle has no order to start in)."""
        edges: dict[str, set[str]] = {service.name: set() for service in self.services}
        for index, service in enumerate(self.services):
            for key, targets in (("callers", service.callers), ("dependsOn", service.depends_on)):
                if service.name in targets:
                    raise problem(f"services[{index}].{key}", f"names '{service.name}' itself")
            edges[service.name] |= set(service.depends_on)
            for caller in service.callers:
                edges.setdefault(caller, set()).add(service.name)
        if cycle := _find_cycle(edges):
            index = next(i for i, s in enumerate(self.services) if s.name == cycle[0])
            raise problem(
                f"services[{index}]",
                "callers and dependsOn form a cycle: " + " → ".join(cycle) + " (each arrow: depends on)",
            )

    def _identity_rules(self) -> None:
        """Names that must be unique within a site, across sections."""
        if not self.gateway.enabled:
            return
        hosts: list[tuple[str, str]] = [("gateway.hostname", self.gateway.hostname)]
        if self.identity.enabled:
            hosts.append(("identity.hostname", self.identity.hostname))
        if self.monitoring.enabled:
            hosts.append(("monitoring.grafanaHostname", self.monitoring.grafana_hostname))
        if self.logging.enabled:
            hosts.append(("logging.kibanaHostname", self.logging.kibana_hostname))
        for position, (key, host) in enumerate(hosts):
            for other_key, other in hosts[:position]:
                if host == other:
                    raise problem(
                        key,
                        f"'{host}' is also {other_key}: both would claim the Ingress host "
                        f"{host}.{self.site.domain}",
                    )

    def _registry_rules(self) -> None:
        if self.is_local and self.registry.air_gapped:
            raise problem("registry.airGapped", "must be false for a kind cluster")
        if self.registry.air_gapped:
            for index, service in enumerate(self.services):
                if service.image_digest is None:
                    raise problem(
                        f"services[{index}].imageDigest",
                        "is required on an air-gapped site: its image is prebuilt and pulled by digest",
                    )
            if self.identity.enabled and self.registry.manifest_mirror is None:
                raise problem(
                    "registry.manifestMirror",
                    "is required on an air-gapped site with the identity layer: the Keycloak "
                    "Operator's CRDs are applied from the site's copy of its release manifests",
                )
        elif not self.is_local and self.registry.service_repository is None:
            raise problem("registry.serviceRepository", "is required: built service images are pushed there")


def field_names(model: type[BaseModel]) -> list[str]:
    """The keys a settings model accepts, as written in stack files."""
    return [info.alias or name for name, info in model.model_fields.items()]


def model_at(model: Any, loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The settings model found at `loc` below `model`, following fields, lists and optionals."""
    current: Any = model
    for part in loc:
        current = _settings_model(current)
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = next(
            (info for name, info in current.model_fields.items() if (info.alias or name) == part), None
        )
        if field is None:
            return None
        current = field.annotation
    return _settings_model(current)


def _settings_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _settings_model(arg)
        if found is not None:
            return found
    return None
