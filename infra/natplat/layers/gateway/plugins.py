"""The configuration of Kong's plugins: the per-route token check and rate limit, and the
global plugins (metrics, CORS, request size). The KongGateway creates them as custom resources.
"""

from __future__ import annotations

from typing import Any

from natplat.layers.cache import CacheEndpoint
from natplat.layers.signing import JwtChain
from natplat.spec.model import GatewaySection

CLOCK_SKEW_SECONDS = 60
GLOBAL_PLUGINS = ("prometheus", "cors", "request-size-limiting")


def jwt_plugin_config(jwt: JwtChain) -> dict[str, Any]:
    return {
        # Nothing is verified unless listed (Kong accepts only exp and nbf here). Keycloak's
        # access tokens carry no nbf, and Kong refuses a token that lacks a listed claim.
        "claims_to_verify": ["exp"],
        # Tokens carry the key id in their header; each credential is registered under its kid,
        # so two keys can be live during a rotation.
        "key_claim_name": "kid",
        # Kong refuses a token whose exp is further than this from its own clock: the issuer's
        # lifetime plus a minute for clock skew between Keycloak's pods and Kong's nodes.
        "maximum_expiration": jwt.token_ttl_seconds + CLOCK_SKEW_SECONDS,
        "header_names": ["authorization"],
        "uri_param_names": [],  # never accept tokens in URLs (they end up in access logs)
        "cookie_names": [],
        "run_on_preflight": False,
    }


def rate_limit_config(gateway: GatewaySection, cache: CacheEndpoint | None) -> dict[str, Any]:
    limits = {
        key: value
        for key, value in (
            ("second", gateway.rate_limit.per_second),
            ("minute", gateway.rate_limit.per_minute),
            ("hour", gateway.rate_limit.per_hour),
        )
        if value is not None
    }
    config: dict[str, Any] = {
        **limits,
        # Per client address. Every token verifies against the one issuer consumer, so limiting
        # by consumer would put all clients in a single bucket.
        "limit_by": "ip",
        "fault_tolerant": True,  # a cache outage must not turn into a gateway outage
        "hide_client_headers": False,
        "error_code": 429,
    }
    if cache is None:
        # Counters per Kong node; `cluster` is refused in DB-less mode.
        config["policy"] = "local"
    else:
        # One endpoint that always reaches the master: OSS Kong cannot follow Sentinel.
        config["policy"] = "redis"
        config["redis"] = {"host": cache.host, "port": cache.port, "database": 0, "timeout": 200}
    return config
