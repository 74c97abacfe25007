"""The logging layer: the ECK operator and Elasticsearch, Kibana, Logstash and Filebeat, sized per
profile, wired Filebeat → Logstash → Elasticsearch, with the site's retention and metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import stack_run
from harness import ROOT, ProgramRun, run_program
from natplat.layers.gateway.routes import PUBLIC_ALLOW_LIST, PUBLIC_ROUTE_ANNOTATION
from natplat.layers.logs.common import BEATS_PORT, CLUSTER
from natplat.layers.logs.elasticsearch import MASTER_RESOURCES, MASTER_STORAGE
from natplat.spec.catalog import ECK_OPERATOR_CHART, ELASTIC_STACK_VERSION
from natplat.spec.quantities import byte_count
from natplat.spec.stackfile import load_stack_file

LOGGING_STACKS = ["staging", "capital", "north", "coast"]
ECK_KINDS = ("Elasticsearch", "Kibana", "Logstash", "Beat")


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def one(run: ProgramRun, kind: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in run.kubernetes(kind)]
    return found


@pytest.fixture(params=LOGGING_STACKS)
def logged(request: pytest.FixtureRequest) -> ProgramRun:
    return stack_run(request.param)


def test_local_has_no_logging_and_every_other_site_has_all_of_it() -> None:
    local = stack_run("local")
    assert not [r for r in local.resources if r.kind in ECK_KINDS]
    assert "eck-operator" not in {r.name for r in local.of_type("kubernetes:helm.sh/v4:Chart")}
    for stack in LOGGING_STACKS:
        run = stack_run(stack)
        assert {r.kind for r in run.resources if r.kind in ECK_KINDS} == set(ECK_KINDS), stack


def test_operator_chart_is_pinned_and_manages_the_logging_namespaces(logged: ProgramRun) -> None:
    (chart,) = [r.inputs for r in logged.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "eck-operator"]
    assert chart["version"] == ECK_OPERATOR_CHART.version == "3.5.0"
    assert chart["namespace"] == "platform-logging"
    assert chart["values"]["managedNamespaces"] == ["platform-logging", "platform-node-agents"]


@pytest.mark.parametrize(
    ("stack", "shape"),
    [
        ("coast", [("default", 1, ["master", "data", "ingest"])]),
        ("north", [("default", 3, ["master", "data", "ingest"])]),
        ("staging", [("default", 3, ["master", "data", "ingest"])]),
        ("capital", [("masters", 3, ["master"]), ("data", 4, ["data", "ingest"])]),
    ],
)
def test_node_sets_follow_the_profile(stack: str, shape: list[tuple[str, int, list[str]]]) -> None:
    run = stack_run(stack)
    site = site_of(run)
    spec = one(run, "Elasticsearch")["spec"]
    assert spec["version"] == ELASTIC_STACK_VERSION
    found = [(n["name"], n["count"], n["config"]["node.roles"]) for n in spec["nodeSets"]]
    assert found == shape
    for node_set in spec["nodeSets"]:
        (claim,) = node_set["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "elasticsearch-data"
        assert claim["spec"]["storageClassName"] == site.cluster.storage_class
        expected = MASTER_STORAGE if node_set["name"] == "masters" else site.sizing.elasticsearch.storage
        assert claim["spec"]["resources"]["requests"]["storage"] == expected


def test_jvm_heaps_are_half_the_memory_limit(logged: ProgramRun) -> None:
    site = site_of(logged)
    for kind, container, variable, limit in (
        ("Elasticsearch", "elasticsearch", "ES_JAVA_OPTS", site.sizing.elasticsearch.resources.memory_limit),
        ("Logstash", "logstash", "LS_JAVA_OPTS", site.sizing.logstash.resources.memory_limit),
    ):
        spec = one(logged, kind)["spec"]
        node_sets = (
            spec["nodeSets"]
            if kind == "Elasticsearch"
            else [{"name": "", "podTemplate": spec["podTemplate"]}]
        )
        for node_set in node_sets:
            # Dedicated masters have their own, fixed size; every other node follows the profile.
            expected = MASTER_RESOURCES.memory_limit if node_set["name"] == "masters" else limit
            (main,) = [c for c in node_set["podTemplate"]["spec"]["containers"] if c["name"] == container]
            assert main["resources"]["limits"]["memory"] == expected
            options = {e["name"]: e["value"] for e in main["env"]}[variable]
            heaps = {int(v) for v in re.findall(r"-Xm[sx](\d+)m", options)}
            assert heaps == {byte_count(expected) // 2 // 2**20}, options


def test_every_eck_resource_forces_its_apply(logged: ProgramRun) -> None:
    for kind in ECK_KINDS:
        annotations = one(logged, kind)["metadata"]["annotations"]
        assert annotations["pulumi.com/patchForce"] == "true", kind
    es = one(logged, "Elasticsearch")["metadata"]["annotations"]
    assert es["pulumi.com/waitFor"] == "jsonpath={.status.health}=green"


def test_filebeat_ships_to_logstash_which_writes_to_elasticsearch(logged: ProgramRun) -> None:
    es = one(logged, "Elasticsearch")["metadata"]
    logstash = one(logged, "Logstash")
    beat = one(logged, "Beat")
    kibana = one(logged, "Kibana")
    assert logstash["spec"]["elasticsearchRefs"] == [{"name": es["name"], "clusterName": CLUSTER}]
    assert kibana["spec"]["elasticsearchRef"] == {"name": es["name"]}
    (service,) = logstash["spec"]["services"]
    assert service["service"]["spec"]["ports"][0]["port"] == BEATS_PORT
    name, namespace = logstash["metadata"]["name"], logstash["metadata"]["namespace"]
    host = f"{name}-ls-{service['name']}.{namespace}.svc.cluster.local"
    assert beat["spec"]["config"]["output.logstash"]["hosts"] == [f"{host}:{BEATS_PORT}"]
    assert "elasticsearchRef" not in beat["spec"], (
        "Filebeat ships through Logstash, not straight to Elasticsearch"
    )
    (pipeline,) = logstash["spec"]["pipelines"]
    text = pipeline["config.string"]
    assert f"port => {BEATS_PORT}" in text
    assert '"${LOGS_ES_HOSTS}"' in text and 'data_stream => "true"' in text
    # The services' ECS fields are decoded by Filebeat into the event and kept as they are.
    parsers = beat["spec"]["config"]["filebeat.autodiscover"]["providers"][0]["hints.default_config"][
        "parsers"
    ]
    assert {
        "ndjson": {"target": "", "overwrite_keys": True, "expand_keys": True, "ignore_decoding_error": True}
    } in parsers


def test_filebeat_is_the_one_workload_with_host_paths_and_says_why(run: ProgramRun) -> None:
    with_host_paths = []
    for resource in run.resources:
        text = json.dumps(resource.inputs, default=str)
        if '"hostPath"' in text:
            with_host_paths.append(resource)
        assert '"hostNetwork": true' not in text and '"hostPID": true' not in text
    if run.stack == "local":
        assert not with_host_paths
        return
    (beat,) = with_host_paths
    assert beat.kind == "Beat" and beat.metadata["namespace"] == "platform-node-agents"
    template = beat.inputs["spec"]["daemonSet"]["podTemplate"]
    assert template["metadata"]["annotations"]["national-platform/host-path-reason"]
    (container,) = template["spec"]["containers"]
    assert all(mount["readOnly"] for mount in container["volumeMounts"])
    assert {v["hostPath"]["path"] for v in template["spec"]["volumes"]} == {
        "/var/log/containers",
        "/var/log/pods",
    }


def test_filebeat_has_read_only_rbac(logged: ProgramRun) -> None:
    (role,) = [
        r.inputs
        for r in logged.kubernetes("ClusterRole")
        if r.metadata["name"] == "national-platform-filebeat"
    ]
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
    (binding,) = [
        r.inputs
        for r in logged.kubernetes("ClusterRoleBinding")
        if r.inputs["roleRef"]["name"] == "national-platform-filebeat"
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "filebeat", "namespace": "platform-node-agents"}
    ]


def _retention_job(run: ProgramRun) -> dict[str, Any]:
    (job,) = [r.inputs for r in run.kubernetes("Job") if r.metadata["name"].startswith("logs-retention-")]
    return job


def test_retention_days_come_from_the_site(logged: ProgramRun) -> None:
    days = site_of(logged).logging.retention_days
    job = _retention_job(logged)
    assert job["metadata"]["annotations"]["national-platform/retention-days"] == str(days)
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert f'"min_age": "{days}d"' in script
    assert "/_ilm/policy/platform-logs" in script and "/_component_template/logs@custom" in script


def test_a_changed_retention_makes_a_new_job(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / "stacks/Pulumi.coast.yaml").read_text())
    document["config"].setdefault("national-platform:logging", {})["retentionDays"] = 7
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks/Pulumi.coast.yaml"
    path.write_text(yaml.safe_dump(document))
    changed = run_program(path, tmp_path)
    assert changed.error is None, changed.error
    before = _retention_job(stack_run("coast"))["metadata"]["name"]
    after = _retention_job(changed)["metadata"]["name"]
    assert before != after and after.startswith("logs-retention-")
    assert (
        '"min_age": "7d"'
        in _retention_job(changed)["spec"]["template"]["spec"]["containers"][0]["command"][2]
    )


def test_air_gapped_site_pulls_every_logging_image_from_its_mirror() -> None:
    run = stack_run("north")
    mirror = "mirror.north.platform.gov.example/upstream/"
    (chart,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "eck-operator"]
    assert chart["chart"] == "oci://mirror.north.platform.gov.example/charts/eck-operator"
    assert chart["values"]["image"]["repository"].startswith(mirror)
    assert chart["values"]["config"]["containerRegistry"] == f"{mirror}docker.elastic.co"
    for kind in ECK_KINDS:
        assert one(run, kind)["spec"]["image"].startswith(mirror), kind
    for resource in run.kubernetes("Deployment") + run.kubernetes("Job"):
        for container in resource.inputs["spec"]["template"]["spec"]["containers"]:
            assert container["image"].startswith(mirror), container["image"]


def test_kibana_is_reached_through_kong_on_the_allow_list(logged: ProgramRun) -> None:
    site = site_of(logged)
    (ingress,) = [r.inputs for r in logged.kubernetes("Ingress") if r.metadata["name"] == "kibana"]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == f"kibana.{site.site.domain}"
    assert ingress["metadata"]["annotations"][PUBLIC_ROUTE_ANNOTATION]
    assert "kibana" in PUBLIC_ALLOW_LIST
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == f"{CLUSTER}-kb-http"


def test_elasticsearch_metrics_reach_prometheus(logged: ProgramRun) -> None:
    monitors = {r.metadata["name"] for r in logged.kubernetes("ServiceMonitor")}
    assert "elasticsearch-exporter" in monitors
    (policy,) = [
        r.inputs["spec"] for r in logged.kubernetes("NetworkPolicy") if r.metadata["name"] == "logging-flows"
    ]
    scraped = [
        rule
        for rule in policy["ingress"]
        if any(
            p.get("namespaceSelector", {}).get("matchLabels")
            == {"kubernetes.io/metadata.name": "platform-monitoring"}
            for p in rule.get("from", [])
        )
    ]
    assert scraped and [p["port"] for p in scraped[0]["ports"]] == [9114]
    (beats,) = [
        r.inputs["spec"] for r in logged.kubernetes("NetworkPolicy") if r.metadata["name"] == "filebeat-flows"
    ]
    (to_logstash, _api) = beats["egress"]
    assert to_logstash["to"][0]["podSelector"]["matchLabels"] == {"logstash.k8s.elastic.co/name": CLUSTER}
    assert [p["port"] for p in to_logstash["ports"]] == [BEATS_PORT]


def test_the_pods_that_write_volumes_carry_their_fs_group(logged: ProgramRun) -> None:
    """ECK 3.5.0 (pkg/controller/common/defaults/pod_template.go, WithPodSecurityContext) sets its
    default pod security context, fsGroup 1000 included, only when the template has none; ours
    has one (non-root, RuntimeDefault), so it must carry the fsGroup itself. Elasticsearch writes
    its node set's data claim, Logstash the `logstash-data` claim ECK adds when the resource
    declares none (pkg/controller/logstash/volume/defaults.go). Kibana writes only an emptyDir."""
    wanted = {"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"}
    for node_set in one(logged, "Elasticsearch")["spec"]["nodeSets"]:
        context = node_set["podTemplate"]["spec"]["securityContext"]
        assert context.items() >= wanted.items() and context["runAsNonRoot"] is True, node_set["name"]
    logstash = one(logged, "Logstash")["spec"]
    assert logstash["podTemplate"]["spec"]["securityContext"].items() >= wanted.items()
    assert "volumeClaimTemplates" not in logstash  # ECK's default claim, hence the rule's default
    assert "fsGroup" not in one(logged, "Kibana")["spec"]["podTemplate"]["spec"]["securityContext"]
