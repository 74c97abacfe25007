"""Sizing per profile, as data. A site picks a profile and may override single values under
`national-platform:sizing`; the merged result is validated by `model.Sizing`, so an override with
a typo or a wrong type is caught exactly like any other key.

Keys are written as in the stack files (camelCase) so that overrides merge onto them directly.
"""

from __future__ import annotations

from typing import Any


def _res(cpu: str, memory: str, memory_limit: str) -> dict[str, str]:
    return {"cpu": cpu, "memory": memory, "memoryLimit": memory_limit}


def _quota(cpu: str, memory: str, memory_limit: str, pods: int, pvcs: int, storage: str) -> dict:
    return {
        "requestsCpu": cpu,
        "requestsMemory": memory,
        "limitsMemory": memory_limit,
        "pods": pods,
        "persistentVolumeClaims": pvcs,
        "requestsStorage": storage,
    }


PROFILES: dict[str, dict[str, Any]] = {
    # A laptop or a small regional site: one of everything, modest storage.
    "small": {
        "containerDefaults": _res("50m", "64Mi", "256Mi"),
        "containerMaxMemory": "4Gi",
        "namespaceQuotas": {
            "gateway": _quota("2", "2Gi", "4Gi", 20, 0, "0Gi"),
            "services": _quota("4", "4Gi", "8Gi", 40, 0, "0Gi"),
            "cache": _quota("1", "1Gi", "2Gi", 10, 2, "10Gi"),
            "monitoring": _quota("3", "6Gi", "10Gi", 30, 4, "60Gi"),
            "logging": _quota("4", "8Gi", "12Gi", 20, 4, "80Gi"),
            "nodeAgents": _quota("2", "2Gi", "4Gi", 40, 0, "0Gi"),
            "identity": _quota("1500m", "2560Mi", "3Gi", 10, 0, "0Gi"),
            "databases": _quota("1", "1Gi", "2Gi", 10, 2, "20Gi"),
            # cert-manager's controller, webhook and CA injector.
            "certificates": _quota("500m", "768Mi", "1536Mi", 10, 0, "0Gi"),
        },
        "gateway": {"replicas": 1, "resources": _res("250m", "256Mi", "512Mi")},
        "redis": {"replicas": 1, "resources": _res("100m", "128Mi", "256Mi"), "storage": "2Gi"},
        "prometheus": {"replicas": 1, "resources": _res("500m", "1Gi", "2Gi"), "storage": "20Gi"},
        "alertmanager": {"replicas": 1, "resources": _res("50m", "64Mi", "128Mi"), "storage": "1Gi"},
        "grafana": {"replicas": 1, "resources": _res("100m", "128Mi", "256Mi")},
        "elasticsearch": {
            "dedicatedMasters": 0,
            "dataNodes": 1,
            "resources": _res("500m", "2Gi", "2Gi"),
            "storage": "20Gi",
        },
        "kibana": {"replicas": 1, "resources": _res("200m", "1Gi", "1Gi")},
        "logstash": {"replicas": 1, "resources": _res("250m", "1Gi", "1Gi")},
        "services": {"replicas": 1, "maxReplicas": 2, "resources": _res("50m", "96Mi", "192Mi")},
        # Keycloak's sizing guide: about 1250 MB for the server, its realm caches and 10,000 sessions.
        "keycloak": {"replicas": 1, "resources": _res("250m", "1250Mi", "1536Mi")},
        "keycloakDatabase": {"replicas": 1, "resources": _res("100m", "256Mi", "512Mi"), "storage": "5Gi"},
    },
    # A regional datacentre: three of every stateful piece, two of every stateless one.
    "medium": {
        "containerDefaults": _res("100m", "128Mi", "512Mi"),
        "containerMaxMemory": "8Gi",
        "namespaceQuotas": {
            "gateway": _quota("6", "6Gi", "12Gi", 40, 0, "0Gi"),
            "services": _quota("12", "12Gi", "24Gi", 100, 0, "0Gi"),
            "cache": _quota("3", "4Gi", "8Gi", 20, 6, "60Gi"),
            "monitoring": _quota("6", "16Gi", "24Gi", 40, 6, "300Gi"),
            "logging": _quota("10", "28Gi", "40Gi", 40, 10, "600Gi"),
            "nodeAgents": _quota("4", "4Gi", "8Gi", 100, 0, "0Gi"),
            "identity": _quota("3", "5Gi", "8Gi", 20, 0, "0Gi"),
            "databases": _quota("2", "3Gi", "6Gi", 20, 6, "100Gi"),
            "certificates": _quota("1", "1280Mi", "2560Mi", 15, 0, "0Gi"),
        },
        "gateway": {"replicas": 2, "resources": _res("500m", "512Mi", "1Gi")},
        "redis": {"replicas": 3, "resources": _res("200m", "512Mi", "1Gi"), "storage": "10Gi"},
        "prometheus": {"replicas": 1, "resources": _res("1", "4Gi", "6Gi"), "storage": "100Gi"},
        "alertmanager": {"replicas": 2, "resources": _res("100m", "128Mi", "256Mi"), "storage": "2Gi"},
        "grafana": {"replicas": 1, "resources": _res("200m", "256Mi", "512Mi")},
        "elasticsearch": {
            "dedicatedMasters": 0,
            "dataNodes": 3,
            "resources": _res("1", "4Gi", "4Gi"),
            "storage": "150Gi",
        },
        "kibana": {"replicas": 2, "resources": _res("500m", "2Gi", "2Gi")},
        "logstash": {"replicas": 2, "resources": _res("500m", "2Gi", "2Gi")},
        "services": {"replicas": 2, "maxReplicas": 6, "resources": _res("100m", "128Mi", "256Mi")},
        "keycloak": {"replicas": 2, "resources": _res("500m", "1536Mi", "1536Mi")},
        "keycloakDatabase": {"replicas": 3, "resources": _res("250m", "512Mi", "1Gi"), "storage": "20Gi"},
    },
    # The capital's datacentre: dedicated Elasticsearch masters, more replicas, more retention.
    "large": {
        "containerDefaults": _res("100m", "128Mi", "512Mi"),
        "containerMaxMemory": "16Gi",
        "namespaceQuotas": {
            "gateway": _quota("12", "12Gi", "24Gi", 60, 0, "0Gi"),
            "services": _quota("32", "32Gi", "64Gi", 300, 0, "0Gi"),
            "cache": _quota("6", "12Gi", "24Gi", 20, 6, "150Gi"),
            "monitoring": _quota("12", "40Gi", "64Gi", 60, 10, "1200Gi"),
            "logging": _quota("32", "120Gi", "160Gi", 60, 20, "4000Gi"),
            "nodeAgents": _quota("8", "8Gi", "16Gi", 300, 0, "0Gi"),
            "identity": _quota("6", "10Gi", "16Gi", 30, 0, "0Gi"),
            "databases": _quota("4", "6Gi", "12Gi", 20, 6, "300Gi"),
            "certificates": _quota("1", "1280Mi", "2560Mi", 15, 0, "0Gi"),
        },
        "gateway": {"replicas": 3, "resources": _res("1", "1Gi", "2Gi")},
        "redis": {"replicas": 3, "resources": _res("500m", "2Gi", "4Gi"), "storage": "40Gi"},
        "prometheus": {"replicas": 2, "resources": _res("2", "8Gi", "12Gi"), "storage": "500Gi"},
        "alertmanager": {"replicas": 2, "resources": _res("100m", "256Mi", "512Mi"), "storage": "5Gi"},
        "grafana": {"replicas": 1, "resources": _res("500m", "512Mi", "1Gi")},
        "elasticsearch": {
            "dedicatedMasters": 3,
            "dataNodes": 4,
            "resources": _res("4", "16Gi", "16Gi"),
            "storage": "800Gi",
        },
        "kibana": {"replicas": 2, "resources": _res("1", "2Gi", "2Gi")},
        "logstash": {"replicas": 3, "resources": _res("1", "4Gi", "4Gi")},
        "services": {"replicas": 3, "maxReplicas": 20, "resources": _res("250m", "256Mi", "512Mi")},
        "keycloak": {"replicas": 3, "resources": _res("1", "2Gi", "2Gi")},
        "keycloakDatabase": {"replicas": 3, "resources": _res("500m", "1Gi", "2Gi"), "storage": "50Gi"},
    },
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, mapping by mapping; any other value replaces the base one."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
