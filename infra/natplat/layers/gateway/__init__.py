"""The gateway layer: Kong OSS, DB-less, with its ingress controller.

- `routes`: what other layers need to publish a route (ingress class, plugin names, the public
  allow-list, operator UI routes);
- `plugins`: the configuration of the token check, the rate limit and the global plugins;
- `kong`: the KongGateway component: chart values, proxy TLS, plugins as custom resources, the
  consumer holding the site's public keys, and Kong's network policy.
"""
