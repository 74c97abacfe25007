"""Observability as data: the platform's alert and recording rules, its Grafana dashboards, and
the catalogue of metric names each component exports (rules and dashboards may use only those).
Pure data builders: the monitoring layer ships them."""
