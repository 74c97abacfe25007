"""The CrossGuard pack: every policy refuses a violating resource and accepts a compliant one, and
the whole pack, configured per site from the stack file, finds nothing in any stack."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from pulumi_policy import (
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from harness import ROOT, ProgramRun
from natplat.review.policy_config import POLICY_NAMES, policy_config
from natplat.spec.stackfile import load_stack_file

sys.path.insert(0, str(ROOT / "policies"))
from platform_policies import POLICIES

BY_NAME = {policy.name: policy for policy in POLICIES}
SITE = {
    "site": "capital",
    "domain": "capital.example.gov",
    "imageMirror": None,
    "nodeAgentNamespaces": ["platform-node-agents"],
    "gatewayNamespace": "platform-gateway",
    "nodePortsAllowed": False,
    "publicRoutes": {"auth": ["/realms/platform", "/resources"], "grafana": ["/"]},
    "jwtPlugin": "jwt-verify",
    "highAvailability": True,
    "singletons": [],
}
LABELS = {
    "app.kubernetes.io/name": "x",
    "app.kubernetes.io/part-of": "national-platform",
    "national-platform/site": "capital",
}


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], None, [])


def violations(
    name: str,
    resource_type: str | None = None,
    props: Mapping[str, Any] | None = None,
    *,
    stack: list[tuple[str, Mapping[str, Any]]] | None = None,
    settings: Mapping[str, Any] = SITE,
) -> list[str]:
    policy = BY_NAME[name]
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        assert resource_type is not None and props is not None
        args = ResourceValidationArgs(
            resource_type, props, f"urn:{resource_type}::r", "r", _options(), None, dict(settings)
        )
        policy.validate(args, report)
    else:
        resources = [
            PolicyResource(t, p, f"urn:{t}::{i}", str(i), _options(), None, None, [], {})
            for i, (t, p) in enumerate(stack or [])
        ]
        policy.validate(StackValidationArgs(resources, dict(settings)), report)
    return found


def hardened_deployment(**changes: Any) -> dict[str, Any]:
    container = {
        "name": "app",
        "image": "registry.example.gov/platform/app@sha256:" + "a" * 64,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    container.update(changes.pop("container", {}))
    pod: dict[str, Any] = {"containers": [container], **changes.pop("pod", {})}
    return {
        "metadata": {"name": "app", "namespace": "platform-services", "labels": dict(LABELS)},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod}},
    }


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
LOGSTASH_TYPE = "kubernetes:logstash.k8s.elastic.co/v1alpha1:Logstash"


def logstash_resource(init_containers: list[dict[str, Any]]) -> dict[str, Any]:
    """A Logstash custom resource as the program declares it: pod-level non-root and seccomp."""
    return {
        "metadata": {"name": "logs", "namespace": "platform-logging", "labels": dict(LABELS)},
        "spec": {
            "podTemplate": {
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": init_containers,
                    "containers": [{"name": "logstash"}],
                }
            }
        },
    }


STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"


def claiming_stateful_set(pod_security: dict[str, Any]) -> dict[str, Any]:
    """A StatefulSet whose pod writes the volume of its claim template."""
    workload = hardened_deployment(
        pod={"securityContext": pod_security},
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    workload["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {}}]
    return workload


# (policy, resource type, violating props, compliant props, site settings override)
CASES: list[tuple[str, str, dict, dict, dict]] = [
    (
        "volumes-writable-by-the-pod",
        STATEFUL_SET,
        claiming_stateful_set({"runAsNonRoot": True}),
        claiming_stateful_set(
            {"runAsNonRoot": True, "fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"}
        ),
        {},
    ),
    (
        "volumes-writable-by-the-pod",
        LOGSTASH_TYPE,
        # ECK gives Logstash a `logstash-data` claim when the resource declares none.
        logstash_resource(init_containers=[]),
        {
            **logstash_resource(init_containers=[]),
            "spec": {
                "podTemplate": {
                    "spec": {"securityContext": {"runAsNonRoot": True, "fsGroup": 1000}, "containers": []}
                }
            },
        },
        {},
    ),
    (
        "identity-behind-the-gateway",
        "kubernetes:k8s.keycloak.org/v2alpha1:Keycloak",
        {"metadata": {"name": "keycloak"}, "spec": {"hostname": {"hostname": "auth.example.gov"}}},
        {
            "metadata": {"name": "keycloak"},
            "spec": {
                "ingress": {"enabled": False},
                "hostname": {"hostname": "https://auth.capital.example.gov", "strict": True},
                "proxy": {"headers": "xforwarded"},
            },
        },
        {},
    ),
    (
        "databases-locked-down",
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
        {"metadata": {"name": "db"}, "spec": {"instances": 1, "bootstrap": {"initdb": {"database": "x"}}}},
        {
            "metadata": {"name": "db"},
            "spec": {
                "instances": 1,
                "enableSuperuserAccess": False,
                "bootstrap": {"initdb": {"database": "x", "owner": "x", "secret": {"name": "x-app"}}},
            },
        },
        {},
    ),
    (
        "images-pinned",
        DEPLOYMENT,
        hardened_deployment(container={"image": "nginx:latest"}),
        hardened_deployment(container={"image": "docker.io/library/nginx:1.29.3"}),
        {},
    ),
    (
        "images-from-site-mirror",
        DEPLOYMENT,
        hardened_deployment(container={"image": "docker.io/library/nginx:1.29.3"}),
        hardened_deployment(
            container={"image": "mirror.example.gov/upstream/docker.io/library/nginx:1.29.3"}
        ),
        {"imageMirror": "mirror.example.gov/upstream"},
    ),
    (
        "container-resources",
        DEPLOYMENT,
        hardened_deployment(container={"resources": {"requests": {"cpu": "1"}}}),
        hardened_deployment(),
        {},
    ),
    (
        "run-as-non-root",
        DEPLOYMENT,
        hardened_deployment(container={"securityContext": {"runAsUser": 0}}),
        hardened_deployment(),
        {},
    ),
    (
        "no-privilege-escalation",
        DEPLOYMENT,
        hardened_deployment(container={"securityContext": {"privileged": True}}),
        hardened_deployment(),
        {},
    ),
    (
        "drop-all-capabilities",
        DEPLOYMENT,
        hardened_deployment(container={"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}),
        hardened_deployment(),
        {},
    ),
    (
        "read-only-root-filesystem",
        DEPLOYMENT,
        hardened_deployment(container={"securityContext": {"readOnlyRootFilesystem": False}}),
        hardened_deployment(),
        {},
    ),
    (
        "seccomp-runtime-default",
        DEPLOYMENT,
        hardened_deployment(container={"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
        hardened_deployment(),
        {},
    ),
    (
        "host-access-only-for-node-agents",
        DEPLOYMENT,
        hardened_deployment(
            pod={"hostNetwork": True, "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}]}
        ),
        hardened_deployment(pod={"volumes": [{"name": "tmp", "emptyDir": {}}]}),
        {},
    ),
    (
        "exposure-only-through-the-gateway",
        "kubernetes:core/v1:Service",
        {"metadata": {"name": "db", "namespace": "platform-services"}, "spec": {"type": "LoadBalancer"}},
        {"metadata": {"name": "proxy", "namespace": "platform-gateway"}, "spec": {"type": "LoadBalancer"}},
        {},
    ),
    (
        "hosts-have-certificates",
        "kubernetes:networking.k8s.io/v1:Ingress",
        {
            "metadata": {"name": "x"},
            "spec": {
                "tls": [{"hosts": ["api.capital.example.gov"], "secretName": "api-tls"}],
                "rules": [{"host": "api.capital.example.gov"}, {"host": "grafana.capital.example.gov"}],
            },
        },
        {
            "metadata": {"name": "x"},
            "spec": {
                "tls": [{"hosts": ["api.capital.example.gov"], "secretName": "api-tls"}],
                "rules": [{"host": "api.capital.example.gov"}],
            },
        },
        {"issuedCertificates": True},
    ),
    (
        "routes-require-tokens",
        "kubernetes:networking.k8s.io/v1:Ingress",
        {
            "metadata": {"name": "x", "annotations": {"konghq.com/plugins": "rate-limit"}},
            "spec": {
                "rules": [{"host": "api.capital.example.gov", "http": {"paths": [{"path": "/v1/offices"}]}}]
            },
        },
        {
            "metadata": {"name": "x", "annotations": {"konghq.com/plugins": "jwt-verify,rate-limit"}},
            "spec": {
                "rules": [{"host": "api.capital.example.gov", "http": {"paths": [{"path": "/v1/offices"}]}}]
            },
        },
        {},
    ),
    (
        "charts-pinned",
        "kubernetes:helm.sh/v4:Chart",
        {"chart": "kong", "version": "^3.4"},
        {"chart": "kong", "version": "3.4.1"},
        {},
    ),
    (
        "no-secrets-in-config-maps",
        "kubernetes:core/v1:ConfigMap",
        {"metadata": {"name": "c"}, "data": {"db-password": "hunter2"}},
        {"metadata": {"name": "c"}, "data": {"current.pem": "-----BEGIN PUBLIC KEY-----\nMII...\n"}},
        {},
    ),
    (
        "common-labels",
        "kubernetes:core/v1:ConfigMap",
        {"metadata": {"name": "c", "labels": {"app.kubernetes.io/name": "c"}}},
        {"metadata": {"name": "c", "labels": dict(LABELS)}},
        {},
    ),
    (
        "pod-security-restricted",
        "kubernetes:core/v1:Namespace",
        {
            "metadata": {
                "name": "platform-services",
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
            }
        },
        {
            "metadata": {
                "name": "platform-services",
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            }
        },
        {},
    ),
    (
        # ECK 3.5.0 gives Logstash's injected init container only privileged: false.
        "injected-containers-hardened",
        LOGSTASH_TYPE,
        logstash_resource(init_containers=[]),
        logstash_resource(
            init_containers=[
                {
                    "name": "logstash-internal-init-config",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ]
        ),
        {
            "injectedContainers": {
                LOGSTASH_TYPE: {"init": ["logstash-internal-init-config"], "containers": []}
            }
        },
    ),
]


def test_the_pack_has_at_least_fifteen_mandatory_policies_named_in_the_site_config() -> None:
    assert len(POLICIES) >= 15
    assert [p.name for p in POLICIES] == list(POLICY_NAMES)
    assert all(
        str(p.enforcement_level).endswith("MANDATORY") or p.enforcement_level.value == "mandatory"
        for p in POLICIES
    )


@pytest.mark.parametrize(
    ("name", "resource_type", "bad", "good", "override"), CASES, ids=[c[0] for c in CASES]
)
def test_each_policy_refuses_a_violation_and_accepts_compliance(
    name: str, resource_type: str, bad: dict, good: dict, override: dict
) -> None:
    settings = {**SITE, **override}
    assert violations(name, resource_type, bad, settings=settings), f"{name} accepted a violating resource"
    assert violations(name, resource_type, good, settings=settings) == []


def test_node_ports_only_on_sites_configured_for_them() -> None:
    service = {"metadata": {"name": "proxy", "namespace": "platform-gateway"}, "spec": {"type": "NodePort"}}
    assert violations("exposure-only-through-the-gateway", "kubernetes:core/v1:Service", service)
    assert not violations(
        "exposure-only-through-the-gateway",
        "kubernetes:core/v1:Service",
        service,
        settings={**SITE, "nodePortsAllowed": True},
    )


def test_the_node_agents_namespace_is_the_named_exception() -> None:
    agent = hardened_deployment(pod={"volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}]})
    agent["metadata"]["namespace"] = "platform-node-agents"
    assert not violations("host-access-only-for-node-agents", DEPLOYMENT, agent)
    looser = {
        "metadata": {
            "name": "platform-node-agents",
            "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
            "annotations": {"national-platform/pod-security-reason": "node agents"},
        }
    }
    assert not violations("pod-security-restricted", "kubernetes:core/v1:Namespace", looser)
    del looser["metadata"]["annotations"]
    assert violations("pod-security-restricted", "kubernetes:core/v1:Namespace", looser), (
        "a looser level must say why"
    )


def test_public_routes_must_be_allow_listed_and_say_why() -> None:
    ingress = {
        "metadata": {"name": "auth-public", "annotations": {"konghq.com/plugins": "rate-limit"}},
        "spec": {
            "rules": [{"host": "auth.capital.example.gov", "http": {"paths": [{"path": "/realms/platform"}]}}]
        },
    }
    assert violations("routes-require-tokens", "kubernetes:networking.k8s.io/v1:Ingress", ingress), (
        "no reason given"
    )
    ingress["metadata"]["annotations"]["national-platform/public-route"] = "Keycloak's realm endpoints"
    assert not violations("routes-require-tokens", "kubernetes:networking.k8s.io/v1:Ingress", ingress)
    ingress["spec"]["rules"][0]["http"]["paths"].append({"path": "/admin"})
    assert violations("routes-require-tokens", "kubernetes:networking.k8s.io/v1:Ingress", ingress)


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def test_namespaces_need_a_default_deny_policy() -> None:
    namespace = ("kubernetes:core/v1:Namespace", {"metadata": {"name": "platform-cache"}})
    deny = (
        NETWORK_POLICY,
        {
            "metadata": {"namespace": "platform-cache"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
    )
    allow_all = copy.deepcopy(deny)
    allow_all[1]["spec"]["ingress"] = [{}]
    assert violations("namespaces-default-deny", stack=[namespace, allow_all])
    assert not violations("namespaces-default-deny", stack=[namespace, deny])


def test_ha_sites_need_two_replicas_and_a_budget() -> None:
    single = hardened_deployment()
    single["spec"]["replicas"] = 1
    budget = (
        "kubernetes:policy/v1:PodDisruptionBudget",
        {"metadata": {"namespace": "platform-services"}, "spec": {"selector": {"matchLabels": {"app": "x"}}}},
    )
    assert violations("replicas-and-disruption-budgets", stack=[(DEPLOYMENT, single), budget])
    assert violations("replicas-and-disruption-budgets", stack=[(DEPLOYMENT, hardened_deployment())]), (
        "no budget"
    )
    assert not violations(
        "replicas-and-disruption-budgets", stack=[(DEPLOYMENT, hardened_deployment()), budget]
    )
    assert not violations(
        "replicas-and-disruption-budgets",
        stack=[(DEPLOYMENT, single)],
        settings={**SITE, "highAvailability": False},
    )
    autoscaled = copy.deepcopy(single)
    del autoscaled["spec"]["replicas"]
    hpa = (
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        {
            "metadata": {"namespace": "platform-services"},
            "spec": {"scaleTargetRef": {"name": "app"}, "minReplicas": 2},
        },
    )
    assert not violations("replicas-and-disruption-budgets", stack=[(DEPLOYMENT, autoscaled), hpa, budget])


def test_the_whole_pack_finds_nothing_in_any_stack(run: ProgramRun) -> None:
    settings = policy_config(load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml"))
    recorded = [
        (r.type, r.inputs) for r in run.resources if r.custom or r.type == "kubernetes:helm.sh/v4:Chart"
    ]
    found = []
    for policy in POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            for resource_type, props in recorded:
                found += [
                    f"{policy.name}: {m}"
                    for m in violations(policy.name, resource_type, props, settings=settings[policy.name])
                ]
        else:
            found += [
                f"{policy.name}: {m}"
                for m in violations(policy.name, stack=recorded, settings=settings[policy.name])
            ]
    assert found == []


def test_policy_config_cli_prints_the_sites_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "natplat.review.policy_config", "stacks/Pulumi.north.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "infra"), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert '"imageMirror": "mirror.north.platform.gov.example/upstream"' in result.stdout


def test_injected_containers_must_carry_every_restricted_setting() -> None:
    settings = {
        **SITE,
        "injectedContainers": {LOGSTASH_TYPE: {"init": ["logstash-internal-init-config"], "containers": []}},
    }
    as_eck_gives_it = logstash_resource(
        init_containers=[{"name": "logstash-internal-init-config", "securityContext": {"privileged": False}}]
    )
    found = violations("injected-containers-hardened", LOGSTASH_TYPE, as_eck_gives_it, settings=settings)
    assert any("allowPrivilegeEscalation" in v for v in found) and any("capabilities" in v for v in found)
    in_node_agents = copy.deepcopy(as_eck_gives_it)
    in_node_agents["metadata"]["namespace"] = "platform-node-agents"
    assert violations("injected-containers-hardened", LOGSTASH_TYPE, in_node_agents, settings=settings) == []


def test_a_conditional_injected_container_is_required_only_when_its_field_is_set() -> None:
    """ECK 3.5.0 injects `elastic-internal-init-keystore` only into Elasticsearch resources with
    `secureSettings` (the site's object store keys): required then, and only then."""
    settings = {
        **SITE,
        "injectedContainers": {
            LOGSTASH_TYPE: {
                "init": ["logstash-internal-init-config", "elastic-internal-init-keystore"],
                "containers": [],
                "when": {"elastic-internal-init-keystore": "secureSettings"},
            }
        },
    }
    hardened = {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    without = logstash_resource(
        init_containers=[{"name": "logstash-internal-init-config", "securityContext": hardened}]
    )
    assert violations("injected-containers-hardened", LOGSTASH_TYPE, without, settings=settings) == []
    with_settings = copy.deepcopy(without)
    with_settings["spec"]["secureSettings"] = [{"secretName": "keys"}]
    found = violations("injected-containers-hardened", LOGSTASH_TYPE, with_settings, settings=settings)
    assert any("'elastic-internal-init-keystore'" in v and "not declared" in v for v in found)


def test_the_keystore_init_container_is_declared_only_for_a_cluster_with_secure_settings() -> None:
    from natplat.blocks.injected import ELASTICSEARCH, hardened_declarations  # noqa: PLC0415

    plain = [c["name"] for c in hardened_declarations(ELASTICSEARCH, init=True)]
    keyed = [
        c["name"]
        for c in hardened_declarations(ELASTICSEARCH, init=True, spec_fields=frozenset({"secureSettings"}))
    ]
    assert "elastic-internal-init-keystore" not in plain
    assert keyed == [*plain, "elastic-internal-init-keystore"]


def test_a_site_with_a_provided_certificate_needs_no_tls_per_host() -> None:
    """Kong's default certificate (gateway.tls) serves every host there."""
    bare = {"metadata": {"name": "x"}, "spec": {"rules": [{"host": "api.capital.example.gov"}]}}
    ingress = "kubernetes:networking.k8s.io/v1:Ingress"
    assert (
        violations("hosts-have-certificates", ingress, bare, settings={**SITE, "issuedCertificates": False})
        == []
    )
    assert violations("hosts-have-certificates", ingress, bare, settings={**SITE, "issuedCertificates": True})


def test_a_claim_mounted_read_only_or_a_root_pod_needs_no_fs_group() -> None:
    read_only = claiming_stateful_set({"runAsNonRoot": True})
    read_only["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = True
    assert violations("volumes-writable-by-the-pod", STATEFUL_SET, read_only) == []
    root = claiming_stateful_set({})
    root["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
    assert violations("volumes-writable-by-the-pod", STATEFUL_SET, root) == []
    direct = hardened_deployment(
        pod={"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}]},
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    assert violations("volumes-writable-by-the-pod", DEPLOYMENT, direct) == [
        "r: pod: runs as non-root and writes the volume claim(s) data but sets no pod fsGroup"
        " (a root-owned volume would not be writable)"
    ]


def test_every_elasticsearch_node_set_writes_its_data_claim() -> None:
    """ECK gives every node set `elasticsearch-data` when it declares no claim template."""
    es_type = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
    node_set = {"name": "default", "podTemplate": {"spec": {"securityContext": {"runAsNonRoot": True}}}}
    resource = {"metadata": {"name": "es"}, "spec": {"nodeSets": [node_set]}}
    assert violations("volumes-writable-by-the-pod", es_type, resource) == [
        "r: nodeSet 'default': runs as non-root and writes the volume claim(s) elasticsearch-data but sets"
        " no pod fsGroup (a root-owned volume would not be writable)"
    ]
