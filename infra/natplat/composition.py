"""The composition root: builds the layers in dependency order and hands each the typed handles
it needs from the layers before it. The only module that sees the whole `Site`."""

from __future__ import annotations

from typing import Any

import pulumi

from natplat.layers.baseline import NAMESPACES, BaselineArgs, ClusterBaseline
from natplat.layers.cache import CacheArgs, RedisCache
from natplat.layers.certificates import CertificatesArgs, CertManager, public_certificates
from natplat.layers.cluster import ClusterArgs, KubernetesCluster
from natplat.layers.gateway.kong import KONG_POD_LABELS, GatewayArgs, KongGateway
from natplat.layers.identity.stack import IdentityStack, IdentityStackArgs
from natplat.layers.logs.common import LoggingArgs
from natplat.layers.logs.stack import LoggingStack
from natplat.layers.monitoring import MonitoringArgs, MonitoringStack
from natplat.layers.services.layer import PlatformServices, ServicesArgs
from natplat.layers.signing import JwtChain, TokenSigningKey
from natplat.spec.model import Site


def realm_issuer(site: Site) -> str:
    """The `iss` of every token of the site: Keycloak's URL of the site realm, behind Kong."""
    return f"https://{site.host(site.identity.hostname)}/realms/{site.identity.realm}"


def backup_status(site: Site) -> str:
    """What the site backs up, where, how often: a stack output and a plan summary column."""
    store, policy = site.object_store, site.backup_policy
    if store is None or policy is None:
        return "disabled"
    parts = []
    if site.logging.enabled:
        parts.append(
            f"Elasticsearch every {policy.snapshot_every_hours} h, kept {site.snapshot_retention_days} d"
        )
    if site.identity.enabled:
        parts.append(f"identity database daily + WAL, kept {policy.database_retention_days} d")
    return (
        f"{store.endpoint}/{store.bucket}: " + "; ".join(parts)
        if parts
        else f"{store.endpoint} (nothing to back up)"
    )


def build_platform(site: Site) -> dict[str, Any]:
    """Create every resource of the site; return the stack outputs."""
    cluster = KubernetesCluster("cluster", ClusterArgs.from_site(site))
    on_cluster = pulumi.ResourceOptions(providers=[cluster.provider])
    baseline = ClusterBaseline("baseline", BaselineArgs.from_site(site), opts=on_cluster)
    ns = baseline.namespaces
    outputs: dict[str, Any] = {}

    # cert-manager before every layer that publishes a host: each host's Certificate names the
    # site's issuer. It needs nothing from the others (its ServiceMonitor comes after monitoring).
    cert_manager = None
    certificates = None
    if site.certificates is not None:
        cert_manager = CertManager(
            "certificates",
            CertificatesArgs.from_site(
                site,
                namespace=ns["certificates"],
                scrapers=tuple(ns[c] for c in ("monitoring",) if c in ns),
                pull_secret=baseline.pull_secret_name,
            ),
            opts=on_cluster,
        )
        certificates = public_certificates(site, cert_manager, NAMESPACES["gateway"].name, KONG_POD_LABELS)
        outputs["certificateIssuer"] = site.certificates.describe()

    # Monitoring first: it installs the CRDs (ServiceMonitor, PrometheusRule) every other layer
    # creates objects of, so they wait for it.
    after: tuple[pulumi.Resource, ...] = ()
    if site.monitoring.enabled:
        monitoring = MonitoringStack(
            "monitoring",
            MonitoringArgs.from_site(
                site,
                namespace=ns["monitoring"],
                node_agents=ns["nodeAgents"],
                gateway_namespace=ns.get("gateway"),
                gateway_pod_labels=KONG_POD_LABELS,
                pull_secret=baseline.pull_secret_name,
                certificates=certificates,
            ),
            opts=on_cluster,
        )
        after = (monitoring.chart,)
        if cert_manager is not None:
            cert_manager.monitor(after=after)
        outputs["grafanaUrl"] = f"https://{site.monitoring.grafana_hostname}.{site.site.domain}"
        outputs["dashboards"] = monitoring.dashboard_uids

    if site.logging.enabled:
        logging = LoggingStack(
            "logging",
            LoggingArgs.from_site(
                site,
                namespace=ns["logging"],
                node_agents=ns["nodeAgents"],
                gateway_namespace=ns.get("gateway"),
                gateway_pod_labels=KONG_POD_LABELS,
                scrapers=tuple(ns[c] for c in ("monitoring",) if c in ns),
                pull_secret=baseline.pull_secret_name,
                certificates=certificates,
                after=after,
            ),
            opts=on_cluster,
        )
        outputs["kibanaUrl"] = f"https://{site.logging.kibana_hostname}.{site.site.domain}"
        outputs["elasticsearch"] = logging.elasticsearch.url

    cache = None
    if site.cache.enabled:
        cache = RedisCache(
            "cache",
            CacheArgs.from_site(
                site,
                namespace=ns["cache"],
                clients=tuple(ns[c] for c in ("services", "gateway") if c in ns),
                credentials_in=tuple(ns[c] for c in ("services",) if c in ns),
                scrapers=tuple(ns[c] for c in ("monitoring",) if c in ns),
                pull_secret=baseline.pull_secret_name,
                after=after,
            ),
            opts=on_cluster,
        )
        outputs["cacheEndpoint"] = f"{cache.endpoint.host}:{cache.endpoint.port}"

    if site.gateway.enabled:
        keys = tuple(
            TokenSigningKey(f"token-signing-{generation}", generation).key
            for generation in site.identity.signing_keys
        )
        jwt = JwtChain(
            issuer=realm_issuer(site),
            audience=site.identity.audience,
            token_ttl_seconds=site.identity.token_ttl_seconds,
            keys=keys,
        )
        scrapers = tuple(ns[c] for c in ("monitoring",) if c in ns)
        gateway = KongGateway(
            "gateway",
            GatewayArgs.from_site(
                site,
                namespace=ns["gateway"],
                routes_namespace=ns["services"],
                upstream_namespaces=tuple(
                    ns[c] for c in ("services", "identity", "monitoring", "logging") if c in ns
                ),
                scrapers=scrapers,
                cache=cache.endpoint if cache else None,
                jwt=jwt,
                pull_secret=baseline.pull_secret_name,
                certificates=certificates,
                after=after,
            ),
            opts=on_cluster,
        )
        services = PlatformServices(
            "services",
            ServicesArgs(
                site=site,
                namespace=ns["services"],
                gateway=gateway.routes,
                jwt=jwt,
                cache=cache.endpoint if cache else None,
                scrapers=scrapers,
                pull_secret=baseline.pull_secret_name,
                after=after,
            ),
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[gateway])),
        )
        identity = IdentityStack(
            "identity",
            IdentityStackArgs(
                site=site,
                namespace=ns["identity"],
                databases=ns["databases"],
                gateway=gateway.routes,
                jwt=jwt,
                scrapers=scrapers,
                pull_secret=baseline.pull_secret_name,
                cert_manager=(cert_manager.chart,) if cert_manager else (),
                after=after,
                # The realm signs only once the services trust its keys (a key rotation).
                verifiers=(services,),
            ),
            opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[gateway])),
        )
        outputs["identityUrl"] = identity.server.url
        outputs["tokenIssuer"] = identity.server.issuer
        outputs["gatewayProxy"] = gateway.proxy_address
        outputs["tokenKeyIds"] = {key.generation: key.kid for key in keys}
        outputs["publicUrls"] = services.urls

    outputs["backups"] = backup_status(site)
    return {
        "site": site.name,
        "region": site.site.region,
        "profile": site.profile,
        "kubernetesVersion": site.site.kubernetes_version,
        "airGapped": site.registry.air_gapped,
        "namespaces": {concern: placed.ready for concern, placed in ns.items()},
        **outputs,
    }
