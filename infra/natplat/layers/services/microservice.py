"""The hardened workload every platform service gets, whatever it does: a Deployment that runs
unprivileged on a read-only root filesystem, its Service, autoscaling and disruption budget per
profile, a NetworkPolicy that names exactly who may call it and whom it calls, a ServiceMonitor,
and its routes through Kong."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks import netpol
from natplat.blocks.images import ServiceImage
from natplat.blocks.labels import PART_OF, metadata
from natplat.layers.baseline import SERVICES_PRIORITY, PlacedNamespace
from natplat.layers.cache import CacheEndpoint
from natplat.layers.gateway.routes import GatewayRoutes
from natplat.spec.model import ServiceWorkload

HTTP_PORT = 8080
SERVICE_PORT = 80
RUN_AS = 1000  # the `node` user of the official Node.js images
SHUTDOWN_SECONDS = 20
"""How long a pod may take to finish its requests once it stops accepting; the grace period adds
the drain delay on top."""
DRAIN_DELAY_SECONDS = 5
"""After SIGTERM, how long the service keeps accepting and serving (each response with
`Connection: close`) while the endpoints and Kong stop routing to the pod: Kubernetes removes the
endpoints as it sends SIGTERM, asynchronously. In the process rather than a pre-stop pause, so
that kept-alive connections are closed after a response, never under a request on its way."""


@dataclass(frozen=True)
class MountedFiles:
    """A Secret or ConfigMap mounted read-only into the container."""

    volume: str
    path: str
    secret: str | None = None
    config_map: str | None = None
    items: Mapping[str, str] = field(default_factory=dict)
    """Key → file name; empty mounts every key."""


@dataclass(frozen=True)
class MicroserviceArgs:
    site: str
    name: str
    image: ServiceImage
    sizing: ServiceWorkload
    autoscale: bool
    disruption_budget: bool
    namespace: PlacedNamespace
    host: str
    guarded_routes: tuple[str, ...]
    gateway: GatewayRoutes
    callers: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    cache: CacheEndpoint | None = None
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    files: tuple[MountedFiles, ...] = ()
    scrapers: tuple[PlacedNamespace, ...] = ()
    pull_secret: str | None = None
    depends_on: tuple[pulumi.Resource, ...] = ()


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}


class Microservice(pulumi.ComponentResource):
    """One service of the platform, deployed the same hardened way as every other."""

    urls: list[str]

    def __init__(self, name: str, args: MicroserviceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:Microservice", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata=metadata(args.site, name, "service", namespace=ns),
            automount_service_account_token=False,  # services never call the Kubernetes API
            opts=child,
        )
        depends: list[pulumi.Resource] = [account, *args.depends_on]
        if args.image.built is not None:
            depends.append(args.image.built)
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=metadata(args.site, name, "service", namespace=ns),
            spec=self._deployment_spec(),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=depends)),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata(args.site, name, "service", namespace=ns),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector(name),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="http", port=SERVICE_PORT, target_port="http", protocol="TCP"
                    )
                ],
            ),
            opts=child,
        )
        after = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[deployment]))
        if args.autoscale:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-autoscaler",
                metadata=metadata(args.site, name, "service", namespace=ns),
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=name
                    ),
                    min_replicas=args.sizing.replicas,
                    max_replicas=args.sizing.max_replicas,
                    metrics=[
                        k8s.autoscaling.v2.MetricSpecArgs(
                            type="Resource",
                            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                                name="cpu",
                                target=k8s.autoscaling.v2.MetricTargetArgs(
                                    type="Utilization", average_utilization=70
                                ),
                            ),
                        )
                    ],
                ),
                opts=after,
            )
        if args.disruption_budget:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-disruption-budget",
                metadata=metadata(args.site, name, "service", namespace=ns),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(name)),
                ),
                opts=after,
            )
        self._network_policy(child)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata(args.site, name, "service", namespace=ns),
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
            },
            opts=after,
        )
        self.urls = [f"https://{args.host}{route}" for route in args.guarded_routes]
        if args.guarded_routes:
            self._ingress(args.guarded_routes, after)
        self.register_outputs({"urls": self.urls})

    # -- workload ----------------------------------------------------------------------------

    def _deployment_spec(self) -> k8s.apps.v1.DeploymentSpecArgs:
        args = self._args
        resources = args.sizing.resources
        env = {
            "PORT": str(HTTP_PORT),
            "LOG_LEVEL": "info",
            "DRAIN_DELAY_MS": str(DRAIN_DELAY_SECONDS * 1000),
            "SHUTDOWN_TIMEOUT_MS": str(SHUTDOWN_SECONDS * 1000),
            **args.env,
        }
        mounts = [
            k8s.core.v1.VolumeMountArgs(name=files.volume, mount_path=files.path, read_only=True)
            for files in args.files
        ]
        volumes = [self._volume(files) for files in args.files]
        probe = {"http_get": k8s.core.v1.HTTPGetActionArgs(path="/healthz", port="http")}
        container = k8s.core.v1.ContainerArgs(
            name=args.name,
            image=args.image.reference,
            image_pull_policy=args.image.pull_policy,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP_PORT, protocol="TCP")],
            env=[k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in sorted(env.items())],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": resources.cpu, "memory": resources.memory},
                limits={"memory": resources.memory_limit},
            ),
            security_context=k8s.core.v1.SecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS,
                run_as_group=RUN_AS,
                allow_privilege_escalation=False,
                read_only_root_filesystem=True,
                privileged=False,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            startup_probe=k8s.core.v1.ProbeArgs(**probe, period_seconds=2, failure_threshold=30),
            liveness_probe=k8s.core.v1.ProbeArgs(**probe, period_seconds=10, failure_threshold=3),
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path="/readyz", port="http"),
                period_seconds=5,
                failure_threshold=2,
            ),
            volume_mounts=mounts or None,
        )
        spread = [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key=key,
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(args.name)),
            )
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ]
        labels = {**selector(args.name), "app.kubernetes.io/component": "service"}
        return k8s.apps.v1.DeploymentSpecArgs(
            # With an autoscaler the replica count is its to set; Pulumi must not reset it.
            replicas=None if args.autoscale else args.sizing.replicas,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(args.name)),
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
            ),
            revision_history_limit=5,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=args.name,
                    automount_service_account_token=False,
                    priority_class_name=SERVICES_PRIORITY.name,
                    termination_grace_period_seconds=DRAIN_DELAY_SECONDS + SHUTDOWN_SECONDS + 5,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True,
                        run_as_user=RUN_AS,
                        run_as_group=RUN_AS,
                        fs_group=RUN_AS,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    image_pull_secrets=(
                        [k8s.core.v1.LocalObjectReferenceArgs(name=args.pull_secret)]
                        if args.pull_secret
                        else None
                    ),
                    containers=[container],
                    volumes=volumes or None,
                    topology_spread_constraints=spread,
                ),
            ),
        )

    @staticmethod
    def _volume(files: MountedFiles) -> k8s.core.v1.VolumeArgs:
        items = [k8s.core.v1.KeyToPathArgs(key=key, path=path) for key, path in files.items.items()] or None
        if files.secret is not None:
            return k8s.core.v1.VolumeArgs(
                name=files.volume,
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=files.secret, items=items, default_mode=0o440
                ),
            )
        return k8s.core.v1.VolumeArgs(
            name=files.volume,
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=files.config_map, items=items, default_mode=0o444
            ),
        )

    # -- network -----------------------------------------------------------------------------

    def _network_policy(self, child: pulumi.ResourceOptions) -> None:
        args = self._args
        policy = k8s.networking.v1
        http = netpol.tcp(HTTP_PORT)

        def pods(names: tuple[str, ...]) -> list[policy.NetworkPolicyPeerArgs]:
            return [netpol.pods(selector(name)) for name in names]

        gateway = netpol.pods_in(args.gateway.namespace.name, args.gateway.pod_labels)
        ingress = [policy.NetworkPolicyIngressRuleArgs(from_=[gateway, *pods(args.callers)], ports=http)]
        if args.scrapers:
            ingress.append(
                policy.NetworkPolicyIngressRuleArgs(
                    from_=netpol.namespaces(*args.scrapers),
                    ports=http,
                )
            )
        egress = []
        if args.dependencies:
            egress.append(policy.NetworkPolicyEgressRuleArgs(to=pods(args.dependencies), ports=http))
        if args.cache is not None:
            egress.append(args.cache.client_egress())
        policy.NetworkPolicy(
            f"{args.name}-network",
            metadata=metadata(args.site, args.name, "service", namespace=args.namespace.ready),
            spec=policy.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(args.name)),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                # DNS egress comes from the namespace baseline; nothing else leaves the pod.
                egress=egress,
            ),
            opts=child,
        )

    # -- routes ------------------------------------------------------------------------------

    def _ingress(self, routes: tuple[str, ...], opts: pulumi.ResourceOptions) -> None:
        """The service's guarded routes on the API host (every route of a service needs a token)."""
        args = self._args
        tls = args.gateway.api_tls(args.host)
        k8s.networking.v1.Ingress(
            f"{args.name}-ingress",
            metadata=metadata(
                args.site,
                args.name,
                "service",
                namespace=args.namespace.ready,
                annotations=args.gateway.annotations(public=False),
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=args.gateway.ingress_class,
                tls=tls.tls,
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=args.host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path=route,
                                    path_type="Prefix",
                                    backend=k8s.networking.v1.IngressBackendArgs(
                                        service=k8s.networking.v1.IngressServiceBackendArgs(
                                            name=args.name,
                                            port=k8s.networking.v1.ServiceBackendPortArgs(name="http"),
                                        )
                                    ),
                                )
                                for route in routes
                            ]
                        ),
                    )
                ],
            ),
            opts=tls.opts(opts),
        )
