"""Backups: Elasticsearch snapshots and the identity database's base backups and WAL, per site
(under mocks, for every stack), the trust store script against a real keytool, and the
point-in-time recovery the database runbook relies on, against a real PostgreSQL."""

from __future__ import annotations

import datetime
import glob
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import stack_run
from harness import PLACEHOLDER, ROOT, ProgramRun, run_program, secret_at
from keycloak_server import _as_postgres, free_port
from natplat.layers.identity.database import (
    BACKUP_CREDENTIALS,
    BACKUP_SOURCE,
    OBJECT_STORE,
    PLUGIN,
    PLUGIN_CLUSTER_RULES,
    PLUGIN_RELEASE,
)
from natplat.layers.logs.snapshots import CREDENTIALS_SECRET, TRUSTSTORE_SCRIPT
from natplat.spec.backups import BACKUP_POLICIES, SNAPSHOT_POLICY, SNAPSHOT_REPOSITORY
from natplat.spec.identity import DatabaseRecovery
from natplat.spec.stackfile import SiteConfigError, load_stack_file

STACKS = ["local", "staging", "capital", "north", "coast"]
BACKED_UP = ["staging", "capital", "north", "coast"]


def site_of(stack: str) -> Any:
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml")


@pytest.fixture(params=BACKED_UP)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return stack_run(request.param)


def one(run: ProgramRun, kind: str, name: str) -> Any:
    (found,) = [r for r in run.kubernetes(kind) if r.metadata.get("name") == name]
    return found


def chart(run: ProgramRun, release: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == release]
    return found


# ---------------------------------------------------------------------------- disabled, deliberately


def test_a_site_without_an_object_store_has_no_backup_objects_and_says_so() -> None:
    run = stack_run("local")
    assert run.outputs["backups"] == "disabled"
    kinds = {"ObjectStore", "ScheduledBackup"}
    assert not [r for r in run.resources if r.kind in kinds]
    assert not [r for r in run.kubernetes("Secret") if "s3" in r.metadata["name"]]
    (rule,) = [r.inputs for r in run.kubernetes("PrometheusRule")]
    assert "backups" not in {group["name"] for group in rule["spec"]["groups"]}


# ---------------------------------------------------------------------------- Elasticsearch


def test_elasticsearch_gets_the_store_client_and_its_keys_through_the_keystore(run: ProgramRun) -> None:
    site = site_of(run.stack)
    store = site.backups.object_store
    (es,) = [r.inputs["spec"] for r in run.resources if r.kind == "Elasticsearch"]
    assert es["secureSettings"] == [{"secretName": CREDENTIALS_SECRET}]
    for node_set in es["nodeSets"]:
        config = node_set["config"]
        # Elasticsearch 9's S3ClientSettings: the endpoint as a full https:// URI (its `protocol`
        # setting is deprecated, read only for an endpoint without a scheme).
        assert config["s3.client.default.endpoint"] == store.endpoint.rstrip("/")
        assert config["s3.client.default.endpoint"].startswith("https://")
        assert "s3.client.default.protocol" not in config
        assert config["s3.client.default.path_style_access"] is store.path_style
        assert config["s3.client.default.region"] == store.region
    secret = one(run, "Secret", CREDENTIALS_SECRET)
    assert secret.metadata["namespace"] == "platform-logging"
    for key in ("s3.client.default.access_key", "s3.client.default.secret_key"):
        assert secret_at(secret.raw_inputs, "stringData", key)
        assert secret.inputs["stringData"][key].startswith(
            f"{PLACEHOLDER}national-platform:backups.objectStore."
        )


def test_the_snapshot_job_registers_the_repository_and_a_policy_sized_by_profile(run: ProgramRun) -> None:
    site = site_of(run.stack)
    policy = BACKUP_POLICIES[site.profile]
    (job,) = [r.inputs for r in run.kubernetes("Job") if r.metadata["name"].startswith("logs-snapshots-")]
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    calls = {line.split('"$url')[1].split('"')[0]: line for line in script.splitlines() if "-X PUT" in line}
    repository = json.loads(calls[f"/_snapshot/{SNAPSHOT_REPOSITORY}"].split(" -d '")[1].rstrip("'"))
    assert repository == {
        "type": "s3",
        "settings": {
            "bucket": site.backups.object_store.bucket,
            "client": "default",
            "base_path": f"elasticsearch/{site.name}",
            "compress": True,
        },
    }
    slm = json.loads(calls[f"/_slm/policy/{SNAPSHOT_POLICY}"].split(" -d '")[1].rstrip("'"))
    assert slm["schedule"] == policy.snapshot_schedule
    assert slm["repository"] == SNAPSHOT_REPOSITORY
    # Snapshots never keep logs past the site's own retention rule.
    days = int(slm["retention"]["expire_after"].removesuffix("d"))
    assert days == min(policy.snapshot_retention_days, site.logging.retention_days)
    assert job["metadata"]["annotations"]["national-platform/snapshot-retention-days"] == str(days)


def test_staging_snapshots_are_capped_by_its_seven_day_log_retention() -> None:
    site = site_of("staging")
    assert site.logging.retention_days == 7 and BACKUP_POLICIES[site.profile].snapshot_retention_days == 14
    assert "Elasticsearch every 6 h, kept 7 d" in stack_run("staging").outputs["backups"]


def test_the_exporter_reports_snapshot_ages_and_slm_failures(run: ProgramRun) -> None:
    (exporter,) = [
        r.inputs for r in run.kubernetes("Deployment") if r.metadata["name"] == "elasticsearch-exporter"
    ]
    args = exporter["spec"]["template"]["spec"]["containers"][0]["args"]
    # elasticsearch_exporter v1.9.0: both collectors are off unless named (registerCollector
    # "snapshots" and "slm", defaultDisabled), the flags `--collector.<name>`.
    assert "--collector.snapshots" in args and "--collector.slm" in args


def test_only_elasticsearch_may_reach_the_object_store_and_on_its_port_only(run: ProgramRun) -> None:
    policy = one(run, "NetworkPolicy", "elasticsearch-object-store").inputs["spec"]
    assert policy["podSelector"]["matchLabels"] == {"elasticsearch.k8s.elastic.co/cluster-name": "logs"}
    assert policy["egress"] == [{"ports": [{"protocol": "TCP", "port": 443}]}]


def test_a_store_signed_by_the_sites_ca_gets_a_trust_store_and_a_public_one_does_not(run: ProgramRun) -> None:
    site = site_of(run.stack)
    (es,) = [r.inputs["spec"] for r in run.resources if r.kind == "Elasticsearch"]
    pod = es["nodeSets"][0]["podTemplate"]["spec"]
    inits = [c["name"] for c in pod["initContainers"]]
    java = pod["containers"][0]["env"][0]["value"]
    bundles = [r for r in run.kubernetes("ConfigMap") if r.metadata["name"] == "platform-trust"]
    if site.backups.object_store.trust == "site":
        (init,) = [c for c in pod["initContainers"] if c["name"] == "platform-truststore"]
        # ECK 3.5.0 (pkg/controller/common/defaults/pod_template.go, WithInitContainerDefaults):
        # an init container without an image runs the Elasticsearch image (its JDK and keytool),
        # and the main container's mounts are added only where the init container has none of
        # that name or path (container/defaulter.go, volumeMountExists): its own writable mount of
        # the trust store stays, the main container's is read-only.
        assert "image" not in init
        assert {
            "name": "platform-truststore",
            "mountPath": init["env"][1]["value"].rsplit("/", 1)[0],
        } in init["volumeMounts"]
        (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "platform-truststore"]
        assert mount["readOnly"] is True
        assert "-Djavax.net.ssl.trustStore=" in java
        (bundle,) = bundles
        assert bundle.metadata["namespace"] == "platform-logging"
        text = bundle.inputs["data"]["ca.crt"]
        for trusted in site.certificates.trusted_certificates:
            assert trusted.strip() in text
        if site.certificates.issuer == "ca":
            assert "national-platform:certificates.ca.certificate" in text
    else:
        assert "platform-truststore" not in inits and "trustStore" not in java and not bundles


# ---------------------------------------------------------------------------- the trust store, for real


def _keytool_jdk() -> str:
    for home in sorted(glob.glob("/usr/lib/jvm/*")):
        if Path(home, "bin", "keytool").exists() and Path(home, "lib", "security", "cacerts").exists():
            return home
    pytest.fail("no JDK with keytool and cacerts in /usr/lib/jvm (the test machines have OpenJDK 17)")


def _ca_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def _truststore(tmp_path: Path, bundle: str) -> subprocess.CompletedProcess[str]:
    jdk = Path(_keytool_jdk())
    # The script runs as the Elasticsearch image runs it: POSIX sh (dash here), a JDK beside it.
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "ca.crt").write_text(bundle)
    (tmp_path / "store").mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "JDK": str(jdk),
        "STORE": str(tmp_path / "store" / "cacerts"),
        "PASSWORD": "changeit",
        "BUNDLE": str(tmp_path / "trust" / "ca.crt"),
        "WORK": str(tmp_path / "store"),
    }
    return subprocess.run(
        ["/bin/sh", "-c", TRUSTSTORE_SCRIPT], env=env, capture_output=True, text=True, check=False
    )


def _aliases(store: Path) -> list[str]:
    listing = subprocess.run(
        [
            str(Path(_keytool_jdk(), "bin", "keytool")),
            "-list",
            "-keystore",
            str(store),
            "-storepass",
            "changeit",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.split(",")[0] for line in listing.splitlines() if "trustedCertEntry" in line]


def test_the_trust_store_script_adds_every_site_certificate_to_the_jdks_own(tmp_path: Path) -> None:
    capital = site_of("capital").certificates.trusted_certificates[0]
    # The stack file's PEM (indented block, no final newline) and a second CA, concatenated as
    # the program concatenates the bundle.
    bundle = capital.rstrip("\n") + "\n" + _ca_pem("second site CA")
    result = _truststore(tmp_path, bundle.rstrip("\n"))
    assert result.returncode == 0, result.stderr
    assert "2 site certificate(s) added" in result.stdout
    aliases = _aliases(tmp_path / "store" / "cacerts")
    assert {"platform-trust-1", "platform-trust-2"} <= set(aliases)
    assert len(aliases) > 50, "the JDK's public CAs must stay (a public store would stop verifying)"
    assert not list((tmp_path / "store").glob("ca-*.pem"))


def test_the_trust_store_script_fails_on_a_bundle_without_certificates(tmp_path: Path) -> None:
    result = _truststore(tmp_path, "not a certificate\n")
    assert result.returncode == 1
    assert "no certificate in" in result.stderr


# ---------------------------------------------------------------------------- the identity database


def test_the_barman_cloud_plugin_runs_from_the_sites_registry_with_narrow_rbac(run: ProgramRun) -> None:
    values = chart(run, PLUGIN_RELEASE)
    assert values["namespace"] == "platform-databases"
    site = site_of(run.stack)
    registry = "mirror.north.platform.gov.example/upstream" if site.registry.air_gapped else "ghcr.io"
    for key in ("image", "sidecarImage"):
        image = values["values"][key]
        assert image["registry"] == registry and image["tag"] == "v0.13.0"
    # plugin-barman-cloud 0.7.0, templates/rbac.yaml: with rbac.create the chart's ClusterRole
    # reads every Secret of every namespace. The program's replaces it.
    assert values["values"]["rbac"] == {"create": False}
    cluster_role = one(run, "ClusterRole", PLUGIN_RELEASE).inputs
    assert cluster_role["rules"] == PLUGIN_CLUSTER_RULES
    assert not any("secrets" in rule["resources"] for rule in cluster_role["rules"])
    role = one(run, "Role", f"{PLUGIN_RELEASE}-secrets").inputs
    assert role["metadata"]["namespace"] == "platform-databases"
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [BACKUP_CREDENTIALS],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = one(run, "ClusterRoleBinding", PLUGIN_RELEASE).inputs
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": PLUGIN_RELEASE, "namespace": "platform-databases"}
    ]


def test_the_database_archives_wal_and_takes_daily_base_backups_to_the_store(run: ProgramRun) -> None:
    site = site_of(run.stack)
    store = site.backups.object_store
    policy = BACKUP_POLICIES[site.profile]
    spec = one(run, "ObjectStore", OBJECT_STORE).inputs["spec"]
    configuration = spec["configuration"]
    assert configuration["destinationPath"] == f"s3://{store.bucket}/postgresql/{site.name}"
    assert configuration["endpointURL"] == store.endpoint
    assert configuration["s3Credentials"]["accessKeyId"] == {
        "name": BACKUP_CREDENTIALS,
        "key": "ACCESS_KEY_ID",
    }
    assert spec["retentionPolicy"] == f"{policy.database_retention_days}d"
    assert spec["instanceSidecarConfiguration"]["resources"]["limits"]["memory"]
    if store.trust == "site":
        assert configuration["endpointCA"] == {"name": "platform-trust", "key": "ca.crt"}
        (trust,) = [
            r
            for r in run.kubernetes("Secret")
            if r.metadata["name"] == "platform-trust" and r.metadata["namespace"] == "platform-databases"
        ]
        assert "BEGIN CERTIFICATE" in trust.inputs["stringData"]["ca.crt"] or site.certificates.issuer == "ca"
    else:
        assert "endpointCA" not in configuration
    (cluster,) = [r.inputs["spec"] for r in run.resources if r.kind == "Cluster"]
    assert cluster["plugins"] == [
        {"name": PLUGIN, "isWALArchiver": True, "parameters": {"barmanObjectName": OBJECT_STORE}}
    ]
    scheduled = one(run, "ScheduledBackup", "keycloak-db-daily").inputs["spec"]
    assert scheduled == {
        "schedule": policy.database_schedule,
        "cluster": {"name": "keycloak-db"},
        "method": "plugin",
        "pluginConfiguration": {"name": PLUGIN},
        "backupOwnerReference": "self",
        "immediate": True,
    }
    credentials = one(run, "Secret", BACKUP_CREDENTIALS)
    assert credentials.metadata["namespace"] == "platform-databases"
    assert secret_at(credentials.raw_inputs, "stringData", "ACCESS_SECRET_KEY")
    egress = one(run, "NetworkPolicy", "databases-flows").inputs["spec"]["egress"]
    assert {"ports": [{"protocol": "TCP", "port": 443}]} in egress


def test_the_plan_summary_shows_each_sites_issuer_and_backups(tmp_path: Path) -> None:
    from natplat.review.plan import summary  # noqa: PLC0415

    inventories = [
        {
            "site": stack,
            "profile": "x",
            "kubernetesVersion": "1.35",
            "airGapped": False,
            "objectCount": 0,
            "charts": [],
            "images": [],
            "secrets": 0,
            "objects": {},
            "outputs": stack_run(stack).outputs,
        }
        for stack in ("local", "north")
    ]
    text = summary(inventories)
    disabled = "**disabled** ⚠ no object store: nothing of this site can be restored"
    assert f"| local | generated local CA | {disabled} |" in text
    assert (
        "| north | site CA (stack file) | https://objects.north.platform.gov.example/platform-north-backups:"
        in text
    )


# ---------------------------------------------------------------------------- restore, for real


@pytest.fixture(scope="module")
def recovering(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    """north, restoring its identity database to 03:00 UTC into keycloak-db-r1."""
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.north.yaml").read_text())
    document["config"]["national-platform:identity"]["databaseRecovery"] = {
        "cluster": "keycloak-db-r1",
        "targetTime": "2026-11-28T03:00:00Z",
    }
    project = tmp_path_factory.mktemp("recovery")
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (project / "stacks").mkdir()
    path = project / "stacks" / "Pulumi.north.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    run = run_program(path, project_dir=project)
    assert run.error is None, run.error
    return run


def test_a_recovery_restores_into_a_new_cluster_at_the_target_time_and_keycloak_follows(
    recovering: ProgramRun,
) -> None:
    (cluster,) = [r.inputs for r in recovering.resources if r.kind == "Cluster"]
    assert cluster["metadata"]["name"] == "keycloak-db-r1"
    spec = cluster["spec"]
    assert spec["bootstrap"] == {
        "recovery": {
            "source": BACKUP_SOURCE,
            "recoveryTarget": {"targetTime": "2026-11-28T03:00:00Z"},
            # The backup holds an older password of the owner: the recovery resets it to the Secret's.
            "database": "keycloak",
            "owner": "keycloak",
            "secret": {"name": "keycloak-db-app"},
        }
    }
    (source,) = spec["externalClusters"]
    assert source == {
        "name": BACKUP_SOURCE,
        "plugin": {
            "name": PLUGIN,
            "parameters": {"barmanObjectName": OBJECT_STORE, "serverName": "keycloak-db"},
        },
    }
    # It archives under its own name (the plugin's default serverName is the Cluster's): never
    # into the backups it reads.
    assert "serverName" not in spec["plugins"][0]["parameters"]
    (keycloak,) = [r.inputs["spec"] for r in recovering.resources if r.kind == "Keycloak"]
    assert keycloak["db"]["host"] == "keycloak-db-r1-rw.platform-databases.svc.cluster.local"
    assert one(recovering, "ScheduledBackup", "keycloak-db-r1-daily").inputs["spec"]["cluster"] == {
        "name": "keycloak-db-r1"
    }
    (monitor,) = [
        r.inputs
        for r in recovering.kubernetes("PodMonitor")
        if r.metadata["namespace"] == "platform-databases" and r.metadata["name"] == "keycloak-db"
    ]
    assert monitor["spec"]["selector"]["matchLabels"]["cnpg.io/cluster"] == "keycloak-db-r1"


def test_the_database_cluster_keeps_its_logical_name_so_a_recovery_replaces_it_and_retains_the_old() -> None:
    """The Cluster's Pulumi name never changes: a new metadata.name is a replacement (create the
    new, then drop the old from the program), and retainOnDelete leaves the old one running."""
    import inspect  # noqa: PLC0415

    from natplat.layers.identity import database  # noqa: PLC0415

    source = inspect.getsource(database.KeycloakDatabase.__init__)
    assert '"keycloak-db",\n' in source and "retain_on_delete=True" in source


@pytest.mark.parametrize(
    ("recovery", "key", "words"),
    [
        (
            {"cluster": "keycloak-db", "targetTime": "2026-11-28T03:00:00Z"},
            "cluster",
            "must differ from source",
        ),
        (
            {"cluster": "keycloak-db-r1", "targetTime": "2026-11-28T03:00:00"},
            "targetTime",
            "RFC 3339 time in UTC",
        ),
        (
            {"cluster": "keycloak-db-r1", "targetTime": "2026-11-28T03:00:00+01:00"},
            "targetTime",
            "RFC 3339 time in UTC",
        ),
        ({"cluster": "keycloak-db-r1", "targetTime": "yesterday"}, "targetTime", "RFC 3339 time in UTC"),
    ],
)
def test_a_bad_recovery_is_refused_with_its_key(
    tmp_path: Path, recovery: dict[str, str], key: str, words: str
) -> None:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.north.yaml").read_text())
    document["config"]["national-platform:identity"]["databaseRecovery"] = recovery
    path = tmp_path / "Pulumi.north.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(SiteConfigError) as raised:
        load_stack_file(path)
    assert any(
        f"identity.databaseRecovery.{key}" in line and words in line for line in raised.value.problems
    ), raised.value.problems


def test_a_recovery_needs_an_object_store(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["national-platform:identity"]["databaseRecovery"] = {
        "cluster": "keycloak-db-r1",
        "targetTime": "2026-11-28T03:00:00Z",
    }
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(SiteConfigError) as raised:
        load_stack_file(path)
    assert any(
        "identity.databaseRecovery: needs backups.objectStore" in line for line in raised.value.problems
    )


class Postgres:
    """A real PostgreSQL server (the Debian package's binaries), run as `postgres` on loopback."""

    def __init__(self, folder: Path) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            pytest.fail(
                "PostgreSQL server binaries not found (Debian package postgresql; `make system-deps`)"
            )
        self.bin = Path(binaries[-1]).parent
        self.folder = folder
        self.port = free_port()

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(_as_postgres(list(command)), capture_output=True, text=True, check=True)

    def start(self, data: Path) -> None:
        """Start the server on `data`; a server that does not start fails the test with its log."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = data.parent / f"{data.name}.log"
        command = [
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "start",
        ]
        started = subprocess.run(_as_postgres(command), capture_output=True, text=True, check=False)
        if started.returncode != 0:
            why = log.read_text() if log.exists() else started.stderr
            pytest.fail(f"PostgreSQL did not start on {data.name}:\n{why}")

    def stop(self, data: Path) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
            check=False,
        )

    def sql(self, statement: str) -> str:
        return subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-Atc",
                statement,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    folder = Path(tempfile.mkdtemp(prefix="natplat-pitr-"))
    folder.chmod(0o777)
    server = Postgres(folder)
    try:
        yield server
    finally:
        for data in folder.glob("data-*"):
            if data.is_dir():
                server.stop(data)
        shutil.rmtree(folder, ignore_errors=True)


def test_point_in_time_recovery_brings_back_what_was_committed_before_the_target_and_nothing_after(
    postgres: Postgres,
) -> None:
    """What CloudNativePG does for `bootstrap.recovery` with a `recoveryTarget.targetTime`, done
    by hand on a real PostgreSQL: a base backup, WAL archived continuously, then a new data
    directory restored from both and stopped at the target time."""
    folder = postgres.folder
    archive = folder / "wal"
    archive.mkdir()
    archive.chmod(0o777)
    primary = folder / "data-primary"
    postgres.run(
        str(postgres.bin / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8"
    )
    with (primary / "postgresql.conf").open("a") as conf:
        conf.write(
            "wal_level = replica\narchive_mode = on\n"
            f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n"
        )
    postgres.start(primary)
    postgres.sql("CREATE TABLE realm_events (id int PRIMARY KEY, what text NOT NULL)")
    postgres.sql("INSERT INTO realm_events VALUES (1, 'before the base backup')")
    base = folder / "base"
    postgres.run(
        str(postgres.bin / "pg_basebackup"),
        "-h",
        "127.0.0.1",
        "-p",
        str(postgres.port),
        "-U",
        "postgres",
        "-D",
        str(base),
        "-X",
        "none",
        "--checkpoint=fast",
    )
    postgres.sql("INSERT INTO realm_events VALUES (2, 'after the base backup, before the target')")
    time.sleep(1.1)
    # The target as a stack file gives it (RFC 3339, UTC), and as CloudNativePG hands it to
    # PostgreSQL (recovery_target_time takes PostgreSQL's own timestamp form, not RFC 3339).
    target = postgres.sql("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    DatabaseRecovery.model_validate({"cluster": "keycloak-db-r1", "targetTime": target})
    postgres_target = target.replace("T", " ").replace("Z", "+00")
    time.sleep(1.1)
    postgres.sql("INSERT INTO realm_events VALUES (3, 'after the target: the mistake to undo')")
    # The segment holding the last commit, archived once the server switches to the next one.
    last = postgres.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
    postgres.sql("SELECT pg_switch_wal()")
    archived = "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and postgres.sql(archived) < last:
        time.sleep(0.2)
    assert postgres.sql(archived) >= last, "the WAL was not archived within 30 s"
    postgres.stop(primary)

    restored = folder / "data-restored"
    postgres.run("cp", "-a", str(base), str(restored))
    (restored / "recovery.signal").touch()
    with (restored / "postgresql.conf").open("a") as conf:
        conf.write(
            f"restore_command = 'cp {archive}/%f %p'\n"
            f"recovery_target_time = '{postgres_target}'\n"
            "recovery_target_action = 'promote'\n"
            "archive_mode = off\n"
        )
    postgres.start(restored)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and postgres.sql("SELECT pg_is_in_recovery()") != "f":
        time.sleep(0.5)
    assert postgres.sql("SELECT pg_is_in_recovery()") == "f", "recovery did not end at the target"
    assert postgres.sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM realm_events") == "1,2"
