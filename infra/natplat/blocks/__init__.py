"""Building blocks the layers share: common labels and metadata, NetworkPolicy pieces, the pinned
chart helper, custom objects with top-level fields, service images and the hardened
Microservice workload. A block knows no layer."""
