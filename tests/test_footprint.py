"""The footprint count (`make footprint`): how rendered objects and operators' custom resources
turn into pods and requests. The count of a real site needs the rendered charts (helm), which
the pull-request workflow's render job has; here the rules are checked on objects written out."""

from __future__ import annotations

from pathlib import Path

import yaml

from natplat.layers.identity.keycloak import adapt_operator_object
from natplat.review.footprint import GIB, count, main, pod_requests


def container(name: str, cpu: str | None, memory: str | None) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": name, "resources": {"requests": requests}}


def template(*containers: dict, init: tuple[dict, ...] = ()) -> dict:
    return {"template": {"spec": {"containers": list(containers), "initContainers": list(init)}}}


def write(tmp_path: Path, site: str, files: dict[str, list[dict]]) -> Path:
    folder = tmp_path / site
    folder.mkdir(parents=True)
    for name, objects in files.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump_all(objects))
    return tmp_path


def test_a_pod_asks_for_its_containers_or_its_largest_init_container() -> None:
    assert pod_requests([container("a", "100m", "64Mi"), container("b", "50m", "32Mi")])[:2] == (
        150,
        96 * 2**20,
    )
    cpu, memory, _ = pod_requests([container("a", "100m", "64Mi")], [container("init", "500m", "16Mi")])
    assert (cpu, memory) == (500, 64 * 2**20)
    assert pod_requests([container("bare", None, None)])[2] == ("bare",)


def test_replicas_daemonsets_jobs_and_operator_resources_are_counted(tmp_path: Path) -> None:
    def sized(cpu: str, memory: str) -> dict:
        return {"requests": {"cpu": cpu, "memory": memory}}

    def custom(api: str, kind: str, name: str, spec: dict) -> dict:
        return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, "spec": spec}

    es_pod = {"spec": {"containers": [container("elasticsearch", "1", "2Gi")]}}
    reloader = ["--config-reloader-cpu-request=10m", "--config-reloader-memory-request=32Mi"]
    objects = [
        custom("apps/v1", "Deployment", "api", {"replicas": 2, **template(container("c", "100m", "128Mi"))}),
        custom("apps/v1", "DaemonSet", "agent", template(container("c", "10m", "16Mi"))),
        custom("batch/v1", "Job", "once", template(container("c", "1", "1Gi"))),
        custom(
            "x/v1",
            "Elasticsearch",
            "logs",
            {"nodeSets": [{"name": "data", "count": 3, "podTemplate": es_pod}]},
        ),
        custom(
            "k8s.keycloak.org/v2alpha1",
            "Keycloak",
            "keycloak",
            {"instances": 2, "resources": sized("250m", "1Gi")},
        ),
        custom(
            "postgresql.cnpg.io/v1", "Cluster", "db", {"instances": 3, "resources": sized("100m", "256Mi")}
        ),
        custom(
            "apps/v1",
            "Deployment",
            "prometheus-operator",
            template({"name": "op", "args": reloader, "resources": sized("0", "0")}),
        ),
        custom(
            "monitoring.coreos.com/v1",
            "Prometheus",
            "prom",
            {"replicas": 1, "resources": sized("500m", "1Gi")},
        ),
    ]
    # The Keycloak Operator, counted from its manifest as the render writes it (the program's
    # transform sizes the upstream Deployment), not from a constant.
    upstream_operator = custom(
        "apps/v1",
        "Deployment",
        "keycloak-operator",
        template({"name": "keycloak-operator", "image": "quay.io/x", "resources": sized("300m", "450Mi")}),
    )
    operator = adapt_operator_object(upstream_operator, "platform-identity", "op:1", "kc:1", None)
    rendered = {"program": objects, "manifest-operator": [operator]}
    footprint = count(write(tmp_path, "site", rendered), "site", nodes=4)
    by_name = {p.name: p for p in footprint.running}
    assert by_name["Deployment api"].total_cpu_m == 200
    assert by_name["DaemonSet agent"].pods == 4  # one per node
    assert [p.name for p in footprint.transient] == ["Job once"]  # not in the running total
    assert by_name["Elasticsearch logs/data"].total_cpu_m == 3000
    assert by_name["Keycloak keycloak"].total_memory == 2 * GIB
    assert by_name["Cluster db"].pods == 3
    assert by_name["Prometheus prom"].cpu_m == 510  # with the config-reloader the operator injects
    assert by_name["Deployment keycloak-operator"].cpu_m == 100  # its manifest, as the program applies it
    expected_cpu = 200 + 40 + 3000 + 500 + 300 + 0 + 510 + 100
    assert footprint.cpu_m == expected_cpu


def test_a_budget_is_enforced(tmp_path: Path, capsys) -> None:
    objects = [
        {"kind": "Deployment", "metadata": {"name": "big"}, "spec": template(container("c", "6", "1Gi"))}
    ]
    render = write(tmp_path, "coast", {"program": objects})
    assert main(["--render", str(render), "coast"]) == 1  # coast is small: 5 vCPU, 10 GiB
    assert "over the budget of 5 vCPU and 10Gi" in capsys.readouterr().out
    assert main(["--render", str(render), "--budget", "8,10Gi", "coast"]) == 0


def test_a_database_archiving_through_the_plugin_counts_its_sidecar_in_every_instance(tmp_path: Path) -> None:
    """The Barman Cloud plugin injects a sidecar, sized by the ObjectStore's
    instanceSidecarConfiguration, into each instance pod of a Cluster that names it."""
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "db"},
        "spec": {
            "instances": 3,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
            "plugins": [
                {"name": "barman-cloud.cloudnative-pg.io", "parameters": {"barmanObjectName": "store"}}
            ],
        },
    }
    store = {
        "apiVersion": "barmancloud.cnpg.io/v1",
        "kind": "ObjectStore",
        "metadata": {"name": "store"},
        "spec": {
            "instanceSidecarConfiguration": {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}
        },
    }
    footprint = count(write(tmp_path, "site", {"program": [cluster, store]}), "site", nodes=3)
    (pods,) = footprint.running
    assert (pods.pods, pods.cpu_m, pods.memory) == (3, 150, 320 * 2**20)
    assert footprint.cpu_m == 450
