"""Retention: the index lifecycle policy that rolls the site's log data streams over daily and
deletes them after `logging.retentionDays`, applied by a Job named after its content."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.labels import common_labels, metadata
from natplat.layers.logs.common import ElasticsearchHandle, LoggingArgs, locked_down, small_pod

RETENTION_POLICY = "platform-logs"


def retention_requests(days: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The Elasticsearch API calls that set the site's retention on every `logs-*-*` data stream:
    a lifecycle policy (daily rollover, delete after `days`), attached through `logs@custom`, the
    component template Elasticsearch's built-in `logs` template reserves for this."""
    policy = {
        "policy": {
            "_meta": {"managed_by": "national-platform (pulumi)"},
            "phases": {
                "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
                "delete": {"min_age": f"{days}d", "actions": {"delete": {}}},
            },
        }
    }
    template = {"template": {"settings": {"index.lifecycle.name": RETENTION_POLICY}}}
    return [
        ("PUT", f"/_ilm/policy/{RETENTION_POLICY}", policy),
        ("PUT", "/_component_template/logs@custom", template),
    ]


def retention_job(args: LoggingArgs, es: ElasticsearchHandle, opts: pulumi.ResourceOptions) -> None:
    """Applies the lifecycle policy (see `api_job`)."""
    api_job(
        args,
        es,
        "logs-retention",
        retention_requests(args.logging.retention_days),
        {"national-platform/retention-days": str(args.logging.retention_days)},
        opts,
    )


def api_job(
    args: LoggingArgs,
    es: ElasticsearchHandle,
    name: str,
    requests: list[tuple[str, str, dict[str, Any]]],
    annotations: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.Job:
    """A Job that makes `requests` to Elasticsearch's API once the cluster answers, named after
    its content: a changed request makes a new Job (Jobs are immutable), an unchanged one is
    left alone. A request Elasticsearch refuses fails the Job (curl -f), which retries it."""
    curl = 'curl -fsS --cacert /secrets/ca/ca.crt -u "$auth"'
    script_lines = [
        "set -eu",
        'auth="elastic:$(cat /secrets/elastic/elastic)"',
        f'url="{es.url}"',
        f'for i in $(seq 60); do {curl} "$url/_cluster/health" >/dev/null && break; sleep 10; done',
    ]
    for method, path, body in requests:
        payload = json.dumps(body, sort_keys=True).replace("'", "'\\''")
        script_lines.append(
            f"{curl} -X {method} -H 'Content-Type: application/json' \"$url{path}\" -d '{payload}'"
        )
    script = "\n".join(script_lines) + "\n"
    digest = hashlib.sha256(script.encode()).hexdigest()[:10]
    image = args.image("elasticsearch")
    return k8s.batch.v1.Job(
        name,
        metadata=metadata(
            args.site, f"{name}-{digest}", "logging", namespace=args.namespace.ready, annotations=annotations
        ),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=6,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=common_labels(args.site, name, "logging")),
                spec=small_pod(
                    args,
                    1000,  # the elasticsearch user of the image it borrows curl from
                    restart_policy="OnFailure",
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="apply",
                            image=image.reference,
                            command=["/bin/sh", "-c", script],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "128Mi"}
                            ),
                            security_context=locked_down(1000),
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(
                                    name="elastic", mount_path="/secrets/elastic", read_only=True
                                ),
                                k8s.core.v1.VolumeMountArgs(
                                    name="ca", mount_path="/secrets/ca", read_only=True
                                ),
                            ],
                        )
                    ],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="elastic",
                            secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=es.elastic_user_secret),
                        ),
                        k8s.core.v1.VolumeArgs(
                            name="ca",
                            secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=es.ca_secret),
                        ),
                    ],
                ),
            ),
        ),
        opts=opts,
    )
