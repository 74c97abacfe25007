"""The certificates layer: cert-manager, the site's one ClusterIssuer (`platform`), and what the
layers that publish a host use to get its certificate (`PublicCertificates`).

The issuer follows `national-platform:certificates`:
- `acme`: an ACME account (its key in a Secret cert-manager generates), HTTP-01 through Kong or
  DNS-01 through the site's DNS;
- `ca`: the site CA from the stack file, as a Secret only cert-manager reads;
- `selfSigned`: a CA the program generates once (pulumi-tls), for the kind cluster;
- `provided`: no issuer; Kong serves `gateway.tls` for every host, renewed by hand.

Each public host gets a `Certificate` in the namespace of its Ingress (Kong reads a TLS Secret
only there), renewed by cert-manager 30 days before it expires (ACME: at two thirds of its life).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from natplat.blocks import netpol
from natplat.blocks.charts import pinned_chart
from natplat.blocks.labels import PART_OF, metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.spec.catalog import CERT_MANAGER_CHART, CERTIFICATE_IMAGES, resolve_image
from natplat.spec.certificates import AcmeIssuer, CertificatesSection
from natplat.spec.model import RegistrySection, Site

RELEASE = "cert-manager"
SITE_ISSUER = "platform"
"""The ClusterIssuer every public certificate names."""
CA_SECRET = "platform-site-ca"  # noqa: S105 - a Secret's name
ACME_ACCOUNT_SECRET = "platform-acme-account"  # noqa: S105 - a Secret's name
DNS_SECRET = "platform-dns01"  # noqa: S105 - a Secret's name
ISSUE_TIMEOUT = "15m"
"""How long `pulumi up` waits for a host's certificate to be issued (ACME included)."""
CERTIFICATE_DAYS = 90
RENEW_DAYS = 30
"""A certificate the site CA signs lives 90 days and is renewed 30 days before it expires; the
alert pages 14 days before (`CertificateExpiringSoon`), when renewal has failed for two weeks."""
LOCAL_CA_DAYS = 3650

SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
"""cert-manager labels the HTTP-01 solver pods it creates so (pkg/issuer/acme/http/pod.go)."""
SOLVER_PORT = 8089
SOLVER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
"""One HTTP-01 solver pod per pending challenge, in the namespace of the host's certificate: the
namespace quotas leave room for one. (cert-manager's default CPU limit of 100m stays: it has no
flag to drop it.)"""
WEBHOOK_PORT = 10250
METRICS_PORT = 9402
DNS_PORT = 53

CONTROLLER_LABELS = {"app.kubernetes.io/instance": RELEASE}
"""Every pod of the chart carries its release as instance label."""


def _resources(cpu: str, memory: str, limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}


@dataclass(frozen=True)
class CertificatesArgs:
    site: str
    certificates: CertificatesSection
    registry: RegistrySection
    namespace: PlacedNamespace
    scrapers: tuple[PlacedNamespace, ...]
    pull_secret: str | None
    highly_available: bool
    after: tuple[pulumi.Resource, ...] = ()

    @staticmethod
    def from_site(
        site: Site,
        *,
        namespace: PlacedNamespace,
        scrapers: tuple[PlacedNamespace, ...],
        pull_secret: str | None,
        after: tuple[pulumi.Resource, ...] = (),
    ) -> CertificatesArgs:
        assert site.certificates is not None  # the layer exists only where the section does
        return CertificatesArgs(
            site=site.name,
            certificates=site.certificates,
            registry=site.registry,
            namespace=namespace,
            scrapers=scrapers,
            pull_secret=pull_secret,
            highly_available=site.profile != "small",
            after=after,
        )


def chart_values(args: CertificatesArgs) -> dict[str, Any]:
    def image(key: str) -> dict[str, str]:
        resolved = resolve_image(CERTIFICATE_IMAGES[key], args.registry)
        return {"repository": resolved.name, "tag": resolved.tag}

    replicas = 2 if args.highly_available else 1
    hardened = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    budget = {"enabled": replicas > 1, "minAvailable": 1}
    return {
        "crds": {"enabled": True, "keep": True},
        "global": {
            "priorityClassName": PLATFORM_PRIORITY.name,
            "imagePullSecrets": [{"name": args.pull_secret}] if args.pull_secret else [],
            # The chart's default is kube-system: its leader-election Role would land there.
            "leaderElection": {"namespace": args.namespace.name},
        },
        "image": image("controller"),
        "replicaCount": replicas,
        "podDisruptionBudget": budget,
        "resources": _resources("50m", "128Mi", "256Mi"),
        "securityContext": pod,
        "containerSecurityContext": hardened,
        # A deleted Certificate takes its Secret with it: no orphaned private keys.
        "enableCertificateOwnerRef": True,
        # The solver pods the controller starts: from the site's registry, sized, prioritised.
        "acmesolver": {"image": image("acmesolver")},
        "extraArgs": [
            f"--acme-http01-solver-resource-request-cpu={SOLVER_RESOURCES['requests']['cpu']}",
            f"--acme-http01-solver-resource-request-memory={SOLVER_RESOURCES['requests']['memory']}",
            f"--acme-http01-solver-resource-limits-memory={SOLVER_RESOURCES['limits']['memory']}",
        ],
        # The metrics Service; its ServiceMonitor is the program's (CertManager.monitor).
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
        "webhook": {
            "image": image("webhook"),
            "replicaCount": replicas,
            "podDisruptionBudget": budget,
            "resources": _resources("25m", "48Mi", "128Mi"),
            "securityContext": pod,
            "containerSecurityContext": hardened,
        },
        "cainjector": {
            "image": image("cainjector"),
            "replicaCount": replicas,
            "podDisruptionBudget": budget,
            "resources": _resources("25m", "96Mi", "256Mi"),
            "securityContext": pod,
            "containerSecurityContext": hardened,
        },
        # A post-install hook Job that waits for the webhook; Pulumi waits for the Deployments.
        "startupapicheck": {"enabled": False},
    }


def acme_spec(acme: AcmeIssuer, trusted: tuple[str, ...], solver_pod: dict[str, Any]) -> dict[str, Any]:
    """The `acme` block of the ClusterIssuer."""
    if acme.solver == "http01":
        solver: dict[str, Any] = {
            "http01": {"ingress": {"ingressClassName": "kong", "podTemplate": {"spec": solver_pod}}}
        }
    else:
        assert acme.dns01 is not None
        if acme.dns01.rfc2136 is not None:
            rfc = acme.dns01.rfc2136
            solver = {
                "dns01": {
                    "rfc2136": {
                        "nameserver": rfc.nameserver,
                        "tsigKeyName": rfc.tsig_key_name,
                        "tsigAlgorithm": rfc.tsig_algorithm,
                        "tsigSecretSecretRef": {"name": DNS_SECRET, "key": "tsig-secret"},
                    }
                }
            }
        else:
            route53 = acme.dns01.route53
            assert route53 is not None
            solver = {
                "dns01": {
                    "route53": {
                        "region": route53.region,
                        "hostedZoneID": route53.hosted_zone_id,
                        "accessKeyIDSecretRef": {"name": DNS_SECRET, "key": "access-key-id"},
                        "secretAccessKeySecretRef": {"name": DNS_SECRET, "key": "secret-access-key"},
                    }
                }
            }
    spec: dict[str, Any] = {
        "server": acme.directory,
        "email": acme.email,
        "privateKeySecretRef": {"name": ACME_ACCOUNT_SECRET},
        "solvers": [solver],
    }
    if acme.private and trusted:
        # An in-datacentre ACME server's certificate chains to the site's trusted CAs.
        spec["caBundle"] = base64.b64encode("".join(trusted).encode()).decode()
    return spec


@dataclass(frozen=True)
class HostCertificate:
    """A public host's certificate: the Secret its Ingress names, and the resource to wait for."""

    secret: str
    resource: pulumi.Resource


@dataclass
class PublicCertificates:
    """What a layer that publishes a host uses to get its certificate from the site's issuer."""

    site: str
    issuer: str | None
    """The ClusterIssuer's name, or None when the site provides its own certificate."""
    http01: bool
    gateway_namespace: str
    gateway_pod_labels: Mapping[str, str]
    after: tuple[pulumi.Resource, ...] = ()
    _solver_policies: set[str] = field(default_factory=set)

    def for_host(
        self,
        host: str,
        *,
        namespace: PlacedNamespace,
        component: str,
        opts: pulumi.ResourceOptions,
    ) -> HostCertificate | None:
        """The certificate of `host`, issued in `namespace` (where its Ingress is), and, for
        HTTP-01, once per namespace, the policy that lets Kong reach the solver pods cert-manager
        starts there. None when the site provides its certificate (Kong's default serves every
        host).

        `pulumi up` waits for the certificate to be issued (Ready), up to ISSUE_TIMEOUT, and the
        Ingress that names it waits for that: a host moves onto its certificate only once it
        exists, and a certificate that cannot be issued fails the update where it is seen."""
        if self.issuer is None:
            return None
        label = host.split(".", 1)[0]
        secret = f"{label}-tls"
        with_issuer = pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=list(self.after),
                custom_timeouts=pulumi.CustomTimeouts(create=ISSUE_TIMEOUT, update=ISSUE_TIMEOUT),
            ),
        )
        certificate = k8s.apiextensions.CustomResource(
            f"certificate-{label}",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=metadata(
                self.site,
                secret,
                component,
                namespace=namespace.ready,
                annotations={"pulumi.com/waitFor": "condition=Ready"},
            ),
            spec={
                "secretName": secret,
                "dnsNames": [host],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": self.issuer},
                "duration": f"{CERTIFICATE_DAYS * 24}h",
                "renewBefore": f"{RENEW_DAYS * 24}h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "secretTemplate": {"labels": {"app.kubernetes.io/part-of": PART_OF}},
            },
            opts=with_issuer,
        )
        if self.http01 and namespace.name not in self._solver_policies:
            self._solver_policies.add(namespace.name)
            k8s.networking.v1.NetworkPolicy(
                f"acme-solver-{namespace.name}",
                metadata=metadata(self.site, "acme-http01-solver", component, namespace=namespace.ready),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=SOLVER_LABELS),
                    policy_types=["Ingress"],
                    ingress=[
                        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                            from_=[netpol.pods_in(self.gateway_namespace, self.gateway_pod_labels)],
                            ports=netpol.tcp(SOLVER_PORT),
                        )
                    ],
                ),
                opts=opts,
            )
        return HostCertificate(secret, certificate)


class CertManager(pulumi.ComponentResource):
    """cert-manager and the site's ClusterIssuer."""

    issuer: pulumi.Resource | None

    def __init__(self, name: str, args: CertificatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:certificates:CertManager", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        self.chart = pinned_chart(
            RELEASE,
            CERT_MANAGER_CHART,
            site=args.site,
            registry=args.registry,
            namespace=ns,
            values=chart_values(args),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.after))),
        )
        after_chart = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.chart]))
        self.issuer = self._issuer(args, after_chart)
        self._network_policy(args, child)
        self.register_outputs({})

    def monitor(self, *, after: tuple[pulumi.Resource, ...]) -> None:
        """The controller's ServiceMonitor (certificate expiry and readiness), once the monitoring
        layer's CRDs exist: made here rather than by the chart, which the monitoring layer's
        Grafana certificate already waits for."""
        args = self._args
        if not args.scrapers:
            return
        k8s.apiextensions.CustomResource(
            "cert-manager-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata(args.site, RELEASE, "certificates", namespace=args.namespace.ready),
            spec={
                # The chart's controller Service (templates/service.yaml): these labels, port http-metrics.
                "selector": {
                    "matchLabels": {**CONTROLLER_LABELS, "app.kubernetes.io/component": "controller"}
                },
                "endpoints": [{"port": "http-metrics", "path": "/metrics", "interval": "60s"}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.chart, *after]),
        )

    def _issuer(self, args: CertificatesArgs, opts: pulumi.ResourceOptions) -> pulumi.Resource | None:
        certificates = args.certificates
        ns = args.namespace.ready
        spec: dict[str, Any]
        depends: list[pulumi.Resource] = []
        if certificates.issuer == "provided":
            return None
        if certificates.issuer == "acme":
            assert certificates.acme is not None
            acme = certificates.acme
            solver_pod: dict[str, Any] = {"priorityClassName": PLATFORM_PRIORITY.name}
            if args.pull_secret:
                solver_pod["imagePullSecrets"] = [{"name": args.pull_secret}]
            spec = {"acme": acme_spec(acme, certificates.trusted_certificates, solver_pod)}
            if acme.dns01 is not None:
                data = (
                    {"tsig-secret": acme.dns01.rfc2136.tsig_secret.output()}
                    if acme.dns01.rfc2136
                    else {
                        "access-key-id": acme.dns01.route53.access_key_id.output(),  # type: ignore[union-attr]
                        "secret-access-key": acme.dns01.route53.secret_access_key.output(),  # type: ignore[union-attr]
                    }
                )
                depends.append(
                    k8s.core.v1.Secret(
                        "dns01-credentials",
                        metadata=metadata(args.site, DNS_SECRET, "certificates", namespace=ns),
                        type="Opaque",
                        string_data=data,
                        opts=opts,
                    )
                )
        else:
            if certificates.issuer == "ca":
                assert certificates.ca is not None
                cert: pulumi.Input[str] = certificates.ca.certificate.output()
                key: pulumi.Input[str] = certificates.ca.key.output()
            else:
                # selfSigned (kind only): a CA made once and kept in state; trust it on the laptop.
                private = tls.PrivateKey("local-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
                signed = tls.SelfSignedCert(
                    "local-ca",
                    private_key_pem=private.private_key_pem,
                    subject=tls.SelfSignedCertSubjectArgs(
                        common_name=f"{args.site} local CA", organization=PART_OF
                    ),
                    is_ca_certificate=True,
                    validity_period_hours=24 * LOCAL_CA_DAYS,
                    allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
                    opts=opts,
                )
                cert = signed.cert_pem
                key = pulumi.Output.secret(private.private_key_pem)
            # The chart's cluster resource namespace is its own: ClusterIssuers read Secrets there.
            depends.append(
                k8s.core.v1.Secret(
                    "site-ca",
                    metadata=metadata(args.site, CA_SECRET, "certificates", namespace=ns),
                    type="kubernetes.io/tls",
                    string_data={"tls.crt": cert, "tls.key": key},
                    opts=opts,
                )
            )
            spec = {"ca": {"secretName": CA_SECRET}}
        return k8s.apiextensions.CustomResource(
            "site-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=metadata(args.site, SITE_ISSUER, "certificates"),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends)),
        )

    def _network_policy(self, args: CertificatesArgs, child: pulumi.ResourceOptions) -> None:
        policy = k8s.networking.v1
        ingress = [netpol.from_api_server(WEBHOOK_PORT)]
        if args.scrapers:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers), ports=netpol.tcp(METRICS_PORT)
                )
            )
        egress = [
            netpol.kubernetes_api(),
            # ACME directories and the HTTP-01 self-check (the controller fetches each challenge
            # through the public address first), and DNS-01 updates to the site's name server.
            policy.NetworkPolicyEgressRuleArgs(
                ports=[
                    *netpol.tcp(80, 443, DNS_PORT),
                    policy.NetworkPolicyPortArgs(protocol="UDP", port=DNS_PORT),
                ]
            ),
        ]
        policy.NetworkPolicy(
            "cert-manager",
            metadata=metadata(args.site, "cert-manager", "certificates", namespace=args.namespace.ready),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=CONTROLLER_LABELS),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=egress,
            ),
            opts=child,
        )


TRUST_BUNDLE = "platform-trust"
"""The ConfigMap (or Secret, for consumers that read only Secrets) holding the site's CA
certificates under `ca.crt`, in each namespace whose workloads must trust them."""


def trust_bundle(site: Site) -> pulumi.Output[str] | None:
    """The CA certificates the site's workloads trust besides public CAs (PEM, concatenated):
    `certificates.trustedCertificates`, and the site CA when it issues the site's certificates.
    None when there are none."""
    certificates = site.certificates
    if certificates is None:
        return None
    parts: list[pulumi.Input[str]] = list(certificates.trusted_certificates)
    if certificates.ca is not None:
        parts.append(certificates.ca.certificate.output())
    if not parts:
        return None
    return pulumi.Output.all(*parts).apply(
        lambda pems: "".join(pem if pem.endswith("\n") else f"{pem}\n" for pem in pems)
    )


def store_trust(site: Site) -> pulumi.Output[str] | None:
    """The CA certificates a client of the site's object store verifies it with: the site's own
    (`trust_bundle`) when the store says `trust: site`; None for a publicly trusted store."""
    store = site.object_store
    return trust_bundle(site) if store is not None and store.trust == "site" else None


def distribute_trust(
    site: str,
    bundle: pulumi.Input[str],
    *,
    namespace: PlacedNamespace,
    component: str,
    opts: pulumi.ResourceOptions,
    as_secret: bool = False,
) -> pulumi.Resource:
    """The site's trust bundle in `namespace`, written by the program from the stack file (one
    source, reviewed in the preview), as a ConfigMap, or a Secret for readers of Secrets only."""
    meta = metadata(site, TRUST_BUNDLE, component, namespace=namespace.ready)
    if as_secret:
        return k8s.core.v1.Secret(
            f"trust-bundle-{namespace.name}",
            metadata=meta,
            type="Opaque",
            string_data={"ca.crt": bundle},
            opts=opts,
        )
    return k8s.core.v1.ConfigMap(
        f"trust-bundle-{namespace.name}", metadata=meta, data={"ca.crt": bundle}, opts=opts
    )


def public_certificates(
    site: Site, manager: CertManager | None, gateway_namespace: str, gateway_pods: Mapping[str, str]
) -> PublicCertificates:
    """The handle the layers that publish hosts receive."""
    issuer = manager.issuer if manager is not None else None
    acme = site.certificates.acme if site.certificates else None
    return PublicCertificates(
        site=site.name,
        issuer=SITE_ISSUER if issuer is not None else None,
        http01=acme is not None and acme.solver == "http01",
        gateway_namespace=gateway_namespace,
        gateway_pod_labels=gateway_pods,
        after=(issuer,) if issuer is not None else (),
    )
