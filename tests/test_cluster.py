"""The cluster layer: one provider, the kind cluster for `local`, and the baseline per profile."""

from __future__ import annotations

import yaml

from conftest import stack_run
from harness import PLACEHOLDER, ROOT, ProgramRun, contains_secret_text, is_wrapped_secret
from natplat.blocks.labels import PART_OF, SITE_LABEL
from natplat.layers.baseline import NAMESPACES, PLATFORM_PRIORITY, SERVICES_PRIORITY
from natplat.spec.catalog import KIND_NODE_IMAGES
from natplat.spec.stackfile import load_stack_file


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def test_one_kubernetes_provider_and_every_object_deploys_through_it(run: ProgramRun) -> None:
    providers = run.of_type("pulumi:providers:kubernetes")
    assert len(providers) == 1
    assert providers[0].inputs["clusterIdentifier"] == run.stack
    objects = [r for r in run.resources if r.type.startswith("kubernetes:")]
    assert objects
    for resource in objects:
        assert (
            resource.provider is not None and "pulumi:providers:kubernetes::kubernetes" in resource.provider
        )


def test_kubeconfig_reaches_the_provider_as_a_secret(run: ProgramRun) -> None:
    provider = run.of_type("pulumi:providers:kubernetes")[0]
    assert is_wrapped_secret(provider.raw_inputs["kubeconfig"])
    assert provider.inputs["kubeconfig"]  # and it is not empty


def test_secure_values_stay_secret_wherever_they_are_used(run: ProgramRun) -> None:
    flags = [flag for r in run.resources for flag in contains_secret_text(r.raw_inputs, PLACEHOLDER)]
    assert all(flags), "a secure: value reached a resource input as plain text"
    if run.stack != "local":  # the local stack has no secure values; every other one uses some
        assert flags
    assert not any(PLACEHOLDER in repr(value) for value in run.outputs.values())


def test_local_stack_creates_and_deletes_a_pinned_kind_cluster() -> None:
    run = stack_run("local")
    created = run.named("kind-cluster").inputs
    config = yaml.safe_load(created["stdin"])
    image = KIND_NODE_IMAGES["1.36"].reference
    assert "@sha256:" in image
    assert {node["image"] for node in config["nodes"]} == {image}
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker"]
    assert config["name"] == "national-platform-local"
    assert created["delete"] == "kind delete cluster --name national-platform-local"
    ports = config["nodes"][0]["extraPortMappings"]
    assert {(p["containerPort"], p["hostPort"], p["listenAddress"]) for p in ports} == {
        (30080, 8080, "127.0.0.1"),
        (30443, 8443, "127.0.0.1"),
    }
    kubeconfig = run.named("kind-kubeconfig")
    assert kubeconfig.inputs["create"] == "kind get kubeconfig --name national-platform-local"


def test_existing_clusters_run_no_local_commands(run: ProgramRun) -> None:
    commands = run.of_type("command:local:Command")
    assert (run.stack == "local") == bool(commands)


def test_one_namespace_per_concern_with_pod_security(run: ProgramRun) -> None:
    site = site_of(run)
    namespaces = {r.metadata["name"]: r.metadata for r in run.kubernetes("Namespace")}
    expected = {
        "platform-gateway",
        "platform-services",
        "platform-cache",
        "platform-monitoring",
        "platform-node-agents",
        "platform-identity",
        "platform-databases",
        "platform-certificates",
    }
    if site.logging.enabled:
        expected.add("platform-logging")
    assert set(namespaces) == expected
    for plan in NAMESPACES.values():
        if plan.name not in namespaces:
            continue
        labels = namespaces[plan.name]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == plan.pod_security
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == f"v{site.site.kubernetes_version}"
        looser = plan.pod_security != "restricted"
        assert looser == (plan.name == "platform-node-agents")
        reason = (namespaces[plan.name].get("annotations") or {}).get("national-platform/pod-security-reason")
        assert bool(reason) == looser, "a looser namespace says why, a restricted one needs no reason"


def test_local_stack_has_no_logging_namespace() -> None:
    names = {r.metadata["name"] for r in stack_run("local").kubernetes("Namespace")}
    assert "platform-logging" not in names and "platform-gateway" in names


def _in_namespace(run: ProgramRun, kind: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for resource in run.kubernetes(kind):
        found.setdefault(resource.metadata["namespace"], []).append(resource.inputs)
    return found


def test_quotas_and_container_defaults_come_from_the_profile_and_overrides(run: ProgramRun) -> None:
    site = site_of(run)
    quotas = _in_namespace(run, "ResourceQuota")
    limits = _in_namespace(run, "LimitRange")
    namespaces = {r.metadata["name"] for r in run.kubernetes("Namespace")}
    assert set(quotas) == set(limits) == namespaces
    for plan in NAMESPACES.values():
        if plan.name not in namespaces:
            continue
        (quota,) = quotas[plan.name]
        expected = site.sizing.namespace_quotas.for_concern(plan.concern)
        assert quota["spec"]["hard"] == {
            "requests.cpu": expected.requests_cpu,
            "requests.memory": expected.requests_memory,
            "limits.memory": expected.limits_memory,
            "pods": str(expected.pods),
            "persistentvolumeclaims": str(expected.persistent_volume_claims),
            "requests.storage": expected.requests_storage,
        }
        (limit_range,) = limits[plan.name]
        (item,) = limit_range["spec"]["limits"]
        defaults = site.sizing.container_defaults
        assert item["type"] == "Container"
        assert item["defaultRequest"] == {"cpu": defaults.cpu, "memory": defaults.memory}
        assert item["default"] == {"memory": defaults.memory_limit}
        assert item["max"] == {"memory": site.sizing.container_max_memory}


def test_quotas_differ_by_profile() -> None:
    def hard(stack: str) -> dict:
        return next(
            r.inputs["spec"]["hard"]
            for r in stack_run(stack).kubernetes("ResourceQuota")
            if r.metadata["namespace"] == "platform-services"
        )

    assert hard("coast")["requests.cpu"] == "4"  # small
    assert hard("north")["requests.cpu"] == "12"  # medium
    assert hard("capital")["requests.cpu"] == "32"  # large
    coast_logging = next(
        r.inputs["spec"]["hard"]
        for r in stack_run("coast").kubernetes("ResourceQuota")
        if r.metadata["namespace"] == "platform-logging"
    )
    assert coast_logging["requests.storage"] == "120Gi"  # the site's override


def test_every_namespace_denies_by_default_and_allows_dns(run: ProgramRun) -> None:
    policies = _in_namespace(run, "NetworkPolicy")
    namespaces = {r.metadata["name"] for r in run.kubernetes("Namespace")}
    assert set(policies) == namespaces
    for namespace, items in policies.items():
        by_name = {p["metadata"]["name"]: p["spec"] for p in items}
        deny = by_name["default-deny"]
        assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny, f"{namespace}: default-deny must allow nothing"
        dns = by_name["allow-dns-egress"]
        assert dns["policyTypes"] == ["Egress"] and "ingress" not in dns
        (rule,) = dns["egress"]
        assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]
        (peer,) = rule["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_priority_classes_for_platform_and_services(run: ProgramRun) -> None:
    classes = {r.metadata["name"]: r.inputs for r in run.kubernetes("PriorityClass")}
    assert set(classes) == {PLATFORM_PRIORITY.name, SERVICES_PRIORITY.name}
    assert classes[PLATFORM_PRIORITY.name]["value"] > classes[SERVICES_PRIORITY.name]["value"]
    assert not any(c["globalDefault"] for c in classes.values())


def test_every_kubernetes_object_carries_the_common_labels(run: ProgramRun) -> None:
    for resource in run.resources:
        if not resource.type.startswith("kubernetes:") or not resource.custom:
            continue  # a chart labels what it renders through its values
        labels = resource.metadata.get("labels") or {}
        assert labels.get("app.kubernetes.io/part-of") == PART_OF, resource.name
        assert labels.get(SITE_LABEL) == run.stack, resource.name
        assert labels.get("app.kubernetes.io/name"), resource.name
