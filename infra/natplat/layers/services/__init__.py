"""The services layer: the token issuer and every API listed in the stack file, each run as the
same hardened `Microservice` (workload, Service, autoscaler, disruption budget, network policy,
ServiceMonitor, Kong routes), with the Secrets and ConfigMaps the JWT chain feeds them.

- `layer`: PlatformServices, which builds them for one site;
- `microservice`: the Microservice component every service gets.
"""
