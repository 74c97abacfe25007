"""Keycloak through its official operator: the operator as its project publishes it for
Kubernetes (CRDs and Deployment by URL, adapted on the way in), one `Keycloak` resource sized by
profile, the realm applied by a content-named Job on every change, and the route through Kong.

What Kong serves on auth.<domain>: the site realm's endpoints (`/realms/<realm>`: discovery,
authorization, token, JWKS, login and account pages) and the static resources the login pages
load (`/resources`). Nothing else: not the admin console nor the admin REST API (`/admin`), not
the `master` realm. Administrators reach the console with `kubectl port-forward` (README,
"First admin login"): an admin surface on the public network is one more thing to defend, and
the realm itself is managed as code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from natplat.blocks import netpol
from natplat.blocks.charts import label_transform
from natplat.blocks.labels import common_labels, metadata
from natplat.layers.baseline import PLATFORM_PRIORITY, PlacedNamespace
from natplat.layers.certificates import TRUST_BUNDLE, distribute_trust
from natplat.layers.gateway.routes import INGRESS_CLASS, PUBLIC_ROUTE_ANNOTATION, GatewayRoutes, public_paths
from natplat.layers.identity import realm_sync
from natplat.layers.identity.database import DatabaseEndpoint
from natplat.layers.identity.realm import RealmKey, render_realm
from natplat.layers.signing import JwtChain
from natplat.spec.catalog import (
    IDENTITY_IMAGES,
    KEYCLOAK_OPERATOR_MANIFESTS,
    resolve_image,
    resolve_manifest,
)
from natplat.spec.identity import IdentitySection
from natplat.spec.model import RegistrySection, Workload

KEYCLOAK = "keycloak"
KEYCLOAK_POD_LABELS = {"app": "keycloak", "app.kubernetes.io/instance": KEYCLOAK}
"""Labels the operator puts on the Keycloak pods it runs for the `keycloak` resource."""
KEYCLOAK_SERVICE = f"{KEYCLOAK}-service"
"""The Service the operator creates for it (`<name>-service`)."""
OPERATOR_LABELS = {"app.kubernetes.io/name": "keycloak-operator"}
HTTP_PORT = 8080
MANAGEMENT_PORT = 9000
"""Health and metrics (Keycloak's management interface), never routed."""
CLUSTER_PORTS = (7800, 57800)
"""Infinispan's JGroups transport and failure detection between Keycloak instances."""
BOOTSTRAP_USER = "keycloak-bootstrap-admin"
BOOTSTRAP_SERVICE = "keycloak-bootstrap-service"
SYNC_CLIENT_ID = "platform-realm-sync"
REALM_SECRET = "keycloak-realm"  # noqa: S105 - a Secret's name
REALM_SYNC_LABELS = {"app.kubernetes.io/name": "realm-sync"}
OPERATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "450Mi"}, "limits": {"memory": "450Mi"}}
"""The upstream manifest's memory (450Mi, request = limit) with a lower CPU request and no CPU limit."""
SYNC_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}

POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

REALM_SYNC_SOURCE = Path(realm_sync.__file__).read_text(encoding="utf-8")


@dataclass(frozen=True)
class IdentityArgs:
    site: str
    domain: str
    identity: IdentitySection
    api_scopes: tuple[str, ...]
    """The scopes the site's services declare: exactly the realm's API scopes."""
    sizing: Workload
    registry: RegistrySection
    manifest_mirror: str | None
    namespace: PlacedNamespace
    database: DatabaseEndpoint
    gateway: GatewayRoutes
    jwt: JwtChain
    scrapers: tuple[PlacedNamespace, ...]
    pull_secret: str | None
    trust: pulumi.Output[str] | None = None
    """The site's CA certificates, which Keycloak trusts for the directories and identity
    providers it federates (LDAPS, OIDC) besides public CAs. None without federation."""
    after: tuple[pulumi.Resource, ...] = ()
    verifiers: tuple[pulumi.Resource, ...] = ()
    """What verifies the tokens the realm signs (the services, whose pods read the site's public
    keys): the realm applier runs after them, so a key the realm starts signing with is trusted
    everywhere first (a rotation without a single 401; Kong's credentials come with the gateway,
    which the identity layer already follows)."""

    @property
    def host(self) -> str:
        return f"{self.identity.hostname}.{self.domain}"

    @property
    def highly_available(self) -> bool:
        return self.sizing.replicas >= 2


def operator_transform(
    namespace: str, registry: RegistrySection, pull_secret: str | None
) -> pulumi.ResourceTransform:
    """Adapts the operator's upstream manifest (kubernetes.yml) as it is applied: every namespaced
    object into the identity namespace (the upstream ClusterRoleBinding names `keycloak`), images
    from the site's registry (the operator itself and the Keycloak it runs), the pod hardened for
    Pod Security `restricted`, sized, prioritised, with the pull secret."""
    operator_image = resolve_image(IDENTITY_IMAGES["operator"], registry).reference
    keycloak_image = resolve_image(IDENTITY_IMAGES["keycloak"], registry).reference

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.type_.startswith("kubernetes:") or args.type_.startswith("kubernetes:yaml"):
            return None
        return pulumi.ResourceTransformResult(
            adapt_operator_object(dict(args.props), namespace, operator_image, keycloak_image, pull_secret),
            args.opts,
        )

    return transform


OPERATOR_RELEASE = "keycloak-operator"
"""What the platform's labels call the objects of the operator's manifests."""


def manifest_transforms(
    key: str, *, site: str, namespace: str, registry: RegistrySection, pull_secret: str | None
) -> list[pulumi.ResourceTransform]:
    """What the program does to each object of the catalog's manifest `key`
    (KEYCLOAK_OPERATOR_MANIFESTS) as it applies it; `make render-charts` applies the same to the
    pinned files, so the render judges what a cluster gets."""
    labels = label_transform(site, OPERATOR_RELEASE)
    if key == "operator":
        return [operator_transform(namespace, registry, pull_secret), labels]
    return [labels]


def adapt_operator_object(
    obj: dict[str, Any], namespace: str, operator_image: str, keycloak_image: str, pull_secret: str | None
) -> dict[str, Any]:
    """One object of the operator's manifest, as the platform applies it (a pure function, so the
    tests check it object by object)."""
    kind = obj.get("kind")
    meta = dict(obj.get("metadata") or {})
    if kind not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
        meta["namespace"] = namespace
    obj["metadata"] = meta
    if kind in ("ClusterRoleBinding", "RoleBinding"):
        obj["subjects"] = [
            {**subject, "namespace": namespace} if subject.get("kind") == "ServiceAccount" else subject
            for subject in obj.get("subjects") or []
        ]
    if kind == "Deployment":
        spec = dict(obj["spec"])
        template = dict(spec["template"])
        pod = dict(template["spec"])
        containers = []
        for container in pod.get("containers") or []:
            adapted = dict(container)
            adapted["image"] = operator_image
            adapted["imagePullPolicy"] = "IfNotPresent"
            adapted["env"] = [
                {**env, "value": keycloak_image} if env.get("name") == "RELATED_IMAGE_KEYCLOAK" else env
                for env in container.get("env") or []
            ]
            adapted["resources"] = OPERATOR_RESOURCES
            adapted["securityContext"] = {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True}
            adapted["volumeMounts"] = [
                *(container.get("volumeMounts") or []),
                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir of its own,
            ]
            containers.append(adapted)
        pod["containers"] = containers
        pod["volumes"] = [*(pod.get("volumes") or []), {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
        pod["securityContext"] = POD_SECURITY
        pod["priorityClassName"] = PLATFORM_PRIORITY.name
        pod["automountServiceAccountToken"] = True  # it is a controller: it calls the API
        if pull_secret:
            pod["imagePullSecrets"] = [{"name": pull_secret}]
        template["spec"] = pod
        spec["template"] = template
        obj["spec"] = spec
    return obj


def keycloak_spec(args: IdentityArgs) -> dict[str, Any]:
    resources = args.sizing.resources
    image = resolve_image(IDENTITY_IMAGES["keycloak"], args.registry)
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "DoNotSchedule" if key == "kubernetes.io/hostname" else "ScheduleAnyway",
            "labelSelector": {"matchLabels": KEYCLOAK_POD_LABELS},
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]
    spec: dict[str, Any] = {
        "instances": args.sizing.replicas,
        "image": image.reference,
        "startOptimized": False,
        "db": {
            "vendor": "postgres",
            "host": args.database.host,
            "port": args.database.port,
            "database": args.database.database,
            "usernameSecret": {"name": args.database.credentials_name, "key": "username"},
            "passwordSecret": {"name": args.database.credentials_name, "key": "password"},
        },
        # TLS ends at Kong; inside the cluster only Kong's pods and the realm applier may reach
        # this port (NetworkPolicy below).
        "http": {"httpEnabled": True, "httpPort": HTTP_PORT},
        "hostname": {"hostname": f"https://{args.host}", "strict": True, "backchannelDynamic": False},
        "proxy": {"headers": "xforwarded"},
        "ingress": {"enabled": False},
        "bootstrapAdmin": {"user": {"secret": BOOTSTRAP_USER}, "service": {"secret": BOOTSTRAP_SERVICE}},
        "additionalOptions": [
            {"name": "metrics-enabled", "value": "true"},
            {"name": "health-enabled", "value": "true"},
            {"name": "log-console-output", "value": "json"},
        ],
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "scheduling": {
            "priorityClassName": PLATFORM_PRIORITY.name,
            **({"topologySpreadConstraints": spread} if args.highly_available else {}),
        },
        # Pod Security `restricted`: the operator merges this template into the pods it runs.
        # Keycloak writes its build and temporary files under /opt/keycloak: no read-only root.
        "unsupported": {
            "podTemplate": {
                "metadata": {"labels": common_labels(args.site, KEYCLOAK, "identity")},
                "spec": {
                    "securityContext": POD_SECURITY,
                    "containers": [{"name": "keycloak", "securityContext": CONTAINER_SECURITY}],
                },
            }
        },
    }
    if args.pull_secret:
        spec["imagePullSecrets"] = [{"name": args.pull_secret}]
    if args.trust is not None:
        # The operator mounts the Secret's PEM certificates into Keycloak's trust store.
        spec["truststores"] = {"platform": {"secret": {"name": TRUST_BUNDLE}}}
    return spec


def realm_document(args: IdentityArgs, secrets: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[str]:
    """The rendered realm as JSON, a secret: it holds the site's private signing keys."""
    keys: Sequence[Any] = [
        pulumi.Output.all(key.generation, key.private_key_pem, key.kid) for key in args.jwt.keys
    ]
    names = sorted(secrets)

    def render(values: list[Any]) -> str:
        realm_keys = [RealmKey(*item) for item in values[: len(keys)]]
        plain = dict(zip(names, values[len(keys) :], strict=True))
        document = render_realm(
            args.identity,
            api_scopes=args.api_scopes,
            display_name=f"National platform ({args.site})",
            keys=realm_keys,
            oidc_secrets={a.removeprefix("oidc:"): v for a, v in plain.items() if a.startswith("oidc:")},
            ldap_bind_credential=plain.get("ldap"),
        )
        return json.dumps(document, sort_keys=True, indent=1)

    return pulumi.Output.secret(pulumi.Output.all(*keys, *(secrets[n] for n in names)).apply(render))


class KeycloakServer(pulumi.ComponentResource):
    """The operator, Keycloak, its realm and its route."""

    url: str
    issuer: str

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:identity:KeycloakServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        manifests = {
            key: resolve_manifest(manifest, args.registry, args.manifest_mirror)
            for key, manifest in KEYCLOAK_OPERATOR_MANIFESTS.items()
        }

        def transforms(key: str) -> list[pulumi.ResourceTransform]:
            return manifest_transforms(
                key,
                site=args.site,
                namespace=args.namespace.name,
                registry=args.registry,
                pull_secret=args.pull_secret,
            )

        crds = [
            k8s.yaml.v2.ConfigFile(
                f"keycloak-{key}",
                file=manifests[key],
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=list(args.after), transforms=transforms(key))
                ),
            )
            for key in ("keycloaksCrd", "realmImportsCrd")
        ]
        operator = k8s.yaml.v2.ConfigFile(
            OPERATOR_RELEASE,
            file=manifests["operator"],
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=crds, transforms=transforms("operator"))
            ),
        )
        secrets = self._bootstrap_secrets(args, child)
        if args.trust is not None:
            # Keycloak's operator reads trust stores from Secrets only.
            secrets.append(
                distribute_trust(
                    args.site,
                    args.trust,
                    namespace=args.namespace,
                    component="identity",
                    opts=child,
                    as_secret=True,
                )
            )
        server = k8s.apiextensions.CustomResource(
            KEYCLOAK,
            api_version="k8s.keycloak.org/v2alpha1",
            kind="Keycloak",
            metadata=metadata(args.site, KEYCLOAK, "identity", namespace=ns),
            spec=keycloak_spec(args),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[operator, args.database.credentials, *secrets])
            ),
        )
        if args.highly_available:
            k8s.policy.v1.PodDisruptionBudget(
                "keycloak-pdb",
                metadata=metadata(args.site, KEYCLOAK, "identity", namespace=ns),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=KEYCLOAK_POD_LABELS),
                ),
                opts=child,
            )
        self._realm_job(args, secrets[1], server, child)
        self._route(args, server, child)
        if args.scrapers:
            k8s.apiextensions.CustomResource(
                "keycloak-metrics",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=metadata(args.site, KEYCLOAK, "identity", namespace=ns),
                spec={
                    "selector": {"matchLabels": KEYCLOAK_POD_LABELS},
                    "podMetricsEndpoints": [{"port": "management", "path": "/metrics", "interval": "30s"}],
                },
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[server])),
            )
        self._network_policies(args, child)
        self.url = f"https://{args.host}"
        self.issuer = args.jwt.issuer
        self.register_outputs({"url": self.url, "issuer": self.issuer})

    def _bootstrap_secrets(
        self, args: IdentityArgs, child: pulumi.ResourceOptions
    ) -> list[k8s.core.v1.Secret]:
        """The temporary admin the operator bootstraps Keycloak with (for the first human login,
        README runbook) and the service account the realm applier authenticates as."""
        ns = args.namespace.ready
        password = random.RandomPassword("keycloak-bootstrap-password", length=32, special=False, opts=child)
        client_secret = random.RandomPassword("keycloak-sync-secret", length=40, special=False, opts=child)
        return [
            k8s.core.v1.Secret(
                BOOTSTRAP_USER,
                metadata=metadata(args.site, BOOTSTRAP_USER, "identity", namespace=ns),
                type="kubernetes.io/basic-auth",
                string_data={"username": "temp-admin", "password": pulumi.Output.secret(password.result)},
                opts=child,
            ),
            k8s.core.v1.Secret(
                BOOTSTRAP_SERVICE,
                metadata=metadata(args.site, BOOTSTRAP_SERVICE, "identity", namespace=ns),
                type="Opaque",
                string_data={
                    "client-id": SYNC_CLIENT_ID,
                    "client-secret": pulumi.Output.secret(client_secret.result),
                },
                opts=child,
            ),
        ]

    def _realm_job(
        self,
        args: IdentityArgs,
        service: k8s.core.v1.Secret,
        server: pulumi.Resource,
        child: pulumi.ResourceOptions,
    ) -> None:
        ns = args.namespace.ready
        secrets: dict[str, pulumi.Output[str]] = {
            f"oidc:{p.alias}": p.client_secret.output() for p in args.identity.federation.oidc
        }
        if args.identity.federation.ldap is not None:
            secrets["ldap"] = args.identity.federation.ldap.bind_credential.output()
        document = realm_document(args, secrets)
        # A digest of the document names the Job: it tells nothing of the keys inside, so it is
        # not kept secret (a secret name would hide the whole Job in previews and plans).
        digest = pulumi.Output.unsecret(
            pulumi.Output.all(document, REALM_SYNC_SOURCE).apply(
                lambda parts: hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]
            )
        )
        realm_secret = k8s.core.v1.Secret(
            "keycloak-realm",
            metadata=metadata(args.site, REALM_SECRET, "identity", namespace=ns),
            type="Opaque",
            string_data={"realm.json": document},
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            "realm-sync-script",
            metadata=metadata(args.site, "realm-sync", "identity", namespace=ns),
            data={"realm_sync.py": REALM_SYNC_SOURCE},
            opts=child,
        )
        image = resolve_image(IDENTITY_IMAGES["realmSync"], args.registry)
        url = f"http://{args.namespace.service_host(KEYCLOAK_SERVICE)}:{HTTP_PORT}"
        k8s.batch.v1.Job(
            "realm-sync",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=digest.apply(lambda d: f"realm-sync-{d}"),
                namespace=ns,
                labels=common_labels(args.site, "realm-sync", "identity"),
                annotations={"national-platform/realm": args.identity.realm},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6,
                ttl_seconds_after_finished=None,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**common_labels(args.site, "realm-sync", "identity"), **REALM_SYNC_LABELS}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="OnFailure",
                        priority_class_name=PLATFORM_PRIORITY.name,
                        automount_service_account_token=False,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=65534,
                            run_as_group=65534,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=args.pull_secret)]
                        if args.pull_secret
                        else None,
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="apply",
                                image=image.reference,
                                command=[
                                    "python3",
                                    "/sync/realm_sync.py",
                                    f"--url={url}",
                                    "--realm-file=/realm/realm.json",
                                    f"--client-id={SYNC_CLIENT_ID}",
                                    "--client-secret-file=/service/client-secret",
                                ],
                                env=[k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1")],
                                resources=k8s.core.v1.ResourceRequirementsArgs(**SYNC_RESOURCES),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    run_as_non_root=True,
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                                ),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="sync", mount_path="/sync", read_only=True
                                    ),
                                    k8s.core.v1.VolumeMountArgs(
                                        name="realm", mount_path="/realm", read_only=True
                                    ),
                                    k8s.core.v1.VolumeMountArgs(
                                        name="service", mount_path="/service", read_only=True
                                    ),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="sync",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="realm-sync"),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="realm",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=REALM_SECRET),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="service",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=BOOTSTRAP_SERVICE,
                                    items=[
                                        k8s.core.v1.KeyToPathArgs(key="client-secret", path="client-secret")
                                    ],
                                ),
                            ),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[server, realm_secret, script, service, *args.verifiers],
                    delete_before_replace=True,
                ),
            ),
        )

    def _route(self, args: IdentityArgs, server: pulumi.Resource, child: pulumi.ResourceOptions) -> None:
        backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=KEYCLOAK_SERVICE, port=k8s.networking.v1.ServiceBackendPortArgs(number=HTTP_PORT)
            )
        )
        tls = args.gateway.tls(args.host, namespace=args.namespace, component="identity", opts=child)
        annotations = args.gateway.annotations(public=True)
        annotations[PUBLIC_ROUTE_ANNOTATION] = (
            "Keycloak's realm endpoints: how people log in and clients get tokens at all"
        )
        k8s.networking.v1.Ingress(
            "keycloak-ingress",
            metadata=metadata(
                args.site,
                args.identity.hostname,
                "identity",
                namespace=args.namespace.ready,
                annotations=annotations,
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=INGRESS_CLASS,
                tls=tls.tls,
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=args.host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path=path, path_type="Prefix", backend=backend
                                )
                                for path in public_paths("auth", realm=args.identity.realm)
                            ]
                        ),
                    )
                ],
            ),
            opts=tls.opts(pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[server]))),
        )

    def _network_policies(self, args: IdentityArgs, child: pulumi.ResourceOptions) -> None:
        policy = k8s.networking.v1
        ns = args.namespace.ready
        ingress = [
            policy.NetworkPolicyIngressRuleArgs(
                from_=[netpol.pods_in(args.gateway.namespace.name, args.gateway.pod_labels)],
                ports=netpol.tcp(HTTP_PORT),
            ),
            policy.NetworkPolicyIngressRuleArgs(
                from_=[netpol.pods(REALM_SYNC_LABELS)], ports=netpol.tcp(HTTP_PORT)
            ),
            policy.NetworkPolicyIngressRuleArgs(
                from_=[netpol.pods(KEYCLOAK_POD_LABELS)], ports=netpol.tcp(*CLUSTER_PORTS)
            ),
        ]
        if args.scrapers:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers), ports=netpol.tcp(MANAGEMENT_PORT)
                )
            )
        egress = [
            policy.NetworkPolicyEgressRuleArgs(
                to=[netpol.pods_in(args.database.namespace, args.database.pod_labels)],
                ports=netpol.tcp(args.database.port),
            ),
            policy.NetworkPolicyEgressRuleArgs(
                to=[netpol.pods(KEYCLOAK_POD_LABELS)], ports=netpol.tcp(*CLUSTER_PORTS)
            ),
        ]
        federation = args.identity.federation
        if federation.oidc or federation.ldap is not None:
            # Federation: the administrations' identity providers (HTTPS) and directories (LDAPS).
            egress.append(netpol.outwards(443, 636))
        policy.NetworkPolicy(
            "keycloak-server",
            metadata=metadata(args.site, "keycloak-server", "identity", namespace=ns),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=KEYCLOAK_POD_LABELS),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=egress,
            ),
            opts=child,
        )
        policy.NetworkPolicy(
            "keycloak-operator",
            metadata=metadata(args.site, "keycloak-operator", "identity", namespace=ns),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=OPERATOR_LABELS),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                # The operator watches the API and asks Keycloak's management port for health.
                egress=[
                    netpol.kubernetes_api(),
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[netpol.pods(KEYCLOAK_POD_LABELS)], ports=netpol.tcp(MANAGEMENT_PORT, HTTP_PORT)
                    ),
                ],
            ),
            opts=child,
        )
        policy.NetworkPolicy(
            "realm-sync",
            metadata=metadata(args.site, "realm-sync", "identity", namespace=ns),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=REALM_SYNC_LABELS),
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[
                    policy.NetworkPolicyEgressRuleArgs(
                        to=[netpol.pods(KEYCLOAK_POD_LABELS)], ports=netpol.tcp(HTTP_PORT)
                    )
                ],
            ),
            opts=child,
        )
