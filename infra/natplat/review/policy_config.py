"""The policy pack's configuration for one site, derived from its stack file, so that the pack
and the program can never disagree about a site (its mirror, its exposure, its public routes).

    python -m natplat.review.policy_config stacks/Pulumi.<site>.yaml > build/policy/<site>.json
    pulumi preview -s <site> --policy-pack policies --policy-pack-config build/policy/<site>.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from natplat.blocks.injected import policy_table
from natplat.layers.baseline import NAMESPACES
from natplat.layers.gateway.routes import JWT_PLUGIN, PUBLIC_ALLOW_LIST, public_paths
from natplat.spec.catalog import CHARTS
from natplat.spec.model import Site
from natplat.spec.stackfile import SiteConfigError, load_stack_file

POLICY_NAMES = (
    "images-pinned",
    "images-from-site-mirror",
    "container-resources",
    "run-as-non-root",
    "no-privilege-escalation",
    "drop-all-capabilities",
    "read-only-root-filesystem",
    "seccomp-runtime-default",
    "injected-containers-hardened",
    "volumes-writable-by-the-pod",
    "host-access-only-for-node-agents",
    "exposure-only-through-the-gateway",
    "routes-require-tokens",
    "hosts-have-certificates",
    "charts-pinned",
    "no-secrets-in-config-maps",
    "common-labels",
    "pod-security-restricted",
    "identity-behind-the-gateway",
    "databases-locked-down",
    "namespaces-default-deny",
    "replicas-and-disruption-budgets",
)

SINGLETONS = {
    # A second exporter would double every Elasticsearch series (and every sum on the
    # dashboards); losing it for the minutes of a reschedule loses no log.
    "platform-logging/elasticsearch-exporter": "one scraper of the cluster's own statistics",
    # Chart-rendered singletons (what a real preview shows under helm.v4.Chart):
    "platform-logging/elastic-operator": (
        "the ECK operator reconciles; a second replica would only wait for the leader lease, and "
        "running workloads do not need the operator to stay up"
    ),
    "platform-monitoring/monitoring-operator": (
        "prometheus-operator reconciles; Prometheus and Alertmanager keep running while it reschedules"
    ),
    "platform-monitoring/monitoring-kube-state-metrics": (
        "a second replica would double every kube_* series and every sum on the dashboards"
    ),
    "platform-databases/plugin-barman-cloud": (
        "the Barman Cloud plugin answers the database operator's calls (backups, new instances); "
        "WAL archiving runs in each instance's own sidecar and goes on while it reschedules"
    ),
    "platform-monitoring/monitoring-grafana": (
        "Grafana keeps users and sessions in SQLite: one replica until it gets a shared database"
    ),
    # Operators the identity layer brings (the chart's and the manifest's Deployments: what a
    # real preview of a medium or large site showed, one replica each, no budget).
    "platform-identity/keycloak-operator": (
        "the Keycloak Operator reconciles the Keycloak resource; running Keycloak pods keep serving "
        "logins while it reschedules, and the realm is applied by the program's own Job"
    ),
    "platform-databases/cnpg-cloudnative-pg": (
        "the CloudNativePG operator reconciles the database Cluster and serves its webhooks; the "
        "instances keep serving while it reschedules, but a failover waits for it (minutes, on a "
        "drained node)"
    ),
}
"""Deployments and StatefulSets that run one replica on purpose, with the reason (exemptions of
`replicas-and-disruption-budgets`, shown in the plan summary)."""


def site_settings(site: Site) -> dict[str, Any]:
    hostnames = {
        "auth": site.identity.hostname,
        "grafana": site.monitoring.grafana_hostname,
        "kibana": site.logging.kibana_hostname,
    }
    return {
        "site": site.name,
        "domain": site.site.domain,
        "imageMirror": site.registry.image_mirror if site.registry.air_gapped else None,
        "nodeAgentNamespaces": [NAMESPACES["nodeAgents"].name],
        "gatewayNamespace": NAMESPACES["gateway"].name,
        "nodePortsAllowed": not site.cluster.load_balancer,
        "publicRoutes": {
            hostnames[label]: list(public_paths(label, realm=site.identity.realm))
            for label in PUBLIC_ALLOW_LIST
        },
        "jwtPlugin": JWT_PLUGIN,
        "chartPins": {chart.name: chart.version for chart in CHARTS},
        "issuedCertificates": site.certificates is not None and site.certificates.managed,
        "highAvailability": site.profile != "small",
        "singletons": sorted(SINGLETONS),
        "singletonReasons": dict(sorted(SINGLETONS.items())),
        "injectedContainers": policy_table(),
    }


def policy_config(site: Site) -> dict[str, dict[str, Any]]:
    settings = site_settings(site)
    return {name: settings for name in POLICY_NAMES}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m natplat.review.policy_config stacks/Pulumi.<site>.yaml", file=sys.stderr)
        return 2
    try:
        site = load_stack_file(Path(args[0]))
    except SiteConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(policy_config(site), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
