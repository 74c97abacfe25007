"""Grafana dashboards as code, built with Grafana's own foundation SDK: a platform overview, the
gateway, identity, the cache, logging, and one dashboard per service the site lists. The monitoring layer
ships each as a ConfigMap the Grafana sidecar loads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
"""kube-prometheus-stack provisions its Prometheus datasource with this uid."""


@dataclass(frozen=True)
class Panel:
    title: str
    queries: tuple[tuple[str, str], ...]
    """(PromQL, legend) pairs."""
    unit: str
    kind: str = "timeseries"


def _build(uid: str, title: str, tags: list[str], panels: list[Panel]) -> dict[str, Any]:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .tags(["national-platform", *tags])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
    )
    for panel in panels:
        builder = stat.Panel() if panel.kind == "stat" else timeseries.Panel()
        builder = builder.title(panel.title).unit(panel.unit).datasource(DATASOURCE).height(8).span(12)
        for ref, (expr, legend) in enumerate(panel.queries):
            builder = builder.with_target(
                prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + ref))
            )
        board = board.with_panel(builder)
    return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


def overview() -> dict[str, Any]:
    return _build(
        "platform-overview",
        "Platform overview",
        ["overview"],
        [
            Panel(
                "Requests through the gateway",
                (("sum by (service) (rate(kong_http_requests_total[5m]))", "{{service}}"),),
                "reqps",
            ),
            Panel(
                "Gateway 5xx ratio",
                (
                    (
                        'sum(rate(kong_http_requests_total{code=~"5.."}[5m])) / sum(rate(kong_http_requests_total[5m]))',
                        "5xx",
                    ),
                ),
                "percentunit",
            ),
            Panel("Targets down", (("count(up == 0) or vector(0)", "down"),), "short", "stat"),
            Panel(
                "Crash-looping platform containers",
                (
                    (
                        'sum(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", namespace=~"platform-.*"}) or vector(0)',
                        "crash-looping",
                    ),
                ),
                "short",
                "stat",
            ),
            Panel(
                "Days until each certificate expires",
                (
                    (
                        "min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds - time())"
                        " / 86400",
                        "{{namespace}}/{{name}}",
                    ),
                ),
                "d",
            ),
            Panel(
                "Certificates not ready",
                (
                    (
                        'sum(certmanager_certificate_ready_status{condition="False"}) or vector(0)',
                        "not ready",
                    ),
                ),
                "short",
                "stat",
            ),
            Panel(
                "Hours since the last good backup",
                (
                    (
                        "(time() - max by (repository) "
                        "(elasticsearch_snapshot_stats_latest_snapshot_timestamp_seconds)) / 3600",
                        "Elasticsearch ({{repository}})",
                    ),
                    (
                        "(time() - max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp)) / 3600",
                        "identity database",
                    ),
                ),
                "h",
            ),
            Panel(
                "Memory by namespace",
                (
                    (
                        'sum by (namespace) (container_memory_working_set_bytes{namespace=~"platform-.*", container!=""})',
                        "{{namespace}}",
                    ),
                ),
                "bytes",
            ),
        ],
    )


def gateway() -> dict[str, Any]:
    return _build(
        "platform-gateway",
        "Gateway (Kong)",
        ["gateway", "kong"],
        [
            Panel(
                "Requests by status class",
                (("sum by (code) (rate(kong_http_requests_total[5m]))", "{{code}}"),),
                "reqps",
            ),
            Panel(
                "p50 / p99 latency",
                (
                    (
                        "histogram_quantile(0.5, sum by (le) (rate(kong_request_latency_ms_bucket[5m])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) (rate(kong_request_latency_ms_bucket[5m])))",
                        "p99",
                    ),
                ),
                "ms",
            ),
            Panel(
                "Upstream vs Kong latency (p99)",
                (
                    (
                        "histogram_quantile(0.99, sum by (le) (rate(kong_upstream_latency_ms_bucket[5m])))",
                        "upstream",
                    ),
                    ("histogram_quantile(0.99, sum by (le) (rate(kong_kong_latency_ms_bucket[5m])))", "kong"),
                ),
                "ms",
            ),
            Panel(
                "Bandwidth",
                (("sum by (direction) (rate(kong_bandwidth_bytes[5m]))", "{{direction}}"),),
                "Bps",
            ),
            Panel(
                "Connections",
                (("sum by (state) (kong_nginx_connections_total)", "{{state}}"),),
                "short",
            ),
        ],
    )


def cache() -> dict[str, Any]:
    return _build(
        "platform-cache",
        "Cache (Redis)",
        ["cache", "redis"],
        [
            Panel("Instances up", (("sum(redis_up)", "up"),), "short", "stat"),
            Panel(
                "Hit ratio",
                (
                    (
                        "sum(rate(redis_keyspace_hits_total[5m])) / (sum(rate(redis_keyspace_hits_total[5m])) + sum(rate(redis_keyspace_misses_total[5m])))",
                        "hit ratio",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Memory used / maxmemory",
                (("redis_memory_used_bytes / redis_memory_max_bytes", "{{pod}}"),),
                "percentunit",
            ),
            Panel(
                "Commands", (("sum by (pod) (rate(redis_commands_processed_total[5m]))", "{{pod}}"),), "ops"
            ),
            Panel(
                "Clients and replicas",
                (("sum(redis_connected_clients)", "clients"), ("max(redis_connected_slaves)", "replicas")),
                "short",
            ),
            Panel("Evictions", (("sum(rate(redis_evicted_keys_total[5m]))", "evicted"),), "ops"),
        ],
    )


def logging() -> dict[str, Any]:
    return _build(
        "platform-logging",
        "Logging (Elasticsearch)",
        ["logging", "elasticsearch"],
        [
            Panel(
                "Cluster health (green = 1)",
                (('max(elasticsearch_cluster_health_status{color="green"})', "green"),),
                "short",
                "stat",
            ),
            Panel(
                "Nodes", (("max(elasticsearch_cluster_health_number_of_nodes)", "nodes"),), "short", "stat"
            ),
            Panel(
                "Unassigned shards",
                (("max(elasticsearch_cluster_health_unassigned_shards)", "unassigned"),),
                "short",
            ),
            Panel(
                "Disk used per node",
                (
                    (
                        "1 - elasticsearch_filesystem_data_available_bytes / elasticsearch_filesystem_data_size_bytes",
                        "{{name}}",
                    ),
                ),
                "percentunit",
            ),
            Panel("Documents", (("sum(elasticsearch_indices_docs)", "documents"),), "short"),
            Panel(
                "JVM heap used",
                (
                    (
                        "elasticsearch_jvm_memory_used_bytes / elasticsearch_jvm_memory_max_bytes",
                        "{{name}} {{area}}",
                    ),
                ),
                "percentunit",
            ),
        ],
    )


IDENTITY = 'namespace="platform-identity"'
TOKEN_ENDPOINT = 'uri="/realms/{realm}/protocol/{protocol}/token"'  # noqa: S105 - a URL template
"""The token endpoint as Keycloak labels its HTTP metrics (a route template, seen on Keycloak 26.7)."""


def identity() -> dict[str, Any]:
    """Keycloak (its HTTP server, JVM and connection pool, as its management port exports them)
    and its PostgreSQL (CloudNativePG's exporter)."""
    token = f"{IDENTITY}, {TOKEN_ENDPOINT}"
    return _build(
        "platform-identity",
        "Identity (Keycloak)",
        ["identity", "keycloak"],
        [
            Panel(
                "Token requests by status",
                (
                    (
                        f"sum by (status) (rate(http_server_requests_seconds_count{{{token}}}[5m]))",
                        "{{status}}",
                    ),
                ),
                "reqps",
            ),
            Panel(
                "Refused token requests",
                (
                    (
                        f'sum(rate(http_server_requests_seconds_count{{{token}, status=~"4.."}}[5m]))'
                        f" / sum(rate(http_server_requests_seconds_count{{{token}}}[5m]))",
                        "refused",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Mean request duration",
                (
                    (
                        f"sum(rate(http_server_requests_seconds_sum{{{IDENTITY}}}[5m]))"
                        f" / sum(rate(http_server_requests_seconds_count{{{IDENTITY}}}[5m]))",
                        "mean",
                    ),
                ),
                "s",
            ),
            Panel(
                "Instances up",
                ((f'sum(up{{{IDENTITY}, job="platform-identity/keycloak"}}) or vector(0)', "up"),),
                "short",
                "stat",
            ),
            Panel(
                "JVM memory used",
                ((f"sum by (pod) (jvm_memory_used_bytes{{{IDENTITY}}})", "{{pod}}"),),
                "bytes",
            ),
            Panel(
                "Database connections (active, waiting)",
                (
                    (f"sum by (pod) (agroal_active_count{{{IDENTITY}}})", "{{pod}} active"),
                    (f"sum by (pod) (agroal_awaiting_count{{{IDENTITY}}})", "{{pod}} waiting"),
                ),
                "short",
            ),
            Panel(
                "PostgreSQL up and replication lag",
                (
                    ('max by (pod) (cnpg_collector_up{namespace="platform-databases"})', "{{pod}} up"),
                    (
                        'max by (pod) (cnpg_pg_replication_lag{namespace="platform-databases"})',
                        "{{pod}} lag (s)",
                    ),
                ),
                "short",
            ),
        ],
    )


def service(name: str) -> dict[str, Any]:
    """Rate, errors and duration of one service, from the metrics every service kit exports."""
    selector = f'service="{name}"'
    return _build(
        f"service-{name}",
        f"Service: {name}",
        ["service", name],
        [
            Panel(
                "Request rate by route",
                ((f"sum by (route) (rate(http_requests_total{{{selector}}}[5m]))", "{{route}}"),),
                "reqps",
            ),
            Panel(
                "Error ratio (5xx)",
                (
                    (
                        f'sum(rate(http_requests_total{{{selector}, status_code=~"5.."}}[5m])) / sum(rate(http_requests_total{{{selector}}}[5m]))',
                        "5xx",
                    ),
                ),
                "percentunit",
            ),
            Panel(
                "Duration p50 / p95 / p99",
                tuple(
                    (
                        f"histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}[5m])))",
                        f"p{int(float(q) * 100)}",
                    )
                    for q in ("0.5", "0.95", "0.99")
                ),
                "s",
            ),
            Panel(
                "Availability SLO burn (1h)",
                ((f"service:http_requests:error_ratio_rate1h{{{selector}}} / (1 - 0.995)", "burn rate"),),
                "short",
            ),
            Panel(
                "Memory and event-loop lag",
                (
                    (f"process_resident_memory_bytes{{{selector}}}", "{{pod}} memory"),
                    (f"nodejs_eventloop_lag_p99_seconds{{{selector}}}", "{{pod}} lag p99"),
                ),
                "short",
            ),
        ],
    )


def dashboards(
    services: list[str], *, logging_enabled: bool, cache_enabled: bool, identity_enabled: bool = True
) -> dict[str, dict[str, Any]]:
    """Every dashboard of a site, by uid."""
    boards = [overview(), gateway()]
    if identity_enabled:
        boards.append(identity())
    if cache_enabled:
        boards.append(cache())
    if logging_enabled:
        boards.append(logging())
    boards += [service(name) for name in services]
    return {board["uid"]: board for board in boards}


def queries(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in board.get("panels", []) for target in panel.get("targets", [])]
