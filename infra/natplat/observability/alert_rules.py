"""The platform's alert and recording rules, as data. The monitoring layer puts them in a
PrometheusRule; `make test` writes the same groups to a file and runs `promtool check rules` and
`promtool test rules` (tests/promtool/) on them.

Service level objectives, for every service (selected by the `service` label the service kit puts
on its metrics), with the multi-window, multi-burn-rate alerts of the Google SRE workbook:
- availability: 99.5 % of requests over 30 days answer without a 5xx;
- latency: 95 % of requests over 30 days answer within 250 ms.
A page fires when the error budget burns 14.4 times too fast over 1 h and 5 m (2 % of the month's
budget in an hour); a ticket when it burns 6 times too fast over 6 h and 30 m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AVAILABILITY_OBJECTIVE = 0.995
LATENCY_OBJECTIVE = 0.95
LATENCY_THRESHOLD_SECONDS = "0.25"  # a bucket boundary of the kit's histogram
WINDOWS = ("5m", "30m", "1h", "6h")
FAST_BURN = 14.4
SLOW_BURN = 6.0
PLATFORM_NAMESPACES = 'namespace=~"platform-.*"'
LOG_INDICES = 'index=~"\\\\.ds-logs-.*"'
"""The backing indices of the `logs-*-*` data streams Logstash writes."""

KEYCLOAK_UP = 'up{namespace="platform-identity", job="platform-identity/keycloak"}'
"""Keycloak's management endpoint, scraped through the identity layer's PodMonitor (job
`<namespace>/<PodMonitor>`, as prometheus-operator names it)."""
DATABASE_UP = 'cnpg_collector_up{namespace="platform-databases"}'
DATABASE_LAG = 'cnpg_pg_replication_lag{namespace="platform-databases"}'

DATABASES = "platform-databases"
CERTIFICATE_ALERT_DAYS = 14

RUNBOOK = "https://github.com/national-platform/infrastructure/blob/main/README.md#alerts"


def _alert(
    name: str, expr: str, duration: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK}-{name.lower()}",
        },
    }


def _slo_recordings() -> list[dict[str, Any]]:
    rules = []
    for window in WINDOWS:
        rules.append(
            {
                "record": f"service:http_requests:error_ratio_rate{window}",
                "expr": (
                    f'sum by (service) (rate(http_requests_total{{status_code=~"5.."}}[{window}]))'
                    f" / sum by (service) (rate(http_requests_total[{window}]))"
                ),
            }
        )
        rules.append(
            {
                "record": f"service:http_requests:slow_ratio_rate{window}",
                "expr": (
                    f"1 - ("
                    f'sum by (service) (rate(http_request_duration_seconds_bucket{{le="{LATENCY_THRESHOLD_SECONDS}"}}[{window}]))'
                    f" / sum by (service) (rate(http_request_duration_seconds_count[{window}]))"
                    f")"
                ),
            }
        )
    return rules


def _burn_alerts(kind: str, series: str, objective: float, what: str) -> list[dict[str, Any]]:
    budget = round(1 - objective, 6)
    alerts = []
    for speed, burn, long, short, severity, duration in (
        ("Fast", FAST_BURN, "1h", "5m", "critical", "2m"),
        ("Slow", SLOW_BURN, "6h", "30m", "warning", "15m"),
    ):
        threshold = round(burn * budget, 6)
        alerts.append(
            _alert(
                f"Service{kind}BudgetBurn{speed}",
                f"service:http_requests:{series}_rate{long} > {threshold}"
                f" and service:http_requests:{series}_rate{short} > {threshold}",
                duration,
                severity,
                f"{{{{ $labels.service }}}} is burning its {what} error budget {burn}x too fast",
                f"Over {long} and {short}, more than {threshold:.2%} of {{{{ $labels.service }}}}'s requests "
                f"were {'failed' if kind == 'Availability' else 'slower than 250 ms'} "
                f"(objective {objective:.1%} over 30 days).",
            )
        )
    return alerts


def _certificate_alerts() -> list[dict[str, Any]]:
    return [
        _alert(
            "CertificateNotReady",
            'max by (namespace, name) (certmanager_certificate_ready_status{condition="False"}) == 1',
            "1h",
            "critical",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} cannot be issued or renewed",
            "cert-manager has failed to issue it for an hour. `kubectl -n {{ $labels.namespace }} describe "
            "certificate {{ $labels.name }}` and its CertificateRequest, Order and Challenge say why "
            "(ACME: the challenge cannot be reached or the DNS update is refused; CA: the site CA expired).",
        ),
        _alert(
            "CertificateExpiringSoon",
            f"min by (namespace, name) (certmanager_certificate_expiration_timestamp_seconds) - time()"
            f" < {CERTIFICATE_ALERT_DAYS} * 86400",
            "1h",
            "critical",
            "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in {{ $value | humanizeDuration }}",
            "Renewal starts 30 days before expiry (at two thirds of an ACME certificate's life): two weeks "
            "of failed renewals. Clients will refuse the host when it expires.",
        ),
    ]


@dataclass(frozen=True)
class BackupAlerting:
    """What the backup alerts need of a site: the names it backs up under and its windows (from
    the site's backup policy). A None window: that store is not backed up, nothing to alert on."""

    repository: str
    snapshot_policy: str
    snapshot_every_hours: int
    snapshot_alert_hours: int | None
    database_alert_hours: int | None


def _backup_alerts(backups: BackupAlerting) -> list[dict[str, Any]]:
    alerts = []
    if backups.snapshot_alert_hours is not None:
        hours = backups.snapshot_alert_hours
        latest = f'elasticsearch_snapshot_stats_latest_snapshot_timestamp_seconds{{repository="{backups.repository}"}}'
        alerts += [
            _alert(
                "ElasticsearchSnapshotTooOld",
                f"time() - max by (repository) ({latest}) > {hours} * 3600",
                "15m",
                "critical",
                f"No Elasticsearch snapshot has succeeded in {hours} hours",
                f"The snapshot lifecycle policy runs every {backups.snapshot_every_hours} h. Check "
                "GET _slm/policy/platform-snapshots (last_failure) and the object store.",
            ),
            _alert(
                "ElasticsearchSnapshotRepositoryMissing",
                f"absent({latest})",
                f"{hours}h",
                "critical",
                f"The snapshot repository '{backups.repository}' has reported nothing for {hours} hours",
                "The exporter sees no such repository: it was never registered (the logs-snapshots Job "
                "failed: kubectl -n platform-logging logs job/<logs-snapshots-…>) or the exporter cannot read it.",
            ),
            _alert(
                "ElasticsearchSnapshotFailed",
                f'increase(elasticsearch_slm_stats_snapshots_failed_total{{policy="{backups.snapshot_policy}"}}[{hours}h])'
                " > 0",
                "5m",
                "warning",
                "An Elasticsearch snapshot failed",
                "One run of the snapshot lifecycle policy failed; the next may succeed. "
                "GET _slm/policy/platform-snapshots shows the last failure.",
            ),
        ]
    if backups.database_alert_hours is not None:
        hours = backups.database_alert_hours
        available = (
            f'barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{{namespace="{DATABASES}"}}'
        )
        alerts += [
            _alert(
                "IdentityDatabaseBackupTooOld",
                f"(time() - max({available}) > {hours} * 3600) or absent({available})",
                "30m",
                "critical",
                f"The identity database has no base backup younger than {hours} hours",
                "Base backups run daily (ScheduledBackup keycloak-db-daily). kubectl -n platform-databases "
                "get backups shows the last ones and their errors; without a recent base backup, "
                "point-in-time recovery needs more WAL, and a lost bucket would lose it all.",
            ),
            _alert(
                "IdentityDatabaseWalArchivingFailing",
                f'cnpg_pg_stat_archiver_last_failed_time{{namespace="{DATABASES}"}}'
                f' > cnpg_pg_stat_archiver_last_archived_time{{namespace="{DATABASES}"}}',
                "15m",
                "critical",
                "The identity database cannot archive its WAL ({{ $labels.pod }})",
                "The last WAL archive attempt failed and none has succeeded since: point-in-time "
                "recovery stops at the last archived segment, and WAL piles up on the volume.",
            ),
        ]
    return alerts


def rule_groups(backups: BackupAlerting | None = None) -> list[dict[str, Any]]:
    """Every rule group of the platform, in PrometheusRule / Prometheus rule-file shape. The
    backup alerts follow the site's backup policy (their windows) and exist only for what the
    site backs up: a site without backups has nothing whose absence would page."""
    backup_alerts = _backup_alerts(backups) if backups else []
    return [
        {"name": "certificates", "rules": _certificate_alerts()},
        *([{"name": "backups", "rules": backup_alerts}] if backup_alerts else []),
        {"name": "service-slo-recordings", "interval": "30s", "rules": _slo_recordings()},
        {
            "name": "service-slos",
            "rules": [
                *_burn_alerts("Availability", "error_ratio", AVAILABILITY_OBJECTIVE, "availability"),
                *_burn_alerts("Latency", "slow_ratio", LATENCY_OBJECTIVE, "latency"),
            ],
        },
        {
            "name": "gateway",
            "rules": [
                _alert(
                    "KongHighServerErrorRatio",
                    'sum by (service) (rate(kong_http_requests_total{code=~"5.."}[5m]))'
                    " / sum by (service) (rate(kong_http_requests_total[5m])) > 0.05",
                    "5m",
                    "critical",
                    "More than 5 % of requests to {{ $labels.service }} fail at the gateway",
                    "Kong answered {{ $value | humanizePercentage }} of the requests routed to "
                    "{{ $labels.service }} with a 5xx over the last 5 minutes.",
                ),
                _alert(
                    "KongHighP99Latency",
                    "histogram_quantile(0.99, sum by (service, le) (rate(kong_request_latency_ms_bucket[5m])))"
                    " > 1000",
                    "10m",
                    "warning",
                    "p99 latency through the gateway to {{ $labels.service }} is over 1 s",
                    "The 99th percentile of request latency (Kong to client) for {{ $labels.service }} "
                    "is {{ $value | humanize }} ms.",
                ),
            ],
        },
        {
            "name": "identity",
            "rules": [
                _alert(
                    "IdentityUnavailable",
                    f"sum({KEYCLOAK_UP}) == 0 or absent({KEYCLOAK_UP})",
                    "5m",
                    "critical",
                    "No Keycloak instance of the site answers",
                    "Nobody can log in and no client can get a token; tokens already issued keep working "
                    "until they expire. Check the pods (kubectl -n platform-identity get pods, keycloak "
                    "resource status) and the database (IdentityDatabaseDown).",
                ),
                _alert(
                    "IdentityDatabaseDown",
                    f"max by (cluster) ({DATABASE_UP}) < 1 or absent({DATABASE_UP})",
                    "5m",
                    "critical",
                    "Keycloak's PostgreSQL primary is not answering",
                    "CloudNativePG reports PostgreSQL down (or no instance is scraped): Keycloak cannot "
                    "log anyone in. kubectl -n platform-databases get cluster keycloak-db; the README's "
                    "'Restoring the identity database' if the data is lost.",
                ),
                _alert(
                    "IdentityDatabaseReplicationLagging",
                    f"max by (cluster) ({DATABASE_LAG}) > 60",
                    "10m",
                    "warning",
                    "A standby of {{ $labels.cluster }} is over a minute behind",
                    "Replication lag is {{ $value | humanizeDuration }}: with synchronous replication, "
                    "writes wait on the one standby that keeps up; a second lagging one would stop them.",
                ),
            ],
        },
        {
            "name": "cache",
            "rules": [
                _alert(
                    "RedisDown",
                    "redis_up == 0",
                    "1m",
                    "critical",
                    "Redis {{ $labels.pod }} is down",
                    "The exporter next to {{ $labels.pod }} cannot reach its Redis; services fall "
                    "back to their sources and Kong's rate limits to fault tolerance.",
                ),
                _alert(
                    "RedisMasterMissing",
                    '(count(redis_instance_info{role="master"}) or vector(0)) < 1',
                    "1m",
                    "critical",
                    "No Redis reports the master role",
                    "Sentinel has no master to hand over: writes and rate-limit counters fail "
                    "until a failover completes.",
                ),
                _alert(
                    "RedisMemoryNearMaxmemory",
                    "redis_memory_used_bytes / redis_memory_max_bytes > 0.9 and redis_memory_max_bytes > 0",
                    "10m",
                    "warning",
                    "Redis {{ $labels.pod }} is using over 90 % of its maxmemory",
                    "Eviction is under way; if hit ratios drop, raise the cache's memory in the profile.",
                ),
            ],
        },
        {
            "name": "logging",
            "rules": [
                _alert(
                    "ElasticsearchClusterNotGreen",
                    'elasticsearch_cluster_health_status{color="green"} == 0',
                    "10m",
                    "warning",
                    "Elasticsearch cluster {{ $labels.cluster }} is not green",
                    "Some shards are not allocated; logs may be missing from Kibana.",
                ),
                _alert(
                    "ElasticsearchClusterRed",
                    'elasticsearch_cluster_health_status{color="red"} == 1',
                    "5m",
                    "critical",
                    "Elasticsearch cluster {{ $labels.cluster }} is red",
                    "At least one primary shard is unassigned: new logs for it are being lost.",
                ),
                _alert(
                    "LogsNotIngested",
                    # Log documents of the platform's data streams stopped growing, or the cluster
                    # answers but holds no log data stream at all (the shippers never started).
                    f"(sum by (cluster) (delta(elasticsearch_indices_docs_primary{{{LOG_INDICES}}}[30m])) <= 0)"
                    " or (max by (cluster) (elasticsearch_cluster_health_number_of_nodes)"
                    f" unless on (cluster) count by (cluster) (elasticsearch_indices_docs_primary{{{LOG_INDICES}}}))",
                    "15m",
                    "critical",
                    "No new log document is reaching Elasticsearch cluster {{ $labels.cluster }}",
                    "Log data streams stopped growing for 45 minutes, or none exists after 15: Filebeat → Logstash → "
                    "Elasticsearch is broken somewhere. Check that the Logstash and "
                    "Filebeat pods run (kubectl -n platform-logging get pods; kubectl -n platform-node-agents "
                    "get pods) and read their logs.",
                ),
                _alert(
                    "ElasticsearchDiskNearHighWatermark",
                    "1 - elasticsearch_filesystem_data_available_bytes / elasticsearch_filesystem_data_size_bytes"
                    " > 0.85",
                    "10m",
                    "warning",
                    "Elasticsearch node {{ $labels.name }} disk is over 85 % (the low watermark)",
                    "Past 85 % no new shard lands on the node, past 90 % shards move away, past 95 % "
                    "its indices turn read-only.",
                ),
            ],
        },
        {
            "name": "kubernetes",
            "rules": [
                _alert(
                    "PlatformPodCrashLooping",
                    f'max by (namespace, pod, container) (kube_pod_container_status_waiting_reason{{reason="CrashLoopBackOff", {PLATFORM_NAMESPACES}}}) == 1',
                    "5m",
                    "critical",
                    "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is crash-looping",
                    "The container keeps restarting; `kubectl logs --previous` shows why.",
                ),
                _alert(
                    "PlatformDeploymentReplicasMissing",
                    f"max by (namespace, deployment) (kube_deployment_spec_replicas{{{PLATFORM_NAMESPACES}}})"
                    f" - max by (namespace, deployment) (kube_deployment_status_replicas_available{{{PLATFORM_NAMESPACES}}})"
                    " > 0",
                    "15m",
                    "critical",
                    "{{ $labels.namespace }}/{{ $labels.deployment }} has {{ $value }} replica(s) fewer available than desired",
                    "For 15 minutes: pods refused at admission (kubectl get events), unschedulable, or failing "
                    "their probes. A layer that never starts looks healthy to `pulumi up`.",
                ),
                _alert(
                    "PlatformStatefulSetReplicasMissing",
                    f"max by (namespace, statefulset) (kube_statefulset_replicas{{{PLATFORM_NAMESPACES}}})"
                    f" - max by (namespace, statefulset) (kube_statefulset_status_replicas_ready{{{PLATFORM_NAMESPACES}}})"
                    " > 0",
                    "15m",
                    "critical",
                    "{{ $labels.namespace }}/{{ $labels.statefulset }} has {{ $value }} replica(s) fewer ready than desired",
                    "For 15 minutes: pods refused at admission (kubectl describe statefulset shows FailedCreate),"
                    " unschedulable, or not ready. Operators (ECK, prometheus-operator) create these"
                    " StatefulSets: a refused pod does not fail `pulumi up`.",
                ),
                _alert(
                    "PlatformVolumeFillingUp",
                    f"kubelet_volume_stats_available_bytes{{{PLATFORM_NAMESPACES}}}"
                    f" / kubelet_volume_stats_capacity_bytes{{{PLATFORM_NAMESPACES}}} < 0.1",
                    "5m",
                    "warning",
                    "Volume {{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} is over 90 % full",
                    "Only {{ $value | humanizePercentage }} is left.",
                ),
                _alert(
                    "PrometheusTargetDown",
                    "up == 0",
                    "5m",
                    "warning",
                    "Target {{ $labels.job }} on {{ $labels.instance }} is down",
                    "Prometheus could not scrape it for 5 minutes: its alerts cannot fire.",
                ),
                _alert(
                    "AlertmanagerNotificationsFailing",
                    "rate(alertmanager_notifications_failed_total[5m]) > 0",
                    "10m",
                    "critical",
                    "Alertmanager cannot deliver through {{ $labels.integration }}",
                    "Notifications are failing: check the SMTP relay or the webhook.",
                ),
            ],
        },
    ]


def alert_names(backups: BackupAlerting | None = None) -> list[str]:
    return [rule["alert"] for group in rule_groups(backups) for rule in group["rules"] if "alert" in rule]
