"""`national-platform:backups`: where the site's data is copied to, and how often.

Every stack file says it, one way or the other: an S3-compatible object store (an in-datacentre
one on air-gapped sites), or `enabled: false`, a deliberate choice the plan summary warns about.
What is backed up, how often and for how long follows the site's profile (`BACKUP_POLICIES`):
- Elasticsearch: snapshots by a snapshot lifecycle policy into the repository `platform`;
- the identity database: CloudNativePG base backups on a schedule, and its WAL archived
  continuously (point-in-time recovery), through the Barman Cloud plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from natplat.spec.sensitive import SecretValue
from natplat.spec.settings import Settings, problem


@dataclass(frozen=True)
class BackupPolicy:
    """How often each store is backed up and how long backups are kept, for one profile."""

    snapshot_every_hours: int
    snapshot_schedule: str
    """Elasticsearch SLM schedule (cron with seconds, in UTC)."""
    snapshot_retention_days: int
    snapshot_alert_hours: int
    """No successful snapshot for this long pages (one missed run, and some slack)."""
    database_schedule: str
    """CloudNativePG ScheduledBackup (cron with seconds, in UTC): one base backup a day."""
    database_retention_days: int
    database_alert_hours: int


BACKUP_POLICIES: dict[str, BackupPolicy] = {
    "small": BackupPolicy(24, "0 30 1 * * ?", 7, 26, "0 0 2 * * *", 7, 26),
    "medium": BackupPolicy(6, "0 30 */6 * * ?", 14, 13, "0 0 2 * * *", 14, 26),
    "large": BackupPolicy(1, "0 30 * * * ?", 30, 3, "0 0 2 * * *", 30, 26),
}

SNAPSHOT_REPOSITORY = "platform"
"""The Elasticsearch snapshot repository every site registers (the alerts name it)."""
SNAPSHOT_POLICY = "platform-snapshots"
"""The Elasticsearch snapshot lifecycle policy that fills and prunes it."""


def _check_endpoint(value: str) -> str:
    rest = value.removeprefix("https://")
    if not value.startswith("https://") or not rest or "/" in rest or " " in rest:
        raise ValueError(
            "must be the store's https:// endpoint without a path, e.g. https://s3.example.gov "
            "(plain http would send the store's credentials and the backups in clear)"
        )
    return value


Endpoint = Annotated[str, AfterValidator(_check_endpoint)]
Bucket = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class ObjectStore(Settings):
    """An S3-compatible object store (AWS S3, MinIO, Ceph RGW, …)."""

    endpoint: Endpoint
    bucket: Bucket
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]{2,32}$")] = "us-east-1"
    path_style: bool = True
    """Path-style addressing (https://endpoint/bucket): what in-datacentre stores serve."""
    access_key_id: SecretValue
    secret_access_key: SecretValue
    trust: Literal["public", "site"] = "public"
    """Whether the endpoint's certificate chains to a public CA, or to the site's own trust
    (`certificates.trustedCertificates` or the site CA)."""

    @property
    def on_aws(self) -> bool:
        """Whether the store is AWS S3 itself (botocore addresses it virtual-hosted, any other
        endpoint path-style)."""
        host = urlsplit(self.endpoint).hostname or ""
        return host == "amazonaws.com" or host.endswith(".amazonaws.com")

    @property
    def port(self) -> int:
        """The endpoint's port, which the backups' network policies open."""
        return urlsplit(self.endpoint).port or 443


class BackupsSection(Settings):
    """`national-platform:backups`."""

    enabled: bool
    object_store: ObjectStore | None = None

    @model_validator(mode="after")
    def _store(self) -> BackupsSection:
        if self.enabled and self.object_store is None:
            raise problem("objectStore", "is required when backups are enabled")
        if not self.enabled and self.object_store is not None:
            raise problem("objectStore", "is only used when backups are enabled (enabled: true)")
        return self
