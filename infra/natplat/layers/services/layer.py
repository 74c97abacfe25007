"""The services layer: every business API a site lists, each deployed as a `Microservice`, with
what they share: the site's public token-verification keys (Keycloak signs with the private
halves) and the cache password."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from natplat.blocks.images import service_image
from natplat.blocks.labels import metadata
from natplat.layers.baseline import PlacedNamespace
from natplat.layers.cache import CacheEndpoint
from natplat.layers.cluster import kind_cluster_name
from natplat.layers.gateway.plugins import jwt_plugin_config
from natplat.layers.gateway.routes import GatewayRoutes
from natplat.layers.services.microservice import Microservice, MicroserviceArgs, MountedFiles
from natplat.layers.signing import JwtChain
from natplat.spec.model import Site

SERVICE_CACHE_DATABASE = 1
"""The Redis database of the services' caches; Kong's rate limiting uses database 0."""

PUBLIC_KEYS_CONFIG_MAP = "jwt-public-keys"
PUBLIC_KEYS_DIR = "/etc/national-platform/jwt"
REDIS_DIR = "/var/run/secrets/national-platform/redis"


@dataclass(frozen=True)
class ServicesArgs:
    site: Site
    namespace: PlacedNamespace
    gateway: GatewayRoutes
    jwt: JwtChain
    cache: CacheEndpoint | None
    scrapers: tuple[PlacedNamespace, ...]
    pull_secret: str | None
    after: tuple[pulumi.Resource, ...] = ()
    """What every workload waits for (the monitoring layer's CRDs, for its ServiceMonitor)."""


class PlatformServices(pulumi.ComponentResource):
    """Every service of one site. `urls` maps each service to its public URLs."""

    urls: dict[str, list[str]]

    def __init__(self, name: str, args: ServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:services:PlatformServices", name, None, opts)
        site = args.site
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace.ready
        self.urls = {}
        public_keys = k8s.core.v1.ConfigMap(
            PUBLIC_KEYS_CONFIG_MAP,
            metadata=metadata(site.name, PUBLIC_KEYS_CONFIG_MAP, "services", namespace=ns),
            # The public halves only: verification keys are not secret.
            data={f"{key.generation}.pem": key.public_key_pem for key in args.jwt.keys},
            opts=child,
        )
        for spec in site.services:
            files = [
                MountedFiles("jwt-public-keys", PUBLIC_KEYS_DIR, config_map=PUBLIC_KEYS_CONFIG_MAP),
            ]
            env: dict[str, pulumi.Input[str]] = {
                # The folder, not its files: a pod restarted from an older template during a key
                # rotation reads the keys the ConfigMap holds now (a named file may be gone).
                "JWT_PUBLIC_KEY_FILES": PUBLIC_KEYS_DIR,
                "JWT_AUDIENCE": args.jwt.audience,
                "JWT_ISSUER": args.jwt.issuer,
                # Kong's jwt maximum_expiration: the API is as strict as the gateway.
                "JWT_MAX_LIFETIME_SECONDS": str(jwt_plugin_config(args.jwt)["maximum_expiration"]),
            }
            depends: list[pulumi.Resource] = [public_keys]
            cache = None
            if spec.cache:
                assert args.cache is not None  # the model refuses cache: true without the layer
                cache = args.cache
                password = cache.password_in(args.namespace.name)
                files.append(
                    MountedFiles(
                        "redis-auth", REDIS_DIR, secret=password.name, items={password.key: "password"}
                    )
                )
                # Database 1: the API cache apart from Kong's rate-limit counters (database 0), so
                # ops can inspect or flush it alone. Its key space is bounded by the directory
                # (services/offices/src/cache.js), so it cannot crowd the counters out.
                env["REDIS_URL"] = f"redis://{cache.host}:{cache.port}/{SERVICE_CACHE_DATABASE}"
                env["REDIS_PASSWORD_FILE"] = f"{REDIS_DIR}/password"
                depends.append(password.secret)
            service = self._microservice(
                spec.name,
                digest=spec.image_digest,
                guarded_routes=spec.routes,
                callers=spec.callers,
                dependencies=spec.depends_on,
                cache=cache,
                env=env,
                files=tuple(files),
                depends=tuple(depends),
                child=child,
            )
            self.urls[spec.name] = service.urls
        self.register_outputs({"urls": self.urls})

    def _microservice(
        self,
        name: str,
        *,
        digest: str | None,
        guarded_routes: tuple[str, ...],
        callers: tuple[str, ...],
        dependencies: tuple[str, ...],
        cache: CacheEndpoint | None,
        env: dict[str, pulumi.Input[str]],
        files: tuple[MountedFiles, ...],
        depends: tuple[pulumi.Resource, ...],
        child: pulumi.ResourceOptions,
    ) -> Microservice:
        args = self._args
        site = args.site
        image = service_image(
            name,
            registry=site.registry,
            local_cluster=kind_cluster_name(site.name) if site.is_local else None,
            digest=digest,
            parent=self,
        )
        return Microservice(
            name,
            MicroserviceArgs(
                site=site.name,
                name=name,
                image=image,
                sizing=site.sizing.services,
                autoscale=not site.is_local,
                disruption_budget=site.profile != "small",
                namespace=args.namespace,
                host=site.host(site.gateway.hostname),
                guarded_routes=guarded_routes,
                gateway=args.gateway,
                callers=callers,
                dependencies=dependencies,
                cache=cache,
                env=env,
                files=files,
                scrapers=args.scrapers,
                pull_secret=args.pull_secret,
                depends_on=(*depends, *args.after),
            ),
            opts=child,
        )
