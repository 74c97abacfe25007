"""Elasticsearch's backups: an S3 snapshot repository on the site's object store and a snapshot
lifecycle (SLM) policy sized by profile.

- The store's client settings go in `elasticsearch.yml` (ECK `config`), its keys in the
  Elasticsearch keystore (ECK `secureSettings`, from a Secret only ECK reads).
- The repository `platform` and the policy `platform-snapshots` are applied through the API by a
  content-named Job, like the retention policy.
- SLM expires snapshots after the profile's retention, capped by `logging.retentionDays`.
- When the store's certificate chains to the site's own CA (`objectStore.trust: site`), an init
  container adds the site's CA certificates to a copy of the JVM's trust store, which
  Elasticsearch then uses (`javax.net.ssl.trustStore`); the S3 client has no CA setting of its own.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.labels import metadata
from natplat.layers.certificates import TRUST_BUNDLE, distribute_trust
from natplat.layers.logs.common import ElasticsearchHandle, LoggingArgs, Snapshots
from natplat.layers.logs.retention import api_job
from natplat.spec.backups import SNAPSHOT_POLICY, SNAPSHOT_REPOSITORY

CREDENTIALS_SECRET = "logs-s3-credentials"  # noqa: S105 - a Secret's name
TRUSTSTORE_DIR = "/usr/share/elasticsearch/config/platform-truststore"
TRUSTSTORE = f"{TRUSTSTORE_DIR}/cacerts"
TRUSTSTORE_PASSWORD = "changeit"  # noqa: S105 - the JDK's public default: the store holds public certificates
JDK = "/usr/share/elasticsearch/jdk"

TRUSTSTORE_SCRIPT = """set -eu
# The JDK's own trust store, plus every certificate of the site's bundle.
cp "$JDK/lib/security/cacerts" "$STORE"
chmod u+w "$STORE"
count=0
file=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    *"-BEGIN CERTIFICATE-"*) count=$((count + 1)); file="$WORK/ca-$count.pem"; : > "$file" ;;
  esac
  if [ -n "$file" ]; then printf '%s\\n' "$line" >> "$file"; fi
  case "$line" in
    *"-END CERTIFICATE-"*) file="" ;;
  esac
done < "$BUNDLE"
if [ "$count" -eq 0 ]; then echo "no certificate in $BUNDLE" >&2; exit 1; fi
i=1
while [ "$i" -le "$count" ]; do
  "$JDK/bin/keytool" -importcert -noprompt -alias "platform-trust-$i" -file "$WORK/ca-$i.pem" \\
    -keystore "$STORE" -storepass "$PASSWORD"
  rm -f "$WORK/ca-$i.pem"
  i=$((i + 1))
done
echo "trust store: $count site certificate(s) added"
"""
"""POSIX sh and the JDK's keytool only (what the Elasticsearch image has); tested against a real
keytool in tests/test_backups.py."""


def client_config(snapshots: Snapshots) -> dict[str, Any]:
    """The default S3 client's settings, for every node's `elasticsearch.yml`."""
    store = snapshots.store
    # Elasticsearch 9 (repository-s3 on the AWS SDK v2, S3ClientSettings): `endpoint` takes the
    # whole https:// URI; `protocol` is deprecated, used only for an endpoint without a scheme.
    return {
        "s3.client.default.endpoint": store.endpoint,
        "s3.client.default.path_style_access": store.path_style,
        "s3.client.default.region": store.region,
    }


def snapshot_requests(snapshots: Snapshots, site: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The repository, then the policy that fills and prunes it."""
    store = snapshots.store
    repository = {
        "type": "s3",
        "settings": {
            "bucket": store.bucket,
            "client": "default",
            "base_path": f"elasticsearch/{site}",
            "compress": True,
        },
    }
    policy = {
        "schedule": snapshots.policy.snapshot_schedule,
        "name": "<platform-{now{yyyy.MM.dd.HH.mm}}>",
        "repository": SNAPSHOT_REPOSITORY,
        "config": {"indices": ["*"], "include_global_state": True},
        "retention": {"expire_after": f"{snapshots.retention_days}d", "min_count": 1, "max_count": 1000},
    }
    return [
        ("PUT", f"/_snapshot/{SNAPSHOT_REPOSITORY}", repository),
        ("PUT", f"/_slm/policy/{SNAPSHOT_POLICY}", policy),
    ]


def node_settings(snapshots: Snapshots | None) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """What every node set gains for snapshots: `config` entries, init containers and JVM options."""
    if snapshots is None:
        return {}, [], []
    if snapshots.trust is None:
        return client_config(snapshots), [], []
    init = {
        "name": "platform-truststore",
        "command": ["/bin/sh", "-c", TRUSTSTORE_SCRIPT],
        "env": [
            {"name": "JDK", "value": JDK},
            {"name": "STORE", "value": TRUSTSTORE},
            {"name": "PASSWORD", "value": TRUSTSTORE_PASSWORD},
            {"name": "BUNDLE", "value": "/platform-trust/ca.crt"},
            {"name": "WORK", "value": TRUSTSTORE_DIR},
        ],
        "volumeMounts": [
            {"name": "platform-truststore", "mountPath": TRUSTSTORE_DIR},
            {"name": "platform-trust", "mountPath": "/platform-trust", "readOnly": True},
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    }
    options = [
        f"-Djavax.net.ssl.trustStore={TRUSTSTORE}",
        f"-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}",
    ]
    return client_config(snapshots), [init], options


def trust_volumes(snapshots: Snapshots | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod volumes and the Elasticsearch container's mounts for the trust store."""
    if snapshots is None or snapshots.trust is None:
        return [], []
    volumes = [
        {"name": "platform-truststore", "emptyDir": {}},
        {"name": "platform-trust", "configMap": {"name": TRUST_BUNDLE}},
    ]
    mounts = [{"name": "platform-truststore", "mountPath": TRUSTSTORE_DIR, "readOnly": True}]
    return volumes, mounts


def credentials(args: LoggingArgs, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """The store's keys as keystore entries (ECK copies them into every node's keystore), and
    the trust bundle when the store's certificate needs it. Created before the cluster."""
    snapshots = args.backups
    if snapshots is None:
        return []
    store = snapshots.store
    made: list[pulumi.Resource] = [
        k8s.core.v1.Secret(
            "logs-s3-credentials",
            metadata=metadata(args.site, CREDENTIALS_SECRET, "logging", namespace=args.namespace.ready),
            type="Opaque",
            string_data={
                "s3.client.default.access_key": store.access_key_id.output(),
                "s3.client.default.secret_key": store.secret_access_key.output(),
            },
            opts=opts,
        )
    ]
    if snapshots.trust is not None:
        made.append(
            distribute_trust(
                args.site, snapshots.trust, namespace=args.namespace, component="logging", opts=opts
            )
        )
    return made


def snapshot_job(args: LoggingArgs, es: ElasticsearchHandle, opts: pulumi.ResourceOptions) -> None:
    snapshots = args.backups
    if snapshots is None:
        return
    api_job(
        args,
        es,
        "logs-snapshots",
        snapshot_requests(snapshots, args.site),
        {
            "national-platform/snapshot-schedule": snapshots.policy.snapshot_schedule,
            "national-platform/snapshot-retention-days": str(snapshots.retention_days),
        },
        opts,
    )
