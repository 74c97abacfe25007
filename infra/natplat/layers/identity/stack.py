"""The identity layer as one component: the database first, then Keycloak and its realm."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from natplat.layers.baseline import PlacedNamespace
from natplat.layers.certificates import store_trust, trust_bundle
from natplat.layers.gateway.routes import GatewayRoutes
from natplat.layers.identity.database import DatabaseArgs, DatabaseBackups, KeycloakDatabase
from natplat.layers.identity.keycloak import IdentityArgs, KeycloakServer
from natplat.layers.signing import JwtChain
from natplat.spec.model import Site


@dataclass(frozen=True)
class IdentityStackArgs:
    site: Site
    namespace: PlacedNamespace
    databases: PlacedNamespace
    gateway: GatewayRoutes
    jwt: JwtChain
    scrapers: tuple[PlacedNamespace, ...]
    pull_secret: str | None
    cert_manager: tuple[pulumi.Resource, ...] = ()
    """cert-manager's chart: the database backup plugin's certificates are its Certificates."""
    after: tuple[pulumi.Resource, ...] = ()
    verifiers: tuple[pulumi.Resource, ...] = ()
    """What verifies the realm's tokens besides Kong: the realm applier waits for it."""


class IdentityStack(pulumi.ComponentResource):
    """Keycloak for people and machines, its realm, and its database."""

    server: KeycloakServer

    def __init__(self, name: str, args: IdentityStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:identity:IdentityStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        site = args.site
        store, policy = site.object_store, site.backup_policy
        backups = (
            DatabaseBackups(store=store, policy=policy, trust=store_trust(site), after=args.cert_manager)
            if store is not None and policy is not None
            else None
        )
        federated = bool(site.identity.federation.oidc or site.identity.federation.ldap)
        database = KeycloakDatabase(
            "keycloak-database",
            DatabaseArgs(
                site=site.name,
                sizing=site.sizing.keycloak_database,
                registry=site.registry,
                storage_class=site.cluster.storage_class,
                namespace=args.databases,
                clients=(args.namespace,),
                scrapers=args.scrapers,
                pull_secret=args.pull_secret,
                backups=backups,
                recovery=site.identity.database_recovery,
                after=args.after,
            ),
            opts=child,
        )
        self.server = KeycloakServer(
            "keycloak",
            IdentityArgs(
                site=site.name,
                domain=site.site.domain,
                identity=site.identity,
                api_scopes=site.api_scopes,
                sizing=site.sizing.keycloak,
                registry=site.registry,
                manifest_mirror=site.registry.manifest_mirror,
                namespace=args.namespace,
                database=database.endpoint,
                gateway=args.gateway,
                jwt=args.jwt,
                scrapers=args.scrapers,
                pull_secret=args.pull_secret,
                trust=trust_bundle(site) if federated else None,
                after=args.after,
                verifiers=args.verifiers,
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[database.cluster])),
        )
        self.register_outputs({"url": self.server.url, "issuer": self.server.issuer})
