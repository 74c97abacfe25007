"""Each namespace's ResourceQuota must hold what the site runs there at its largest: every replica
(autoscalers at their maximum), one extra pod per Deployment during a rolling update, and the
chart containers whose requests the platform sets. Containers a chart leaves unsized get the
namespace's LimitRange defaults, so they are counted at those."""

from __future__ import annotations

from typing import Any

from harness import ROOT, ProgramRun
from natplat.layers.certificates import SOLVER_RESOURCES
from natplat.layers.identity.keycloak import OPERATOR_RESOURCES as KEYCLOAK_OPERATOR_RESOURCES
from natplat.spec.quantities import byte_count, cpu_millicores
from natplat.spec.stackfile import load_stack_file


class Budget:
    def __init__(self, defaults: dict[str, str]) -> None:
        self.defaults = defaults
        self.cpu = 0
        self.memory = 0
        self.limits = 0
        self.pods = 0

    def add(self, resources: dict[str, Any] | None, count: int = 1, *, pod: bool = True) -> None:
        resources = resources or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        self.cpu += cpu_millicores(requests.get("cpu", self.defaults["cpu"])) * count
        self.memory += byte_count(requests.get("memory", self.defaults["memory"])) * count
        self.limits += byte_count(limits.get("memory", self.defaults["memoryLimit"])) * count
        if pod:
            self.pods += count


def chart_values(run: ProgramRun, name: str) -> dict[str, Any]:
    (chart,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == name]
    return chart["values"]


def budgets(run: ProgramRun) -> dict[str, Budget]:
    site = load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")
    defaults = site.sizing.container_defaults
    default = {"cpu": defaults.cpu, "memory": defaults.memory, "memoryLimit": defaults.memory_limit}
    out: dict[str, Budget] = {}

    def ns(name: str) -> Budget:
        return out.setdefault(name, Budget(default))

    # Our own workloads: Deployments at their autoscaler maximum, plus one surge pod; Jobs once.
    maximum = {
        (r.metadata["namespace"], r.inputs["spec"]["scaleTargetRef"]["name"]): r.inputs["spec"]["maxReplicas"]
        for r in run.kubernetes("HorizontalPodAutoscaler")
    }
    for resource in run.kubernetes("Deployment") + run.kubernetes("Job"):
        namespace = resource.metadata["namespace"]
        replicas = maximum.get(
            (namespace, resource.metadata["name"]), resource.inputs["spec"].get("replicas", 1)
        )
        if resource.kind == "Deployment":
            replicas += 1
        for index, container in enumerate(resource.inputs["spec"]["template"]["spec"]["containers"]):
            ns(namespace).add(container.get("resources"), replicas, pod=index == 0)
    # ECK resources: the sizes the platform sets on each pod's main container.
    for resource in run.resources:
        spec = resource.inputs.get("spec") or {}
        namespace = resource.metadata.get("namespace")
        if resource.kind == "Elasticsearch":
            for node_set in spec["nodeSets"]:
                ns(namespace).add(
                    node_set["podTemplate"]["spec"]["containers"][0]["resources"], node_set["count"]
                )
        if resource.kind in {"Kibana", "Logstash"}:
            ns(namespace).add(spec["podTemplate"]["spec"]["containers"][0]["resources"], spec["count"])
    _identity(run, ns)
    _charts(run, ns)
    return out


def _identity(run: ProgramRun, ns: Any) -> None:
    """Operators' resources of the identity layer, the Keycloak Operator, and ACME solver pods."""
    for resource in run.resources:
        spec = resource.inputs.get("spec") or {}
        namespace = resource.metadata.get("namespace")
        # Operators' resources of the identity layer: Keycloak's instances (a StatefulSet the
        # operator rolls one pod at a time), PostgreSQL's (CloudNativePG replaces one instance at
        # a time) with the Barman Cloud sidecar the plugin injects into each.
        if resource.kind == "Keycloak":
            ns(namespace).add(spec["resources"], spec["instances"])
        if resource.kind == "Cluster":
            ns(namespace).add(spec["resources"], spec["instances"])
            if spec.get("plugins"):
                (store,) = [r.inputs["spec"] for r in run.resources if r.kind == "ObjectStore"]
                sidecar = store["instanceSidecarConfiguration"]["resources"]
                ns(namespace).add(sidecar, spec["instances"], pod=False)
    # An ACME HTTP-01 challenge runs a solver pod where the host's certificate is.
    issuers = [r.inputs["spec"] for r in run.resources if r.kind == "ClusterIssuer"]
    if any(
        "http01" in solver for issuer in issuers for solver in (issuer.get("acme") or {}).get("solvers", [])
    ):
        for namespace in {r.metadata["namespace"] for r in run.resources if r.kind == "Certificate"}:
            ns(namespace).add(SOLVER_RESOURCES, 1)
    if [r for r in run.resources if r.kind == "Keycloak"]:
        ns("platform-identity").add(KEYCLOAK_OPERATOR_RESOURCES, 2)  # from its manifest, one surge pod


def _charts(run: ProgramRun, ns: Any) -> None:
    """The chart workloads, from the sizes the platform gives them in the values."""
    charts = {r.name for r in run.of_type("kubernetes:helm.sh/v4:Chart")}
    if "redis-ha" in charts:
        values = chart_values(run, "redis-ha")
        cache = ns("platform-cache")
        replicas = values["replicas"]
        cache.add(values["redis"]["resources"], replicas)
        for sidecar in (values["sentinel"], values["exporter"], values["splitBrainDetection"]):
            cache.add(sidecar["resources"], replicas, pod=False)
        if values["haproxy"]["enabled"]:
            cache.add(values["haproxy"]["resources"], values["haproxy"]["replicas"] + 1)
    if "kong" in charts:
        values = chart_values(run, "kong")
        gateway = ns("platform-gateway")
        gateway.add(values["resources"], values["replicaCount"] + 1)
        gateway.add(values["ingressController"]["resources"], values["replicaCount"] + 1, pod=False)
    if "monitoring" in charts:
        values = chart_values(run, "monitoring")
        monitoring = ns("platform-monitoring")
        prometheus = values["prometheus"]["prometheusSpec"]
        monitoring.add(prometheus["resources"], prometheus["replicas"])
        monitoring.add(None, prometheus["replicas"], pod=False)  # config reloader
        alertmanager = values["alertmanager"]["alertmanagerSpec"]
        monitoring.add(alertmanager["resources"], alertmanager["replicas"])
        monitoring.add(None, alertmanager["replicas"], pod=False)  # config reloader
        grafana = values["grafana"]
        monitoring.add(grafana["resources"], grafana["replicas"] + 1)
        monitoring.add(None, 2 * (grafana["replicas"] + 1), pod=False)  # dashboard and datasource sidecars
        monitoring.add(values["prometheusOperator"]["resources"], 2)
        monitoring.add(values["kube-state-metrics"]["resources"], 2)
    if "eck-operator" in charts:
        ns("platform-logging").add(chart_values(run, "eck-operator")["resources"], 1)
    if "cnpg" in charts:
        ns("platform-databases").add(chart_values(run, "cnpg")["resources"], 2)
    if "plugin-barman-cloud" in charts:
        ns("platform-databases").add(chart_values(run, "plugin-barman-cloud")["resources"], 2)
    if "cert-manager" in charts:
        values = chart_values(run, "cert-manager")
        certificates = ns("platform-certificates")
        for part in (values, values["webhook"], values["cainjector"]):
            certificates.add(part["resources"], part["replicaCount"] + 1)


def test_every_namespace_quota_holds_its_workloads_at_their_largest(run: ProgramRun) -> None:
    quotas = {r.metadata["namespace"]: r.inputs["spec"]["hard"] for r in run.kubernetes("ResourceQuota")}
    problems = []
    for namespace, budget in budgets(run).items():
        hard = quotas[namespace]
        for what, need, have in (
            ("requests.cpu", budget.cpu, cpu_millicores(hard["requests.cpu"])),
            ("requests.memory", budget.memory, byte_count(hard["requests.memory"])),
            ("limits.memory", budget.limits, byte_count(hard["limits.memory"])),
            ("pods", budget.pods, int(hard["pods"])),
        ):
            if need > have:
                problems.append(f"{namespace}: {what} needs {need}, the quota allows {have}")
    assert problems == []


def test_the_budget_counts_autoscaled_replicas_at_their_maximum() -> None:
    from conftest import stack_run  # noqa: PLC0415

    run = stack_run("capital")
    budget = budgets(run)["platform-services"]
    site = load_stack_file(ROOT / "stacks" / "Pulumi.capital.yaml")
    per_pod = cpu_millicores(site.sizing.services.resources.cpu)
    services = len(site.services)
    assert budget.cpu == per_pod * (site.sizing.services.max_replicas + 1) * services
