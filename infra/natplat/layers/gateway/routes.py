"""The gateway's contract with the layers that publish routes: the ingress class, the plugin
names every guarded route carries, the public allow-list (what Kong serves without a token, and
why), and the one way an operator UI (Grafana, Kibana) is routed. Layers import this module, not
Kong's installation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.labels import metadata
from natplat.layers.baseline import PlacedNamespace
from natplat.layers.certificates import HostCertificate, PublicCertificates

INGRESS_CLASS = "kong"

PUBLIC_ROUTE_ANNOTATION = "national-platform/public-route"
"""Set, with the reason, on every Ingress that Kong serves without a token."""
PUBLIC_ALLOW_LIST: dict[str, tuple[str, ...]] = {
    # host label -> paths served without a token ({realm}: the site's realm)
    # Keycloak: the site realm's endpoints (discovery, authorization, token, JWKS, login and
    # account pages) and the static files its pages load; never /admin nor the master realm.
    "auth": ("/realms/{realm}", "/resources"),
    "grafana": ("/",),  # Grafana authenticates its users itself
    "kibana": ("/",),  # Kibana authenticates its users itself (Elasticsearch security)
}


def public_paths(label: str, *, realm: str) -> tuple[str, ...]:
    """The paths of host `label` on the public allow-list, for a site whose realm is `realm`."""
    return tuple(path.format(realm=realm) for path in PUBLIC_ALLOW_LIST[label])


JWT_PLUGIN = "jwt-verify"
RATE_LIMIT_PLUGIN = "rate-limit"


@dataclass(frozen=True)
class GatewayRoutes:
    """What a service needs to publish a route through Kong."""

    ingress_class: str
    plugins_namespace: str
    guarded_plugins: tuple[str, ...]
    """Plugins on every route that needs a token: verification first, then the rate limit."""
    public_plugins: tuple[str, ...]
    """Plugins on the public allow-list routes (Keycloak's realm endpoints): rate limit only."""
    namespace: PlacedNamespace
    pod_labels: Mapping[str, str]
    """Labels of Kong's pods, for the services' ingress policies."""
    certificates: PublicCertificates | None = None
    api_certificate: HostCertificate | None = None
    """The API host's certificate, in the services' namespace (None: Kong's default)."""

    def tls(
        self, host: str, *, namespace: PlacedNamespace, component: str, opts: pulumi.ResourceOptions
    ) -> IngressTls:
        """The `tls` of an Ingress for `host` in `namespace`, its certificate issued on the way."""
        return ingress_tls(self.certificates, host, namespace=namespace, component=component, opts=opts)

    def api_tls(self, host: str) -> IngressTls:
        """The `tls` of a service's Ingress on the API host (its certificate is the gateway's)."""
        return IngressTls.of(host, self.api_certificate)

    def annotations(self, *, public: bool) -> dict[str, str]:
        plugins = self.public_plugins if public else self.guarded_plugins
        reason = {PUBLIC_ROUTE_ANNOTATION: "Keycloak's realm endpoints"} if public else {}
        return {
            **reason,
            "konghq.com/plugins": ",".join(plugins),
            # HTTPS only; plain HTTP gets a permanent redirect.
            "konghq.com/protocols": "https",
            "konghq.com/https-redirect-status-code": "308",
            "konghq.com/strip-path": "false",
        }


@dataclass(frozen=True)
class IngressTls:
    """The `tls` of an Ingress, and what the Ingress waits for: its certificate, issued."""

    tls: list[k8s.networking.v1.IngressTLSArgs] | None = None
    after: tuple[pulumi.Resource, ...] = ()

    @staticmethod
    def of(host: str, certificate: HostCertificate | None) -> IngressTls:
        if certificate is None:
            return IngressTls()
        return IngressTls(
            [k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=certificate.secret)],
            (certificate.resource,),
        )

    def opts(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(self.after)))


def ingress_tls(
    certificates: PublicCertificates | None,
    host: str,
    *,
    namespace: PlacedNamespace,
    component: str,
    opts: pulumi.ResourceOptions,
) -> IngressTls:
    """The `tls` of an Ingress for `host`: the Secret of the certificate the site's issuer keeps
    renewed there, or none where the site provides one certificate for every host (Kong's
    default certificate)."""
    issued = (
        certificates.for_host(host, namespace=namespace, component=component, opts=opts)
        if certificates
        else None
    )
    return IngressTls.of(host, issued)


def operator_ui_route(
    resource_name: str,
    *,
    site: str,
    component: str,
    namespace: PlacedNamespace,
    host: str,
    service: str,
    port: int,
    reason: str,
    certificates: PublicCertificates | None,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.Ingress:
    """The route of an operator UI (Grafana, Kibana): HTTPS through Kong to the UI's Service,
    on the public allow-list because the UI authenticates its users itself (`reason`)."""
    name = host.split(".", 1)[0]
    backend = k8s.networking.v1.IngressBackendArgs(
        service=k8s.networking.v1.IngressServiceBackendArgs(
            name=service, port=k8s.networking.v1.ServiceBackendPortArgs(number=port)
        )
    )
    tls = ingress_tls(certificates, host, namespace=namespace, component=component, opts=opts)
    return k8s.networking.v1.Ingress(
        resource_name,
        metadata=metadata(
            site,
            name,
            component,
            namespace=namespace.ready,
            annotations={
                PUBLIC_ROUTE_ANNOTATION: reason,
                "konghq.com/protocols": "https",
                "konghq.com/https-redirect-status-code": "308",
            },
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            ingress_class_name=INGRESS_CLASS,
            tls=tls.tls,
            rules=[
                k8s.networking.v1.IngressRuleArgs(
                    host=host,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                        paths=[
                            k8s.networking.v1.HTTPIngressPathArgs(
                                path="/", path_type="Prefix", backend=backend
                            )
                        ]
                    ),
                )
            ],
        ),
        opts=tls.opts(opts),
    )
