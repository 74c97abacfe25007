"""The metric names each component really exports: the one list that alert rules and dashboards
may draw from (a test parses every expression against it). Sources, per component:

- services: `services/lib/kit/src/metrics.js` and the services' own counters (a test reads them there);
- kong: the prometheus plugin of Kong 3.9 (`kong/plugins/prometheus/exporter.lua`);
- redis: oliver006/redis_exporter;
- elasticsearch: prometheus-community/elasticsearch_exporter (v1.9.0; its snapshot and SLM
  collectors, `collector/snapshots.go` and `collector/slm.go`, on sites with backups);
- kubernetes: kube-state-metrics and the kubelet (via kube-prometheus-stack);
- prometheus: Prometheus's own `up` and target metrics, and Alertmanager's;
- keycloak: Keycloak's management port (`/metrics`, Quarkus' Micrometer: HTTP server, JVM,
  Agroal connection pool; a test reads them off a real Keycloak);
- databases: CloudNativePG's instance exporter (`cnpg_collector_*`, and `cnpg_pg_replication_*` and
  `cnpg_pg_stat_archiver_*` from its default monitoring queries, the chart's
  `cnpg-default-monitoring` ConfigMap), and the Barman Cloud plugin's `barman_cloud_cloudnative_pg_io_*`
  through the same exporter (the plugin's documentation, "Observability");
- certificates: cert-manager's controller (`certmanager_certificate_*`, pkg/metrics).
Histograms are listed by their base name; `_bucket`, `_sum` and `_count` follow from it.
"""

from __future__ import annotations

HISTOGRAMS: frozenset[str] = frozenset(
    {
        "http_request_duration_seconds",
        "kong_request_latency_ms",
        "kong_upstream_latency_ms",
        "kong_kong_latency_ms",
    }
)

METRICS: dict[str, frozenset[str]] = {
    "services": frozenset(
        {
            "http_requests_total",
            "http_request_duration_seconds",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "nodejs_eventloop_lag_p99_seconds",
            "offices_cache_operations_total",
            "offices_token_rejections_total",
        }
    ),
    "kong": frozenset(
        {
            "kong_http_requests_total",
            "kong_request_latency_ms",
            "kong_upstream_latency_ms",
            "kong_kong_latency_ms",
            "kong_bandwidth_bytes",
            "kong_nginx_connections_total",
            "kong_upstream_target_health",
        }
    ),
    "redis": frozenset(
        {
            "redis_up",
            "redis_instance_info",
            "redis_memory_used_bytes",
            "redis_memory_max_bytes",
            "redis_connected_clients",
            "redis_connected_slaves",
            "redis_keyspace_hits_total",
            "redis_keyspace_misses_total",
            "redis_commands_processed_total",
            "redis_evicted_keys_total",
        }
    ),
    "elasticsearch": frozenset(
        {
            "elasticsearch_cluster_health_status",
            "elasticsearch_cluster_health_number_of_nodes",
            "elasticsearch_cluster_health_unassigned_shards",
            "elasticsearch_filesystem_data_available_bytes",
            "elasticsearch_filesystem_data_size_bytes",
            "elasticsearch_indices_docs",
            "elasticsearch_indices_docs_primary",
            "elasticsearch_jvm_memory_used_bytes",
            "elasticsearch_jvm_memory_max_bytes",
            "elasticsearch_snapshot_stats_latest_snapshot_timestamp_seconds",
            "elasticsearch_slm_stats_snapshots_failed_total",
        }
    ),
    "kubernetes": frozenset(
        {
            "kube_pod_container_status_waiting_reason",
            "kube_pod_container_status_restarts_total",
            "kube_deployment_status_replicas_available",
            "kube_deployment_spec_replicas",
            "kube_statefulset_replicas",
            "kube_statefulset_status_replicas_ready",
            "kubelet_volume_stats_available_bytes",
            "kubelet_volume_stats_capacity_bytes",
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
        }
    ),
    "keycloak": frozenset(
        {
            "http_server_requests_seconds_count",
            "http_server_requests_seconds_sum",
            "jvm_memory_used_bytes",
            "agroal_active_count",
            "agroal_awaiting_count",
        }
    ),
    "databases": frozenset(
        {
            "cnpg_collector_up",
            "cnpg_pg_replication_lag",
            "cnpg_pg_stat_archiver_last_archived_time",
            "cnpg_pg_stat_archiver_last_failed_time",
            "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
            "barman_cloud_cloudnative_pg_io_last_failed_backup_timestamp",
        }
    ),
    "certificates": frozenset(
        {
            "certmanager_certificate_ready_status",
            "certmanager_certificate_expiration_timestamp_seconds",
        }
    ),
    "prometheus": frozenset(
        {
            "up",
            "alertmanager_notifications_failed_total",
            "alertmanager_notifications_total",
        }
    ),
}

SUFFIXES = ("_bucket", "_sum", "_count")


def known(name: str) -> bool:
    """Whether `name` (as written in an expression) is a metric some component exports."""
    every = frozenset().union(*METRICS.values())
    if name in every:
        return True
    return any(name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS for suffix in SUFFIXES)
