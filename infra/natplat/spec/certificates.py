"""`national-platform:certificates`: who issues the site's public certificates, and what the
site's workloads trust.

cert-manager issues and renews the certificate of every public host (api, auth, grafana,
kibana) through one ClusterIssuer built from this section:
- `acme`: an ACME directory (Let's Encrypt production or staging, or an in-datacentre ACME
  server's URL), solving HTTP-01 through Kong, or DNS-01 with the site's DNS (RFC 2136 / TSIG,
  or Route 53);
- `ca`: the site's own CA, its certificate and key as `secure:` values (air-gapped sites);
- `selfSigned`: a CA the program generates (the local kind cluster only);
- `provided`: a certificate made elsewhere (`gateway.tls`), which the operators renew.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import AfterValidator, Field, model_validator

from natplat.spec.sensitive import SecretValue
from natplat.spec.settings import Settings, problem

LETS_ENCRYPT = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
"""The ACME directories `acme.server` may name by word; any other https:// URL is a private one."""

MIN_CA_DAYS_LEFT = 90
"""A site CA must outlive at least one certificate it signs (cert-manager's default 90 days)."""


def _check_acme_server(value: str) -> str:
    if value in LETS_ENCRYPT:
        return value
    if not value.startswith("https://") or " " in value or len(value) <= len("https://"):
        raise ValueError(
            "must be 'production', 'staging' (Let's Encrypt) or the https:// URL of an ACME directory"
        )
    return value


AcmeServer = Annotated[str, AfterValidator(_check_acme_server)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
HostPort = Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]+:\d{1,5}$")]


def pem_certificates(text: str) -> list[x509.Certificate]:
    """The certificates of a PEM bundle; ValueError naming what is wrong, never quoting it."""
    if "PRIVATE KEY" in text:
        raise ValueError("holds a private key: only certificates belong here")
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise ValueError("is not PEM certificates (-----BEGIN CERTIFICATE----- …)") from None
    return certificates


def ca_problem(text: str, *, now: datetime.datetime | None = None) -> str | None:
    """Why `text` is not a usable CA certificate, or None."""
    try:
        certificates = pem_certificates(text)
    except ValueError as error:
        return str(error)
    if len(certificates) != 1:
        return f"holds {len(certificates)} certificates: give the issuing CA's certificate only"
    certificate = certificates[0]
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        return "is not a CA certificate (its basicConstraints lack CA:TRUE)"
    left = certificate.not_valid_after_utc - (now or datetime.datetime.now(datetime.UTC))
    if left < datetime.timedelta(days=MIN_CA_DAYS_LEFT):
        return (
            f"expires on {certificate.not_valid_after_utc:%Y-%m-%d}: a site CA must be valid for at "
            f"least {MIN_CA_DAYS_LEFT} more days"
        )
    return None


def _private_key_problem(text: str) -> str | None:
    try:
        load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        return "is not an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- …)"
    return None


def _check_trusted(value: str) -> str:
    certificates = pem_certificates(value)
    if not certificates:
        raise ValueError("holds no certificate")
    return value


TrustedPem = Annotated[str, AfterValidator(_check_trusted)]


class Rfc2136(Settings):
    """DNS-01 through the site's own DNS server (RFC 2136 dynamic updates, signed with TSIG)."""

    nameserver: HostPort
    tsig_key_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,253}$")]
    tsig_algorithm: Literal["HMACSHA256", "HMACSHA384", "HMACSHA512"] = "HMACSHA256"
    tsig_secret: SecretValue


class Route53(Settings):
    """DNS-01 through AWS Route 53."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
    hosted_zone_id: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,32}$")]
    access_key_id: SecretValue
    secret_access_key: SecretValue


class Dns01(Settings):
    rfc2136: Rfc2136 | None = None
    route53: Route53 | None = None

    @model_validator(mode="after")
    def _one(self) -> Dns01:
        if (self.rfc2136 is None) == (self.route53 is None):
            raise problem("rfc2136", "configure exactly one DNS provider: rfc2136 or route53")
        return self


class AcmeIssuer(Settings):
    server: AcmeServer
    email: Email
    solver: Literal["http01", "dns01"] = "http01"
    dns01: Dns01 | None = None

    @model_validator(mode="after")
    def _solver(self) -> AcmeIssuer:
        if self.solver == "dns01" and self.dns01 is None:
            raise problem("dns01", "is required with solver: dns01 (the site's DNS provider)")
        if self.solver == "http01" and self.dns01 is not None:
            raise problem("dns01", "is only used with solver: dns01")
        return self

    @property
    def directory(self) -> str:
        return LETS_ENCRYPT.get(self.server, self.server)

    @property
    def private(self) -> bool:
        """Whether the directory is an in-datacentre ACME server (not Let's Encrypt)."""
        return self.server not in LETS_ENCRYPT


class SiteCa(Settings):
    certificate: SecretValue
    key: SecretValue

    @model_validator(mode="after")
    def _form(self) -> SiteCa:
        if wrong := self.certificate.check(ca_problem):
            raise problem("certificate", wrong)
        if wrong := self.key.check(_private_key_problem):
            raise problem("key", wrong)

        def mismatch(key_text: str) -> str | None:
            key = load_pem_private_key(key_text.encode(), password=None)

            def against(certificate_text: str) -> str | None:
                if pem_certificates(certificate_text)[0].public_key() != key.public_key():
                    return "is not the key of ca.certificate (their public keys differ)"
                return None

            return self.certificate.check(against)

        if wrong := self.key.check(mismatch):
            raise problem("key", wrong)
        return self


IssuerKind = Literal["acme", "ca", "selfSigned", "provided"]


class CertificatesSection(Settings):
    """`national-platform:certificates`."""

    issuer: IssuerKind
    acme: AcmeIssuer | None = None
    ca: SiteCa | None = None
    trusted_certificates: tuple[TrustedPem, ...] = ()
    """CA certificates (public PEM) the site's workloads must trust besides the site's own
    issuer: an in-datacentre ACME server's, the object store's, a directory's (LDAPS)."""

    @model_validator(mode="after")
    def _issuer(self) -> CertificatesSection:
        for key, value in (("acme", self.acme), ("ca", self.ca)):
            if self.issuer == key and value is None:
                raise problem(key, f"is required with issuer: {key}")
            if self.issuer != key and value is not None:
                raise problem(key, f"is only used with issuer: {key}")
        return self

    @property
    def managed(self) -> bool:
        """Whether cert-manager issues the public hosts' certificates (all but `provided`)."""
        return self.issuer != "provided"

    def describe(self) -> str:
        """The issuer as a reviewer reads it in the plan summary."""
        if self.issuer == "acme":
            assert self.acme is not None
            return f"ACME {self.acme.server} ({self.acme.solver.upper().replace('0', '-0')})"
        return {
            "ca": "site CA (stack file)",
            "selfSigned": "generated local CA",
            "provided": "provided certificate (gateway.tls, renewed by hand)",
        }[self.issuer]
