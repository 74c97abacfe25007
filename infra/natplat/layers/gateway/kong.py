"""The gateway layer: Kong OSS (DB-less, with its ingress controller) as the site's single entry
point, its TLS certificate, the plugins every route relies on, and the consumer that holds the
site's token-signing public key.

Plugins are custom resources next to the chart, not chart values, so each one shows in the
preview and passes the policy pack on its own:
- global (KongClusterPlugin): `prometheus` (all metric families on), `cors`,
  `request-size-limiting`;
- per route (KongPlugin, in the services' namespace where the Ingresses live): `jwt` and
  `rate-limiting`. Routes name them through `GatewayRoutes`.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from natplat.blocks import netpol
from natplat.blocks.charts import pinned_chart
from natplat.blocks.kubeobject import KubernetesObject
from natplat.blocks.labels import PART_OF, SITE_LABEL, metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.layers.cache import CacheEndpoint
from natplat.layers.certificates import PublicCertificates
from natplat.layers.gateway.plugins import GLOBAL_PLUGINS, jwt_plugin_config, rate_limit_config
from natplat.layers.gateway.routes import INGRESS_CLASS, JWT_PLUGIN, RATE_LIMIT_PLUGIN, GatewayRoutes
from natplat.layers.signing import ALGORITHM, JwtChain
from natplat.spec.catalog import (
    KONG_CHART,
    KONG_IMAGE,
    KONG_INGRESS_CONTROLLER_IMAGE,
    resolve_image,
)
from natplat.spec.model import GatewaySection, RegistrySection, Site, Workload

RELEASE = "kong"
INGRESS_CONTROLLER = "ingress-controllers.konghq.com/kong"
"""The controller name KIC 3.5 claims IngressClasses by (the chart's own template writes it too)."""
PROXY_SERVICE = "kong-kong-proxy"
"""The chart names the proxy Service `<release>-kong-proxy`."""
KONG_POD_LABELS = {"app.kubernetes.io/name": "kong", "app.kubernetes.io/instance": RELEASE}
TLS_SECRET = "kong-proxy-tls"  # noqa: S105 - a Secret's name
CONSUMER = "platform-token-issuer"
PROXY_HTTP_PORT = 8000
PROXY_HTTPS_PORT = 8443
STATUS_PORT = 8100  # Kong's status listener: /status and /metrics
CONTROLLER_METRICS_PORT = 10255
ADMISSION_WEBHOOK_PORT = 8080

WEBHOOK_SERVICE = "kong-kong-validation-webhook"
"""The chart names the admission webhook's Service `<fullname>-validation-webhook`."""
WEBHOOK_TLS_SECRET = "kong-admission-webhook-tls"  # noqa: S105 - a Secret's name
WEBHOOK_CA_DAYS = 3650
WEBHOOK_CERT_DAYS = 730
WEBHOOK_RENEW_DAYS = 180
"""The webhook's serving certificate is replaced by the first `pulumi up` within 180 days of its
expiry (pulumi-tls early renewal); the CA outlives many of them."""

CONTROLLER_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


@dataclass(frozen=True)
class GatewayArgs:
    site: str
    domain: str
    gateway: GatewaySection
    sizing: Workload
    registry: RegistrySection
    load_balancer: bool
    local: bool
    namespace: PlacedNamespace
    routes_namespace: PlacedNamespace
    """Where the services' Ingresses, hence the per-route plugins, live."""
    upstream_namespaces: tuple[PlacedNamespace, ...]
    """Namespaces Kong proxies to (egress)."""
    scrapers: tuple[PlacedNamespace, ...]
    cache: CacheEndpoint | None
    jwt: JwtChain
    pull_secret: str | None
    highly_available: bool
    certificates: PublicCertificates | None = None
    """The site's issuer; None, or an issuer-less handle, when the site provides its certificate."""
    after: tuple[pulumi.Resource, ...] = ()
    """What the chart waits for: the monitoring layer, whose CRDs its ServiceMonitor needs."""

    @property
    def default_certificate(self) -> bool:
        """Whether Kong has the stack file's certificate (`gateway.tls`) as its default: for every
        host with `certificates.issuer: provided`; beside an issuer, for hosts whose own
        certificate is not issued yet (a site moving onto an issuer) and clients without SNI."""
        return self.gateway.tls is not None

    @staticmethod
    def from_site(
        site: Site,
        *,
        namespace: PlacedNamespace,
        routes_namespace: PlacedNamespace,
        upstream_namespaces: tuple[PlacedNamespace, ...],
        scrapers: tuple[PlacedNamespace, ...],
        cache: CacheEndpoint | None,
        jwt: JwtChain,
        pull_secret: str | None,
        certificates: PublicCertificates | None = None,
        after: tuple[pulumi.Resource, ...] = (),
    ) -> GatewayArgs:
        return GatewayArgs(
            site=site.name,
            domain=site.site.domain,
            gateway=site.gateway,
            sizing=site.sizing.gateway,
            registry=site.registry,
            load_balancer=site.cluster.load_balancer,
            local=site.is_local,
            namespace=namespace,
            routes_namespace=routes_namespace,
            upstream_namespaces=upstream_namespaces,
            scrapers=scrapers,
            cache=cache,
            jwt=jwt,
            pull_secret=pull_secret,
            highly_available=site.profile != "small",
            certificates=certificates,
            after=after,
        )


def chart_values(args: GatewayArgs) -> dict[str, Any]:
    """The Kong chart's values: known before anything exists, so that a site's first preview
    renders every object of the chart (a value unknown at preview makes the provider skip the
    whole chart). The webhook's CA, made in the same deployment, goes onto the one object that
    holds it (webhook_ca_transform)."""
    kong = resolve_image(KONG_IMAGE, args.registry)
    controller = resolve_image(KONG_INGRESS_CONTROLLER_IMAGE, args.registry)
    pulls = [args.pull_secret] if args.pull_secret else []
    resources = args.sizing.resources
    # A provided certificate is Kong's default, for every host under the site's domain; an issued
    # one comes per host with each Ingress (`tls`), and Kong picks it by SNI.
    provided = (
        {
            "ssl_cert": f"/etc/secrets/{TLS_SECRET}/tls.crt",
            "ssl_cert_key": f"/etc/secrets/{TLS_SECRET}/tls.key",
        }
        if args.default_certificate
        else {}
    )
    proxy: dict[str, Any] = {
        "enabled": True,
        "type": "LoadBalancer" if args.load_balancer else "NodePort",
        "http": {"enabled": True, "servicePort": 80, "containerPort": PROXY_HTTP_PORT},
        "tls": {
            "enabled": True,
            "servicePort": 443,
            "containerPort": PROXY_HTTPS_PORT,
            "parameters": ["http2"],
        },
    }
    if args.load_balancer:
        proxy["loadBalancerSourceRanges"] = list(args.gateway.load_balancer_source_ranges)
        # Keep the client's address (for rate limiting and logs); nodes without a proxy pod do
        # not answer the balancer's health check, which is what we want.
        proxy["externalTrafficPolicy"] = "Local"
    else:
        assert args.gateway.node_ports is not None  # the model requires it without a balancer
        proxy["http"]["nodePort"] = args.gateway.node_ports.http
        proxy["tls"]["nodePort"] = args.gateway.node_ports.https
    return {
        "image": {"repository": kong.name, "tag": kong.tag, "pullSecrets": pulls},
        "env": {
            "database": "off",
            "router_flavor": "traditional",  # what the ingress controller generates routes for
            "nginx_worker_processes": "2",
            "proxy_access_log": "/dev/stdout",
            "proxy_error_log": "/dev/stderr",
            "admin_access_log": "/dev/stdout",
            "admin_error_log": "/dev/stderr",
            **provided,
            "headers": "off",  # no Server / Via / X-Kong-* banners towards clients
            # Kong Manager's listener: Kong's default binds every interface (0.0.0.0:8002/8445),
            # and chart 3.4.1 sets KONG_ADMIN_GUI_LISTEN from `manager` only in enterprise mode.
            "admin_gui_listen": "off",
            # No X-Forwarded-For is trusted: the client address Kong sees is the connection's
            # (kept by externalTrafficPolicy: Local), so a client cannot forge another's address
            # to slip out of its rate limit.
        },
        "secretVolumes": [TLS_SECRET] if args.default_certificate else [],
        "extraLabels": {"app.kubernetes.io/part-of": PART_OF, SITE_LABEL: args.site},
        "replicaCount": args.sizing.replicas,
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "podDisruptionBudget": {"enabled": args.sizing.replicas > 1, "maxUnavailable": 1},
        "priorityClassName": PLATFORM_PRIORITY.name,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(KONG_POD_LABELS)},
            }
        ],
        "proxy": proxy,
        "admin": {"enabled": False},  # the controller talks to Kong inside the pod
        "status": {"enabled": True, "http": {"enabled": True, "containerPort": STATUS_PORT}},
        # Kong 3.4.1's ingress-class template emits the IngressClass only when a `lookup` finds
        # none, or finds one annotated with this release's name. helm.v4.Chart renders against the
        # live cluster without that annotation, so the class would appear on one `pulumi up` and
        # be deleted on the next. The program owns it instead (KongGateway._ingress_class).
        "ingressController": {
            "enabled": True,
            "ingressClass": INGRESS_CLASS,
            "createIngressClass": False,
            "installCRDs": False,  # the chart's crds/ folder is applied by helm.v4.Chart
            "image": {"repository": controller.name, "tag": controller.tag},
            "resources": CONTROLLER_RESOURCES,
            "env": {"kong_admin_tls_skip_verify": True},  # Kong's admin API on localhost only
            # Without a provided certificate the chart generates a new CA and certificate with
            # genCA on every render (the lookup that would keep them only sees a live cluster
            # under `helm install`): under helm.v4.Chart every `pulumi up` would replace them. The
            # program issues them once with pulumi-tls (KongGateway._webhook_certificate). With
            # `provided` and no caBundle, Kong 3.4.1's admission-webhook.yaml writes no caBundle
            # (`if .Values...certificate.caBundle`): webhook_ca_transform puts it there.
            "admissionWebhook": {
                "enabled": True,
                "certificate": {"provided": True, "secretName": WEBHOOK_TLS_SECRET},
            },
        },
        # Kong Manager: the chart renders a NodePort Service for it by default; no GUI, no Service
        # (its listener is off through env.admin_gui_listen above).
        "manager": {"enabled": False, "http": {"enabled": False}, "tls": {"enabled": False}},
        # DB-less: nothing to wait for, no migrations.
        "waitImage": {"enabled": False},
        "migrations": {"preUpgrade": False, "postUpgrade": False},
        "serviceMonitor": {
            "enabled": True,
            # Under helm.v4.Chart the CRD check (.Capabilities) cannot see the monitoring layer's
            # CRDs when both are created in one run; the monitoring layer provides them.
            "trustCRDsExist": True,
            "interval": "30s",
        },
        "deployment": {"serviceAccount": {"create": True, "automountServiceAccountToken": False}},
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


WEBHOOK_CONFIGURATION = "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration"


def webhook_ca_transform(ca_pem: pulumi.Output[str]) -> pulumi.ResourceTransform:
    """The admission webhook's CA into the chart's ValidatingWebhookConfiguration, and nowhere
    else: at a site's first preview the CA does not exist yet, so only this object shows an
    unknown `caBundle`, while every other object of the chart is rendered and judged. (The
    transform's result is serialized after the CA resolves: on `up` the object is registered
    with the CA that was just made.)"""
    ca_bundle = ca_pem.apply(lambda pem: base64.b64encode(pem.encode()).decode())

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != WEBHOOK_CONFIGURATION:
            return None
        props = copy.deepcopy(dict(args.props))
        webhooks = props.get("webhooks") or []
        ours = [
            w
            for w in webhooks
            if ((w.get("clientConfig") or {}).get("service") or {}).get("name") == WEBHOOK_SERVICE
        ]
        if not ours:
            return None
        for webhook in ours:
            webhook["clientConfig"]["caBundle"] = ca_bundle
        return pulumi.ResourceTransformResult(props, args.opts)

    return transform


class KongGateway(pulumi.ComponentResource):
    """Kong for one site. `routes` is what services take from it; `proxy_address` what ops read."""

    routes: GatewayRoutes
    proxy_address: str

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:gateway:KongGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        certificate = self._certificate(args, child) if args.default_certificate else None
        webhook_ca, webhook_secret = self._webhook_certificate(args, child)
        ingress_class = self._ingress_class(args, child)
        chart = pinned_chart(
            RELEASE,
            KONG_CHART,
            site=args.site,
            registry=args.registry,
            namespace=ns,
            values=chart_values(args),
            transforms=(webhook_ca_transform(webhook_ca),),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[
                        *([certificate] if certificate else []),
                        webhook_secret,
                        ingress_class,
                        *args.after,
                    ]
                ),
            ),
        )
        after_chart = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[chart]))
        self._global_plugins(args, after_chart)
        self._route_plugins(args, after_chart)
        self._consumer(args, after_chart)
        self._network_policy(args, child)
        # The API host's certificate, where the services' Ingresses are (each names its Secret).
        api_certificate = (
            args.certificates.for_host(
                f"{args.gateway.hostname}.{args.domain}",
                namespace=args.routes_namespace,
                component="gateway",
                opts=child,
            )
            if args.certificates is not None
            else None
        )
        self.routes = GatewayRoutes(
            ingress_class=INGRESS_CLASS,
            plugins_namespace=args.routes_namespace.name,
            guarded_plugins=(JWT_PLUGIN, RATE_LIMIT_PLUGIN),
            public_plugins=(RATE_LIMIT_PLUGIN,),
            namespace=args.namespace,
            pod_labels=KONG_POD_LABELS,
            certificates=args.certificates,
            api_certificate=api_certificate,
        )
        if args.load_balancer:
            self.proxy_address = f"https://{args.namespace.service_host(PROXY_SERVICE)} (LoadBalancer)"
        else:
            assert args.gateway.node_ports is not None
            self.proxy_address = f"https://<any node>:{args.gateway.node_ports.https}"
        self.register_outputs({"proxyAddress": self.proxy_address})

    # -- TLS ---------------------------------------------------------------------------------

    def _certificate(self, args: GatewayArgs, child: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        """The stack file's certificate (`certificates.issuer: provided`), Kong's default."""
        assert args.gateway.tls is not None  # the model requires it with a provided certificate
        cert = args.gateway.tls.certificate.output()
        key = args.gateway.tls.key.output()
        return k8s.core.v1.Secret(
            TLS_SECRET,
            metadata=metadata(args.site, TLS_SECRET, "gateway", namespace=args.namespace.ready),
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert, "tls.key": key},
            opts=child,
        )

    def _webhook_certificate(
        self, args: GatewayArgs, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Output[str], k8s.core.v1.Secret]:
        """A private CA and the serving certificate of the controller's admission webhook, made
        once and kept in state, so that renders are stable (see chart_values)."""
        ca_key = tls.PrivateKey("kong-webhook-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            "kong-webhook-ca",
            private_key_pem=ca_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name="kong-admission-ca", organization=PART_OF),
            is_ca_certificate=True,
            validity_period_hours=24 * WEBHOOK_CA_DAYS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=child,
        )
        host = args.namespace.service_host(WEBHOOK_SERVICE)
        key = tls.PrivateKey("kong-webhook-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            "kong-webhook-csr",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=host),
            dns_names=[host, f"{WEBHOOK_SERVICE}.{args.namespace.name}.svc"],
            opts=child,
        )
        cert = tls.LocallySignedCert(
            "kong-webhook-cert",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=24 * WEBHOOK_CERT_DAYS,
            early_renewal_hours=24 * WEBHOOK_RENEW_DAYS,
            allowed_uses=["key_encipherment", "digital_signature", "server_auth"],
            opts=child,
        )
        secret = k8s.core.v1.Secret(
            WEBHOOK_TLS_SECRET,
            metadata=metadata(args.site, WEBHOOK_TLS_SECRET, "gateway", namespace=args.namespace.ready),
            type="kubernetes.io/tls",
            string_data={"tls.crt": cert.cert_pem, "tls.key": pulumi.Output.secret(key.private_key_pem)},
            opts=child,
        )
        return ca.cert_pem, secret

    def _ingress_class(
        self, args: GatewayArgs, child: pulumi.ResourceOptions
    ) -> k8s.networking.v1.IngressClass:
        """The `kong` IngressClass every route names, owned by the program (see chart_values)."""
        return k8s.networking.v1.IngressClass(
            "kong-ingress-class",
            metadata=metadata(args.site, INGRESS_CLASS, "gateway"),
            spec=k8s.networking.v1.IngressClassSpecArgs(controller=INGRESS_CONTROLLER),
            opts=child,
        )

    # -- plugins -----------------------------------------------------------------------------

    def _global_plugins(self, args: GatewayArgs, opts: pulumi.ResourceOptions) -> None:
        configs: dict[str, dict[str, Any]] = {
            "prometheus": {
                # Every metric family is off unless switched on.
                "status_code_metrics": True,
                "latency_metrics": True,
                "bandwidth_metrics": True,
                "upstream_health_metrics": True,
                "per_consumer": False,
            },
            "cors": {
                "origins": list(args.gateway.cors_origins),
                "methods": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                "headers": ["Authorization", "Content-Type", "X-Request-Id"],
                "exposed_headers": [
                    "X-Request-Id",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                ],
                "credentials": False,
                "max_age": 600,
            },
            "request-size-limiting": {
                "allowed_payload_size": args.gateway.request_size_limit_mb,
                "size_unit": "megabytes",
                "require_content_length": False,
            },
        }
        for plugin in GLOBAL_PLUGINS:
            KubernetesObject(
                f"kong-plugin-{plugin}",
                api_version="configuration.konghq.com/v1",
                kind="KongClusterPlugin",
                metadata=metadata(
                    args.site,
                    plugin,
                    "gateway",
                    labels={"global": "true"},
                    annotations={"kubernetes.io/ingress.class": INGRESS_CLASS},
                ),
                fields={"plugin": plugin, "config": configs[plugin]},
                opts=opts,
            )

    def _route_plugins(self, args: GatewayArgs, opts: pulumi.ResourceOptions) -> None:
        ns = args.routes_namespace.ready
        annotations = {"kubernetes.io/ingress.class": INGRESS_CLASS}
        KubernetesObject(
            f"kong-plugin-{JWT_PLUGIN}",
            api_version="configuration.konghq.com/v1",
            kind="KongPlugin",
            metadata=metadata(args.site, JWT_PLUGIN, "gateway", namespace=ns, annotations=annotations),
            fields={"plugin": "jwt", "config": jwt_plugin_config(args.jwt)},
            opts=opts,
        )
        rate_limit: dict[str, Any] = {
            "plugin": "rate-limiting",
            "config": rate_limit_config(args.gateway, args.cache),
        }
        depends: list[pulumi.Resource] = []
        if args.cache is not None:
            password = args.cache.password_in(args.routes_namespace.name)
            # The password is patched in by the controller from the Secret: it never appears
            # in this resource, in the preview or in state.
            rate_limit["configPatches"] = [
                {
                    "path": "/redis/password",
                    "valueFrom": {"secretKeyRef": {"name": password.name, "key": password.key}},
                }
            ]
            depends.append(password.secret)
        KubernetesObject(
            f"kong-plugin-{RATE_LIMIT_PLUGIN}",
            api_version="configuration.konghq.com/v1",
            kind="KongPlugin",
            metadata=metadata(args.site, RATE_LIMIT_PLUGIN, "gateway", namespace=ns, annotations=annotations),
            fields=rate_limit,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=depends)),
        )

    def _consumer(self, args: GatewayArgs, opts: pulumi.ResourceOptions) -> None:
        credentials = []
        names = []
        # One credential per trusted key generation, registered under its kid: tokens signed by
        # either key verify during a rotation.
        for key in args.jwt.keys:
            name = f"{CONSUMER}-jwt-{key.generation}"
            names.append(name)
            credentials.append(
                k8s.core.v1.Secret(
                    f"kong-jwt-credential-{key.generation}",
                    metadata=metadata(
                        args.site,
                        name,
                        "gateway",
                        namespace=args.namespace.ready,
                        # KIC 3.x reads the credential type from this label (and validates it).
                        labels={"konghq.com/credential": "jwt"},
                    ),
                    type="Opaque",
                    string_data={
                        "key": key.kid,
                        "algorithm": ALGORITHM,
                        "rsa_public_key": key.public_key_pem,
                    },
                    opts=opts,
                )
            )
        KubernetesObject(
            "kong-consumer",
            api_version="configuration.konghq.com/v1",
            kind="KongConsumer",
            metadata=metadata(
                args.site,
                CONSUMER,
                "gateway",
                namespace=args.namespace.ready,
                annotations={"kubernetes.io/ingress.class": INGRESS_CLASS},
            ),
            fields={"username": CONSUMER, "credentials": names},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=credentials)),
        )

    # -- network -----------------------------------------------------------------------------

    def _network_policy(self, args: GatewayArgs, child: pulumi.ResourceOptions) -> None:
        policy = k8s.networking.v1

        ingress = [
            # Clients reach the proxy from anywhere (the balancer or the nodes forward them);
            # the API server calls the controller's admission webhook.
            policy.NetworkPolicyIngressRuleArgs(
                ports=netpol.tcp(PROXY_HTTP_PORT, PROXY_HTTPS_PORT, ADMISSION_WEBHOOK_PORT)
            ),
        ]
        if args.scrapers:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers),
                    ports=netpol.tcp(STATUS_PORT, CONTROLLER_METRICS_PORT),
                )
            )
        egress = [
            # Upstream services, on whatever port their Service targets.
            policy.NetworkPolicyEgressRuleArgs(to=netpol.namespaces(*args.upstream_namespaces)),
            # The controller watches the Kubernetes API (its address is the cluster's, not a pod).
            netpol.kubernetes_api(),
        ]
        if args.cache is not None:
            egress.append(args.cache.client_egress())
        policy.NetworkPolicy(
            "kong",
            metadata=metadata(args.site, "kong", "gateway", namespace=args.namespace.ready),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(KONG_POD_LABELS)),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=egress,
            ),
            opts=child,
        )
