"""Certificates: cert-manager, each site's issuer, a certificate per public host in the namespace
of its Ingress, and the provided-certificate mode (under mocks, for every stack)."""

from __future__ import annotations

import copy
import datetime
from typing import Any
from unittest import mock

import pulumi
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import stack_run
from harness import PLACEHOLDER, ROOT, ProgramRun, run_program, secret_at
from natplat.layers.certificates import (
    CA_SECRET,
    DNS_SECRET,
    SITE_ISSUER,
    SOLVER_LABELS,
    SOLVER_PORT,
    HostCertificate,
)
from natplat.layers.gateway.routes import IngressTls
from natplat.spec.catalog import CERT_MANAGER_CHART
from natplat.spec.certificates import LETS_ENCRYPT, SiteCa, ca_problem
from natplat.spec.sensitive import SecretValue
from natplat.spec.stackfile import load_stack_file

STACKS = ["local", "staging", "capital", "north", "coast"]


@pytest.fixture(params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return stack_run(request.param)


def site_of(run: ProgramRun) -> Any:
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def issuer(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.kubernetes("ClusterIssuer")]
    return found


def chart_values(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "cert-manager"]
    return found


def public_hosts(run: ProgramRun) -> dict[str, str]:
    """host → namespace of every Ingress rule."""
    return {
        rule["host"]: r.metadata["namespace"]
        for r in run.kubernetes("Ingress")
        for rule in r.inputs["spec"]["rules"]
    }


# ---------------------------------------------------------------------------- cert-manager


def test_cert_manager_is_pinned_with_its_crds_and_hardened(run: ProgramRun) -> None:
    chart = chart_values(run)
    assert (chart["chart"], chart["version"]) in (
        ("cert-manager", "v1.21.1"),
        ("oci://mirror.north.platform.gov.example/charts/cert-manager", "v1.21.1"),
    )
    assert CERT_MANAGER_CHART.version == "v1.21.1"
    assert chart["namespace"] == "platform-certificates"
    values = chart["values"]
    assert values["crds"] == {"enabled": True, "keep": True}
    # cert-manager v1.21.1 values.yaml: global.leaderElection.namespace defaults to kube-system,
    # where its leader-election Role would land.
    assert values["global"]["leaderElection"]["namespace"] == "platform-certificates"
    # templates/startupapicheck-job.yaml is a post-install hook Job: helm.v4.Chart runs no hooks.
    assert values["startupapicheck"]["enabled"] is False
    for part in (values, values["webhook"], values["cainjector"]):
        assert part["containerSecurityContext"]["readOnlyRootFilesystem"] is True
        assert part["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert "cpu" not in part["resources"]["limits"] and part["resources"]["limits"]["memory"]
    replicas = {
        values["replicaCount"],
        values["webhook"]["replicaCount"],
        values["cainjector"]["replicaCount"],
    }
    assert replicas == ({1} if site_of(run).profile == "small" else {2})


def test_air_gapped_cert_manager_pulls_every_image_and_the_solver_from_the_mirror() -> None:
    values = chart_values(stack_run("north"))["values"]
    for part in (values, values["webhook"], values["cainjector"], values["acmesolver"]):
        assert part["image"]["repository"].startswith(
            "mirror.north.platform.gov.example/upstream/quay.io/jetstack/"
        )
        assert part["image"]["tag"] == "v1.21.1"


def test_cert_manager_metrics_are_scraped_from_the_controller_service() -> None:
    run = stack_run("coast")
    (monitor,) = [r.inputs for r in run.kubernetes("ServiceMonitor") if r.metadata["name"] == "cert-manager"]
    # cert-manager v1.21.1 templates/service.yaml: the controller's metrics Service carries
    # app.kubernetes.io/instance=<release> and component=controller, port name http-metrics.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "cert-manager",
        "app.kubernetes.io/component": "controller",
    }
    assert monitor["spec"]["endpoints"][0]["port"] == "http-metrics"
    assert chart_values(run)["values"]["prometheus"] == {
        "enabled": True,
        "servicemonitor": {"enabled": False},
    }


# ---------------------------------------------------------------------------- issuers


def test_each_site_has_the_issuer_its_stack_file_names(run: ProgramRun) -> None:
    spec = issuer(run)["spec"]
    assert issuer(run)["metadata"]["name"] == SITE_ISSUER
    site = site_of(run)
    kind = site.certificates.issuer
    if kind == "acme":
        acme = spec["acme"]
        assert acme["server"] == LETS_ENCRYPT[site.certificates.acme.server]
        assert acme["privateKeySecretRef"] == {"name": "platform-acme-account"}
        assert acme["email"] == "pki@platform.gov.example"
    else:
        assert spec == {"ca": {"secretName": CA_SECRET}}


def test_http01_solves_through_kong_with_the_solver_pods_reachable_from_kong_only() -> None:
    run = stack_run("coast")
    (solver,) = issuer(run)["spec"]["acme"]["solvers"]
    assert solver["http01"]["ingress"]["ingressClassName"] == "kong"
    assert solver["http01"]["ingress"]["podTemplate"]["spec"]["priorityClassName"]
    policies = [r for r in run.kubernetes("NetworkPolicy") if r.metadata["name"] == "acme-http01-solver"]
    # One per namespace where a host's certificate is issued.
    assert {p.metadata["namespace"] for p in policies} == set(public_hosts(run).values())
    for policy in policies:
        spec = policy.inputs["spec"]
        assert spec["podSelector"]["matchLabels"] == SOLVER_LABELS
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": SOLVER_PORT}]
        assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "platform-gateway"
        }


def test_dns01_uses_the_sites_name_server_with_its_tsig_key_secret() -> None:
    run = stack_run("capital")
    (solver,) = issuer(run)["spec"]["acme"]["solvers"]
    assert solver["dns01"]["rfc2136"] == {
        "nameserver": "10.10.0.53:53",
        "tsigKeyName": "acme-capital",
        "tsigAlgorithm": "HMACSHA512",
        "tsigSecretSecretRef": {"name": DNS_SECRET, "key": "tsig-secret"},
    }
    (secret,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == DNS_SECRET]
    assert secret.metadata["namespace"] == "platform-certificates"
    assert secret_at(secret.raw_inputs, "stringData", "tsig-secret")
    assert not [r for r in run.kubernetes("NetworkPolicy") if r.metadata["name"] == "acme-http01-solver"]


def test_the_site_ca_reaches_cert_manager_only_as_a_secret() -> None:
    run = stack_run("north")
    (secret,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == CA_SECRET]
    assert secret.metadata["namespace"] == "platform-certificates"
    assert secret.inputs["type"] == "kubernetes.io/tls"
    assert secret_at(secret.raw_inputs, "stringData", "tls.key")
    assert f"{PLACEHOLDER}national-platform:certificates.ca.key" in secret.inputs["stringData"]["tls.key"]


def test_the_local_stack_issues_from_a_ca_generated_once() -> None:
    run = stack_run("local")
    (ca,) = [r.inputs for r in run.of_type("tls:index/selfSignedCert:SelfSignedCert") if r.name == "local-ca"]
    assert ca["isCaCertificate"] is True
    (secret,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == CA_SECRET]
    assert secret_at(secret.raw_inputs, "stringData", "tls.key")


# ---------------------------------------------------------------------------- every host


def test_every_public_host_has_a_renewed_certificate_where_its_ingress_is(run: ProgramRun) -> None:
    certificates = {
        r.inputs["spec"]["dnsNames"][0]: (r.metadata["namespace"], r.inputs["spec"])
        for r in run.kubernetes("Certificate")
    }
    hosts = public_hosts(run)
    site = site_of(run)
    expected = {site.host(site.gateway.hostname), site.host(site.identity.hostname), site.host("grafana")}
    if site.logging.enabled:
        expected.add(site.host(site.logging.kibana_hostname))
    assert set(hosts) == expected == set(certificates)
    for host, (namespace, spec) in certificates.items():
        assert namespace == hosts[host], f"{host}: Kong reads a TLS Secret only in its Ingress's namespace"
        assert spec["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": SITE_ISSUER}
        assert spec["renewBefore"] == "720h" and spec["duration"] == "2160h"
        assert spec["privateKey"]["rotationPolicy"] == "Always"
    for ingress in run.kubernetes("Ingress"):
        (tls,) = ingress.inputs["spec"]["tls"]
        (host,) = tls["hosts"]
        assert tls["secretName"] == certificates[host][1]["secretName"]


def test_kong_has_no_default_certificate_when_the_issuer_makes_one_per_host(run: ProgramRun) -> None:
    (kong,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "kong"]
    assert "ssl_cert" not in kong["values"]["env"]
    assert kong["values"]["secretVolumes"] == []
    assert not [r for r in run.kubernetes("Secret") if r.metadata["name"] == "kong-proxy-tls"]


# ---------------------------------------------------------------------------- provided mode


def _coast_variant(tmp_path_factory: pytest.TempPathFactory, name: str, change: Any) -> ProgramRun:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.coast.yaml").read_text())
    change(document["config"])
    project = tmp_path_factory.mktemp(name)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (project / "stacks").mkdir()
    path = project / "stacks" / "Pulumi.coast.yaml"
    path.write_text(yaml.safe_dump(copy.deepcopy(document), sort_keys=False))
    run = run_program(path, project_dir=project)
    assert run.error is None, run.error
    return run


SECRET = {"secure": "v1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA"}


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    """coast moving onto its issuer: the provided certificate kept as Kong's default meanwhile."""

    def change(config: dict[str, Any]) -> None:
        config["national-platform:gateway"]["tls"] = {"certificate": SECRET, "key": SECRET}

    return _coast_variant(tmp_path_factory, "moving", change)


def test_a_site_moving_onto_an_issuer_keeps_its_certificate_until_each_host_has_its_own(
    moving: ProgramRun,
) -> None:
    (kong,) = [r.inputs for r in moving.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "kong"]
    assert kong["values"]["env"]["ssl_cert"] == "/etc/secrets/kong-proxy-tls/tls.crt"
    assert [r for r in moving.kubernetes("Secret") if r.metadata["name"] == "kong-proxy-tls"]
    assert len(moving.kubernetes("Certificate")) == 4
    assert all(r.inputs["spec"]["tls"] for r in moving.kubernetes("Ingress"))


def test_pulumi_waits_for_each_certificate_to_be_issued(run: ProgramRun) -> None:
    """One that cannot be issued fails the update where it is seen (pulumi-kubernetes reads the
    `pulumi.com/waitFor` annotation), after ISSUE_TIMEOUT."""
    assert run.kubernetes("Certificate")
    for certificate in run.kubernetes("Certificate"):
        assert certificate.metadata["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_an_ingress_waits_for_its_certificate() -> None:
    """The Ingress names the Secret and depends on the Certificate (mocks do not record
    dependencies: the helper every Ingress goes through is checked instead)."""
    marker = mock.Mock(spec=pulumi.Resource)
    tls = IngressTls.of("api.example.gov", HostCertificate("api-tls", marker))
    (entry,) = tls.tls or []
    assert (entry.hosts, entry.secret_name) == (["api.example.gov"], "api-tls")
    assert tls.opts(pulumi.ResourceOptions()).depends_on == [marker]
    assert IngressTls.of("api.example.gov", None) == IngressTls()


@pytest.fixture(scope="module")
def provided(tmp_path_factory: pytest.TempPathFactory) -> ProgramRun:
    """coast, with a certificate made elsewhere instead of an issuer."""

    def change(config: dict[str, Any]) -> None:
        config["national-platform:certificates"] = {"issuer": "provided"}
        config["national-platform:gateway"]["tls"] = {"certificate": SECRET, "key": SECRET}

    return _coast_variant(tmp_path_factory, "provided", change)


def test_a_provided_certificate_is_kongs_default_for_every_host(provided: ProgramRun) -> None:
    (secret,) = [r for r in provided.kubernetes("Secret") if r.metadata["name"] == "kong-proxy-tls"]
    assert secret.inputs["type"] == "kubernetes.io/tls"
    assert secret_at(secret.raw_inputs, "stringData", "tls.key")
    assert secret.inputs["stringData"]["tls.key"] == f"{PLACEHOLDER}national-platform:gateway.tls.key"
    (kong,) = [r.inputs for r in provided.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "kong"]
    assert kong["values"]["secretVolumes"] == ["kong-proxy-tls"]
    assert kong["values"]["env"]["ssl_cert"] == "/etc/secrets/kong-proxy-tls/tls.crt"
    # No issuer, no per-host certificate, no tls on the Ingresses; cert-manager still runs (the
    # database backup plugin's certificates are its).
    assert not provided.kubernetes("ClusterIssuer") and not provided.kubernetes("Certificate")
    assert all("tls" not in (r.inputs["spec"]) for r in provided.kubernetes("Ingress"))
    assert provided.outputs["certificateIssuer"].startswith("provided certificate")


# ---------------------------------------------------------------------------- the site CA's form


def _ca(days: int, *, is_ca: bool = True) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key_pem


def test_a_usable_site_ca_passes() -> None:
    pem, key = _ca(3650)
    assert ca_problem(pem) is None
    SiteCa.model_validate({"certificate": SecretValue(pem), "key": SecretValue(key)})


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: (_ca(30)[0], _ca(30)[1]), "must be valid for at least 90 more days"),
        (lambda: (_ca(3650, is_ca=False)[0], _ca(3650)[1]), "is not a CA certificate"),
        (lambda: ("not a certificate", _ca(3650)[1]), "is not PEM certificates"),
        (lambda: (_ca(3650)[0] + _ca(3650)[0], _ca(3650)[1]), "holds 2 certificates"),
        (lambda: (_ca(3650)[0], _ca(3650)[1]), "is not the key of ca.certificate"),
        (
            lambda: (_ca(3650)[0], "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "unencrypted PEM",
        ),
    ],
)
def test_a_bad_site_ca_is_refused_without_quoting_it(make: Any, words: str) -> None:
    certificate, key = make()
    with pytest.raises(ValueError, match=words) as raised:
        SiteCa.model_validate({"certificate": SecretValue(certificate), "key": SecretValue(key)})
    for secret in (certificate, key):
        body = [line for line in secret.splitlines() if line and "-----" not in line]
        assert not any(line in str(raised.value) for line in body), "the message quotes a secret"


def test_the_mock_stand_in_for_a_site_ca_is_a_real_one() -> None:
    """The program runs under mocks with a CA the model accepts (offline.fake_site_ca)."""
    from natplat.review.offline import fake_site_ca  # noqa: PLC0415

    pair = fake_site_ca()
    assert ca_problem(pair["certificate"]) is None
    SiteCa.model_validate({"certificate": SecretValue(pair["certificate"]), "key": SecretValue(pair["key"])})


def test_every_stack_is_covered() -> None:
    assert sorted(STACKS) == sorted(p.name.split(".")[1] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))


# ---------------------------------------------------------------------------- trust


def test_keycloak_trusts_the_sites_cas_for_the_directories_it_federates(run: ProgramRun) -> None:
    """Distributed by the program from the stack file (one source, in the preview): Keycloak's
    operator takes trust stores from Secrets (spec.truststores) only."""
    site = site_of(run)
    (keycloak,) = [r.inputs["spec"] for r in run.resources if r.kind == "Keycloak"]
    bundles = [
        r
        for r in run.kubernetes("Secret")
        if r.metadata["name"] == "platform-trust" and r.metadata["namespace"] == "platform-identity"
    ]
    federated = bool(site.identity.federation.oidc or site.identity.federation.ldap)
    trusts = bool(site.certificates.trusted_certificates or site.certificates.issuer == "ca")
    if federated and trusts:
        assert keycloak["truststores"] == {"platform": {"secret": {"name": "platform-trust"}}}
        (bundle,) = bundles
        for pem in site.certificates.trusted_certificates:
            assert pem.strip() in bundle.inputs["stringData"]["ca.crt"]
    else:
        assert "truststores" not in keycloak and not bundles


def test_capital_is_the_stack_whose_keycloak_gets_a_trust_store() -> None:
    """The test above has a case where the trust store is made (capital: OIDC federation and
    the government's CA), so it cannot pass on the empty branch alone."""
    (keycloak,) = [r.inputs["spec"] for r in stack_run("capital").resources if r.kind == "Keycloak"]
    assert "truststores" in keycloak
