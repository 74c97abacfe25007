"""The site model rejects every kind of bad stack file with one line naming the file and key."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import PROGRAM_DIR, ROOT, STACK_FILES, STACKS, run_program
from natplat.spec.model import PROJECT, Sizing
from natplat.spec.profiles import PROFILES, deep_merge
from natplat.spec.quantities import byte_count, cpu_millicores
from natplat.spec.sensitive import SecretValue
from natplat.spec.stackfile import SiteConfigError, load_stack_file

NS = PROJECT


def stack_document(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())


def write(tmp_path: Path, stack: str, document: dict[str, Any] | str) -> Path:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


def section(document: dict[str, Any], key: str) -> Any:
    return document["config"][f"{NS}:{key}"]


def _pem_keys() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    private = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    short = (
        rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weak key the model must refuse
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private.decode(), short.decode()


PRIVATE_KEY_PEM, SHORT_PUBLIC_KEY_PEM = _pem_keys()
OIDC_PROVIDER = {
    "alias": "agents",
    "displayName": "Agents' directory",
    "issuer": "https://login.agents.gov.example/realms/agents",
    "authorizationUrl": "https://login.agents.gov.example/realms/agents/protocol/openid-connect/auth",
    "tokenUrl": "https://login.agents.gov.example/realms/agents/protocol/openid-connect/token",
    "jwksUrl": "https://login.agents.gov.example/realms/agents/protocol/openid-connect/certs",
    "clientId": "national-platform",
}
LDAP_DIRECTORY = {
    "connectionUrl": "ldaps://directory.gov.example",
    "vendor": "ad",
    "bindDn": "CN=platform,OU=Services,DC=gov,DC=example",
    "usersDn": "OU=People,DC=gov,DC=example",
}


def _set(key: str, path: list[str | int], value: Any) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        target = section(document, key)
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _delete(key: str, path: list[str | int]) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        if not path:
            del document["config"][f"{NS}:{key}"]
            return
        target = section(document, key)
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return mutate


def _rename(key: str, path: list[str | int], new: str) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        if not path:  # rename the top-level key itself
            document["config"][new] = document["config"].pop(f"{NS}:{key}")
            return
        parent = section(document, key)
        for part in path[:-1]:
            parent = parent[part]
        parent[new] = parent.pop(path[-1])

    return mutate


def _top(key: str, value: Any) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        document["config"][key] = value

    return mutate


def _drop_file_key(key: str) -> Callable[[dict], None]:
    return lambda document: document.pop(key)


SECRET = {"secure": "v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA"}

# (case id, stack to start from, mutation, expected key, expected words in the message)
BAD_CASES: list[tuple[str, str, Callable[[dict], None], str, str]] = [
    (
        "typo-top-level-key",
        "capital",
        _rename("gateway", [], f"{NS}:gatway"),
        "gatway",
        "did you mean 'gateway'",
    ),
    (
        "typo-nested-key",
        "north",
        _rename("gateway", ["rateLimit"], "rateLimt"),
        "gateway.rateLimt",
        "did you mean 'rateLimit'",
    ),
    (
        "typo-in-list-item",
        "capital",
        _rename("identity", ["clients", 0, "scopes"], "scope"),
        "identity.clients[0].scope",
        "did you mean 'scopes'",
    ),
    (
        "bool-as-string",
        "north",
        _set("cluster", ["loadBalancer"], "no"),
        "cluster.loadBalancer",
        "must be a valid boolean",
    ),
    (
        "int-as-string",
        "coast",
        _top(f"{NS}:sizing", {"gateway": {"replicas": "3"}}),
        "sizing.gateway.replicas",
        "must be a valid integer",
    ),
    (
        "list-as-string",
        "capital",
        _set("gateway", ["corsOrigins"], "https://a.gov.example"),
        "gateway.corsOrigins",
        "must be a list",
    ),
    ("missing-required-value", "capital", _delete("site", ["domain"]), "site.domain", "is required"),
    ("missing-required-section", "capital", _delete("cluster", []), f"{NS}:cluster", "is required"),
    (
        "number-below-range",
        "north",
        _set("gateway", ["rateLimit", "perMinute"], 0),
        "gateway.rateLimit.perMinute",
        "greater than or equal to 1",
    ),
    (
        "node-port-out-of-range",
        "north",
        _set("gateway", ["nodePorts", "http"], 8080),
        "gateway.nodePorts.http",
        "greater than or equal to 30000",
    ),
    (
        "retention-above-range",
        "capital",
        _set("logging", ["retentionDays"], 99999),
        "logging.retentionDays",
        "less than or equal to 3650",
    ),
    (
        "bad-profile",
        "north",
        _set("site", ["profile"], "huge"),
        "site.profile",
        "'small', 'medium' or 'large'",
    ),
    (
        "profile-as-mapping",
        "coast",
        _set("site", ["profile"], {"size": "small"}),
        "site.profile",
        "'small', 'medium' or 'large' (got a mapping)",
    ),
    (
        "bad-cache-engine",
        "capital",
        _set("cache", ["engine"], "memcached"),
        "cache.engine",
        "must be 'valkey'",
    ),
    (
        "kubernetes-version-as-number",
        "capital",
        _set("site", ["kubernetesVersion"], 1.35),
        "site.kubernetesVersion",
        "write it in quotes",
    ),
    (
        "unsupported-kubernetes-version",
        "capital",
        _set("site", ["kubernetesVersion"], "1.29"),
        "site.kubernetesVersion",
        "'1.34', '1.35' or '1.36'",
    ),
    (
        "plaintext-kubeconfig",
        "capital",
        _set("cluster", ["kubeconfig"], "apiVersion: v1"),
        "cluster.kubeconfig",
        "must be a secret, but is written in plain text",
    ),
    (
        "plaintext-secret-in-list",
        "capital",
        _set("identity", ["federation"], {"oidc": [{**OIDC_PROVIDER, "clientSecret": "plain-text"}]}),
        "identity.federation.oidc[0].clientSecret",
        "must be a secret",
    ),
    (
        "plaintext-ca-key",
        "north",
        _set("certificates", ["ca", "key"], "-----BEGIN PRIVATE KEY-----"),
        "certificates.ca.key",
        "must be a secret",
    ),
    (
        "plaintext-provided-tls-key",
        "coast",
        lambda document: (
            _top(f"{NS}:certificates", {"issuer": "provided"})(document),
            _set("gateway", ["tls"], {"certificate": SECRET, "key": "-----BEGIN PRIVATE KEY-----"})(document),
        ),
        "gateway.tls.key",
        "must be a secret",
    ),
    (
        "secure-where-plain-expected",
        "capital",
        _set("site", ["region"], SECRET),
        "site.region",
        "is a secure: value, but this key is not a secret",
    ),
    (
        "malformed-ciphertext",
        "capital",
        _set("cluster", ["kubeconfig"], {"secure": "hunter2"}),
        "cluster.kubeconfig",
        "is not a Pulumi ciphertext",
    ),
    (
        "site-name-differs-from-file",
        "coast",
        _set("site", ["name"], "coastal"),
        "site.name",
        "must equal the stack name 'coast'",
    ),
    (
        "air-gapped-without-mirror",
        "north",
        _delete("registry", ["imageMirror"]),
        "registry.imageMirror",
        "required on an air-gapped site",
    ),
    (
        "air-gapped-service-without-digest",
        "north",
        _delete("services", [0, "imageDigest"]),
        "services[0].imageDigest",
        "pulled by digest",
    ),
    (
        "mirror-on-online-site",
        "capital",
        _set("registry", ["chartMirror"], "oci://mirror.gov.example/charts"),
        "registry.chartMirror",
        "only used on air-gapped sites",
    ),
    (
        "no-load-balancer-no-node-ports",
        "north",
        _delete("gateway", ["nodePorts"]),
        "gateway.nodePorts",
        "exposed by NodePort",
    ),
    (
        "provided-certificate-without-tls",
        "capital",
        _top(f"{NS}:certificates", {"issuer": "provided"}),
        "gateway.tls",
        "is required with certificates.issuer: provided",
    ),
    ("site-without-certificates", "coast", _delete("certificates", []), "certificates", "is required"),
    (
        "self-signed-on-a-real-cluster",
        "coast",
        _top(f"{NS}:certificates", {"issuer": "selfSigned"}),
        "certificates.issuer",
        "must be selfSigned on a kind cluster, and only there",
    ),
    (
        "lets-encrypt-behind-the-air-gap",
        "north",
        _top(
            f"{NS}:certificates",
            {"issuer": "acme", "acme": {"server": "production", "email": "pki@platform.gov.example"}},
        ),
        "certificates.acme.server",
        "an air-gapped site cannot reach",
    ),
    (
        "acme-plain-http-directory",
        "staging",
        _set("certificates", ["acme", "server"], "http://acme.staging.gov.example/directory"),
        "certificates.acme.server",
        "https:// URL of an ACME directory",
    ),
    (
        "dns01-without-provider",
        "staging",
        _set("certificates", ["acme", "solver"], "dns01"),
        "certificates.acme.dns01",
        "is required with solver: dns01",
    ),
    (
        "dns01-two-providers",
        "capital",
        _set(
            "certificates",
            ["acme", "dns01", "route53"],
            {"region": "eu-west-3", "hostedZoneId": "Z123", "accessKeyId": SECRET, "secretAccessKey": SECRET},
        ),
        "certificates.acme.dns01.rfc2136",
        "exactly one DNS provider",
    ),
    (
        "ca-issuer-without-ca",
        "north",
        _delete("certificates", ["ca"]),
        "certificates.ca",
        "is required with issuer: ca",
    ),
    (
        "trusted-certificate-is-a-key",
        "capital",
        _set("certificates", ["trustedCertificates", 0], PRIVATE_KEY_PEM),
        "certificates.trustedCertificates[0]",
        "holds a private key",
    ),
    ("site-without-backups", "capital", _delete("backups", []), "backups", "enabled: false"),
    (
        "backups-enabled-without-store",
        "coast",
        _delete("backups", ["objectStore"]),
        "backups.objectStore",
        "is required when backups are enabled",
    ),
    (
        "backups-over-plain-http",
        "staging",
        _set("backups", ["objectStore", "endpoint"], "http://objects.staging.platform.gov.example"),
        "backups.objectStore.endpoint",
        "in clear",
    ),
    (
        "plaintext-object-store-key",
        "coast",
        _set("backups", ["objectStore", "secretAccessKey"], "wJalrXUtnFEMI/K7MDENG"),
        "backups.objectStore.secretAccessKey",
        "must be a secret",
    ),
    (
        "object-store-trusting-nothing",
        "staging",
        _set("backups", ["objectStore", "trust"], "site"),
        "backups.objectStore.trust",
        "trusts no CA of its own",
    ),
    (
        "virtual-hosted-in-house-store",
        "staging",
        _set("backups", ["objectStore", "pathStyle"], False),
        "backups.objectStore.pathStyle",
        "always address a store outside amazonaws.com path-style",
    ),
    (
        "bucket-name-typo",
        "coast",
        _set("backups", ["objectStore", "bucket"], "Platform_Coast"),
        "backups.objectStore.bucket",
        "must match the pattern",
    ),
    (
        "existing-cluster-without-kubeconfig",
        "coast",
        _delete("cluster", ["kubeconfig"]),
        "cluster.kubeconfig",
        "required for an existing cluster",
    ),
    (
        "kind-with-load-balancer",
        "local",
        _set("cluster", ["loadBalancer"], True),
        "cluster.loadBalancer",
        "kind has no LoadBalancer",
    ),
    (
        "foreign-namespace-key",
        "capital",
        _top("kubernetes:context", "prod"),
        "kubernetes:context",
        f"reads only {NS}:* keys",
    ),
    (
        "memory-limit-below-request",
        "coast",
        _top(f"{NS}:sizing", {"redis": {"resources": {"memoryLimit": "64Mi"}}}),
        "sizing.redis.resources.memoryLimit",
        "at least the memory request",
    ),
    (
        "bad-quantity",
        "coast",
        _top(f"{NS}:sizing", {"prometheus": {"storage": "20GB"}}),
        "sizing.prometheus.storage",
        "binary units",
    ),
    (
        "even-elasticsearch-without-masters",
        "north",
        _top(f"{NS}:sizing", {"elasticsearch": {"dataNodes": 4}}),
        "sizing.elasticsearch.dataNodes",
        "must be odd",
    ),
    (
        "signing-key-generation-twice",
        "capital",
        _set("identity", ["signingKeys"], ["primary", "primary"]),
        "identity.signingKeys",
        "same key generation twice",
    ),
    (
        "three-signing-key-generations",
        "capital",
        _set("identity", ["signingKeys"], ["a", "b", "c"]),
        "identity.signingKeys",
        "at most 2",
    ),
    (
        "retired-auth-section",
        "coast",
        _top(f"{NS}:auth", {"clients": []}),
        "auth",
        "replaced by Keycloak",
    ),
    (
        "private-key-as-client-key",
        "capital",
        _set("identity", ["clients", 0, "publicKey"], PRIVATE_KEY_PEM),
        "identity.clients[0].publicKey",
        "is a private key",
    ),
    (
        "short-client-key",
        "capital",
        _set("identity", ["clients", 0, "publicKey"], SHORT_PUBLIC_KEY_PEM),
        "identity.clients[0].publicKey",
        "at least 2048 bits",
    ),
    (
        "client-key-not-pem",
        "capital",
        _set("identity", ["clients", 0, "publicKey"], "ssh-rsa AAAAB3NzaC1yc2E"),
        "identity.clients[0].publicKey",
        "is not a PEM public key",
    ),
    (
        "admin-role-undeclared",
        "capital",
        _set("identity", ["adminRoles"], ["root"]),
        "identity.adminRoles[0]",
        "names 'root', which is not one of identity.roles",
    ),
    (
        "client-role-undeclared",
        "capital",
        _set("identity", ["clients", 0, "roles"], ["auditor"]),
        "identity.clients[0].roles[0]",
        "names 'auditor'",
    ),
    (
        "keycloak-client-id",
        "capital",
        _set("identity", ["applications", 0, "id"], "admin-cli"),
        "identity.applications[0].id",
        "a client Keycloak creates in every realm",
    ),
    (
        "client-and-application-share-an-id",
        "capital",
        _set("identity", ["applications", 0, "id"], "registry-sync"),
        "identity.applications[0].id",
        "'registry-sync' is already clients[0].id",
    ),
    (
        "wildcard-redirect",
        "capital",
        _set("identity", ["applications", 0, "redirectUris"], ["https://portal.platform.gov.example/*"]),
        "identity.applications[0].redirectUris[0]",
        "without wildcard",
    ),
    (
        "plain-http-redirect",
        "capital",
        _set("identity", ["applications", 0, "redirectUris"], ["http://portal.platform.gov.example/cb"]),
        "identity.applications[0].redirectUris[0]",
        "must be an exact https:// URL",
    ),
    (
        "ldap-without-tls",
        "capital",
        _set(
            "identity",
            ["federation"],
            {"ldap": {**LDAP_DIRECTORY, "connectionUrl": "ldap://directory.gov.example"}},
        ),
        "identity.federation.ldap.connectionUrl",
        "must match the pattern",
    ),
    (
        "database-two-instances",
        "capital",
        _top(f"{NS}:sizing", {"keycloakDatabase": {"replicas": 2}}),
        "sizing.keycloakDatabase.replicas",
        "a single standby",
    ),
    (
        "air-gapped-without-manifest-mirror",
        "north",
        _delete("registry", ["manifestMirror"]),
        "registry.manifestMirror",
        "is required on an air-gapped site with the identity layer",
    ),
    (
        "grafana-two-replicas",
        "capital",
        _top(f"{NS}:sizing", {"grafana": {"replicas": 2}}),
        "sizing.grafana.replicas",
        "shared database",
    ),
    (
        "redis-two-replicas",
        "staging",
        _top(f"{NS}:sizing", {"redis": {"replicas": 2}}),
        "sizing.redis.replicas",
        "Sentinel quorum",
    ),
    (
        "unknown-caller",
        "capital",
        _set("services", [0, "callers"], ["billing"]),
        "services[0].callers",
        "'billing', which is not a listed service",
    ),
    (
        "misspelt-client-scope",
        "capital",
        _set("identity", ["clients", 0, "scopes", 1], "offices.wirte"),
        "identity.clients[0].scopes[1]",
        "names 'offices.wirte', which no service declares (services' scopes: offices.read, offices.write)",
    ),
    (
        "application-scope-of-no-service",
        "staging",
        _set("identity", ["applications", 0, "scopes", 0], "billing.read"),
        "identity.applications[0].scopes[0]",
        "names 'billing.read', which no service declares",
    ),
    (
        "scope-declared-by-two-services",
        "capital",
        _top(
            f"{NS}:services",
            [
                {"name": "offices", "routes": ["/v1/offices"], "cache": True},
                {"name": "registry", "routes": ["/v1/registry"], "scopes": ["offices.read"]},
            ],
        ),
        "services[1].scopes[0]",
        "'offices.read' is already services[0].name: a scope is one service's",
    ),
    (
        "scope-not-a-scope",
        "coast",
        _set("services", [0, "scopes"], ["Offices Read"]),
        "services[0].scopes[0]",
        "must match the pattern",
    ),
    (
        "cors-origin-with-path",
        "capital",
        _set("gateway", ["corsOrigins", 0], "https://portal.gov.example/app"),
        "gateway.corsOrigins[0]",
        "no path",
    ),
    (
        "bad-cidr",
        "staging",
        _set("gateway", ["loadBalancerSourceRanges", 0], "10.20.0.1/16"),
        "gateway.loadBalancerSourceRanges[0]",
        "CIDR",
    ),
    (
        "secrets-without-provider",
        "capital",
        _drop_file_key("encryptionsalt"),
        "capital.yaml",
        "no encryptionsalt for its passphrase secrets provider",
    ),
]


def refusal(tmp_path: Path, stack: str, mutate: Callable[[dict], None]) -> tuple[Path, list[str]]:
    """The problems `load_stack_file` reports for `stack` changed by `mutate` (it must refuse it)."""
    document = copy.deepcopy(stack_document(stack))
    mutate(document)
    path = write(tmp_path, stack, document)
    with pytest.raises(SiteConfigError) as raised:
        load_stack_file(path)
    return path, raised.value.problems


@pytest.mark.parametrize(
    ("stack", "mutate", "key", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CASES],
)
def test_bad_stack_file_is_rejected_with_the_key_named(
    tmp_path: Path, stack: str, mutate: Callable[[dict], None], key: str, words: str
) -> None:
    path, problems = refusal(tmp_path, stack, mutate)
    matching = [line for line in problems if key in line and words in line]
    assert matching, f"no line names {key!r} with {words!r}: {problems}"
    assert all(line.startswith(f"{path}: ") for line in problems)
    assert all("\n" not in line for line in problems)


def test_there_are_at_least_twenty_bad_config_cases() -> None:
    assert len({case[0] for case in BAD_CASES}) >= 20


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("config:\n  national-platform:site: {}\n  national-platform:site: {}\n", "written twice"),
        ("config:\n  national-platform:site: [unclosed\n", "is not valid YAML (line"),
        ("- just\n- a list\n", "must be a mapping"),
        ("config:\n  site: {}\n", f"config keys are written {NS}:<key>"),
        ("configs: {}\n", "unknown top-level key"),
    ],
    ids=["duplicate-key", "invalid-yaml", "not-a-mapping", "key-without-namespace", "unknown-file-key"],
)
def test_malformed_files_are_rejected(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, "coast", text)
    with pytest.raises(SiteConfigError) as raised:
        load_stack_file(path)
    assert any(words in line for line in raised.value.problems), raised.value.problems


def test_file_name_must_name_the_stack(tmp_path: Path) -> None:
    path = tmp_path / "coast.yaml"
    path.write_text((ROOT / "stacks" / "Pulumi.coast.yaml").read_text())
    with pytest.raises(SiteConfigError) as raised:
        load_stack_file(path)
    assert any("Pulumi.<site>.yaml" in line for line in raised.value.problems)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    document = stack_document("north")
    _set("site", ["profile"], "huge")(document)
    _set("cluster", ["loadBalancer"], "no")(document)
    _rename("gateway", ["corsOrigins"], "corsOrigin")(document)
    with pytest.raises(SiteConfigError) as raised:
        load_stack_file(write(tmp_path, "north", document))
    assert len(raised.value.problems) == 3, raised.value.problems


def _validate_cli(*files: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "natplat.review.validate", *map(str, files)],
        cwd=ROOT,
        env={"PYTHONPATH": str(PROGRAM_DIR), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_validate_command_accepts_every_stack_file() -> None:
    result = _validate_cli(*STACK_FILES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": valid: ") == len(STACK_FILES) >= 5
    # A site without backups says so where an operator checks the file.
    assert "Pulumi.local.yaml: valid:" in result.stdout and "backups: DISABLED" in result.stdout


def test_validate_command_rejects_a_broken_file_without_a_traceback(tmp_path: Path) -> None:
    document = stack_document("capital")
    _set("cluster", ["kubeconfig"], "apiVersion: v1")(document)
    path = write(tmp_path, "capital", document)
    result = _validate_cli(path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{path}: {NS}:cluster.kubeconfig: must be a secret, but is written in plain text: remove it "
        f"from the file and set it with `pulumi config set --secret --path '{NS}:cluster.kubeconfig'`"
    ]
    assert "Traceback" not in result.stderr


def test_program_creates_nothing_when_the_stack_file_is_broken(tmp_path: Path) -> None:
    """Nothing is half-applied: the broken file stops the program before its first resource."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    document = stack_document("coast")
    _set("gateway", ["rateLimit", "perMinute"], 0)(document)
    stack_file = write(tmp_path / "stacks", "coast", document)
    run = run_program(stack_file, project_dir=tmp_path)
    assert run.error is not None and type(run.error).__name__ == "RunError"
    assert f"stacks/Pulumi.coast.yaml: {NS}:gateway.rateLimit.perMinute" in str(run.error)
    assert run.resources == []


def test_program_runs_when_the_stack_file_is_valid_in_the_same_temporary_project(tmp_path: Path) -> None:
    """The counterpart of the test above: the same set-up with a valid file does create resources,
    so the empty list there comes from the validation, not from the set-up."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    stack_file = write(tmp_path / "stacks", "coast", stack_document("coast"))
    run = run_program(stack_file, project_dir=tmp_path)
    assert run.error is None
    assert len(run.resources) > 10


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_is_a_valid_sizing(profile: str) -> None:
    Sizing.model_validate(PROFILES[profile])


def test_profiles_grow_from_small_to_large() -> None:
    sizes = [Sizing.model_validate(PROFILES[p]) for p in ("small", "medium", "large")]
    for smaller, larger in itertools.pairwise(sizes):
        assert larger.gateway.replicas > smaller.gateway.replicas
        assert larger.services.max_replicas > smaller.services.max_replicas
        assert byte_count(larger.prometheus.storage) > byte_count(smaller.prometheus.storage)


def test_overrides_change_single_values_and_keep_the_rest() -> None:
    merged = deep_merge(PROFILES["small"], {"elasticsearch": {"storage": "60Gi"}})
    assert merged["elasticsearch"]["storage"] == "60Gi"
    assert merged["elasticsearch"]["dataNodes"] == PROFILES["small"]["elasticsearch"]["dataNodes"]
    assert PROFILES["small"]["elasticsearch"]["storage"] == "20Gi"  # the profile is not mutated


def test_site_overrides_reach_the_model() -> None:
    site = load_stack_file(ROOT / "stacks" / "Pulumi.coast.yaml")
    assert site.sizing.elasticsearch.storage == "60Gi"
    assert site.sizing.namespace_quotas.logging.requests_storage == "120Gi"
    assert site.sizing.gateway.replicas == PROFILES["small"]["gateway"]["replicas"]


def test_quantities_parse() -> None:
    assert cpu_millicores("250m") == 250 and cpu_millicores("2") == 2000 and cpu_millicores("0.5") == 500
    assert byte_count("512Mi") == 512 * 2**20 and byte_count("2Gi") == 2 * 2**30
    with pytest.raises(ValueError):
        byte_count("2GB")


def test_secret_values_never_print_their_value() -> None:
    secret = SecretValue("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "hunter2" not in f"{secret}"


def test_offline_secrets_cannot_be_used() -> None:
    site = load_stack_file(ROOT / "stacks" / "Pulumi.capital.yaml")
    assert site.cluster.kubeconfig is not None and not site.cluster.kubeconfig.decrypted
    with pytest.raises(RuntimeError):
        site.cluster.kubeconfig.output()


def test_every_stack_is_tested() -> None:
    assert {"local", "staging"} <= set(STACKS) and len(STACKS) >= 5
