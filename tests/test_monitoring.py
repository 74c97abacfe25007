"""The monitoring layer: kube-prometheus-stack under helm.v4.Chart, rules that pass promtool,
dashboards per site, Alertmanager receivers with their secrets in a Secret, and every metric name
an expression uses checked against what the components export."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import stack_run
from harness import PLACEHOLDER, RANDOM_RESULT, ROOT, ProgramRun, secret_at
from natplat.layers.gateway.routes import PUBLIC_ROUTE_ANNOTATION
from natplat.layers.monitoring import backup_alerting
from natplat.observability.alert_rules import alert_names, rule_groups
from natplat.observability.dashboards import dashboards, queries
from natplat.observability.metrics_catalog import METRICS, known
from natplat.spec.backups import BACKUP_POLICIES
from natplat.spec.catalog import KUBE_PROMETHEUS_STACK_CHART
from natplat.spec.quantities import byte_count
from natplat.spec.stackfile import load_stack_file

PROMTOOL_TESTS = Path(__file__).parent / "promtool"
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def site_of(run: ProgramRun):
    return load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml")


def chart(run: ProgramRun) -> dict[str, Any]:
    (found,) = [r for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "monitoring"]
    return found.inputs


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (functions, keywords, labels and ranges aside)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        after = text[match.end() :].lstrip()
        if after.startswith("(") or match.group(0).lower() in KEYWORDS:
            continue
        names.add(match.group(0))
    return names


SMALL_SITE_BACKUPS = backup_alerting(BACKUP_POLICIES["small"], snapshots=True, database=True)
"""The rules promtool checks and tests: a small site's, with every store backed up (26-hour windows)."""


def all_expressions() -> list[str]:
    exprs = [rule["expr"] for group in rule_groups(SMALL_SITE_BACKUPS) for rule in group["rules"]]
    boards = dashboards(["offices"], logging_enabled=True, cache_enabled=True, identity_enabled=True)
    return exprs + [q for board in boards.values() for q in queries(board)]


def test_chart_is_pinned_and_usable_without_hooks(run: ProgramRun) -> None:
    inputs = chart(run)
    assert inputs["version"] == KUBE_PROMETHEUS_STACK_CHART.version == "88.5.3"
    assert inputs["namespace"] == "platform-monitoring"
    operator = inputs["values"]["prometheusOperator"]
    # helm.v4.Chart runs no hooks: the webhook certificate job would never run.
    assert operator["admissionWebhooks"]["enabled"] is False
    assert operator["tls"]["enabled"] is False
    assert inputs["values"]["crds"]["enabled"] is True


def test_prometheus_selects_everything_and_keeps_the_sites_retention(run: ProgramRun) -> None:
    site = site_of(run)
    spec = chart(run)["values"]["prometheus"]["prometheusSpec"]
    for key in (
        "ruleSelectorNilUsesHelmValues",
        "serviceMonitorSelectorNilUsesHelmValues",
        "podMonitorSelectorNilUsesHelmValues",
        "probeSelectorNilUsesHelmValues",
    ):
        assert spec[key] is False, key
    assert spec["retention"] == f"{site.monitoring.retention_days}d"
    size_gib = int(spec["retentionSize"].removesuffix("GiB"))
    assert 0 < size_gib * 2**30 < byte_count(site.sizing.prometheus.storage)
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == site.cluster.storage_class
    assert claim["resources"]["requests"]["storage"] == site.sizing.prometheus.storage


@pytest.mark.parametrize(
    ("stack", "replicas"), [("capital", 2), ("north", 1), ("staging", 1), ("coast", 1), ("local", 1)]
)
def test_prometheus_and_alertmanager_are_doubled_on_large(stack: str, replicas: int) -> None:
    values = chart(stack_run(stack))["values"]
    assert values["prometheus"]["prometheusSpec"]["replicas"] == replicas
    assert (
        values["alertmanager"]["alertmanagerSpec"]["replicas"]
        == site_of(stack_run(stack)).sizing.alertmanager.replicas
    )
    if stack == "capital":
        assert values["alertmanager"]["alertmanagerSpec"]["replicas"] == 2


def _images(values: Any) -> list[dict[str, str]]:
    found = []
    if isinstance(values, dict):
        if {"registry", "repository", "tag"} <= set(values):
            found.append(values)
        for item in values.values():
            found += _images(item)
    elif isinstance(values, list):
        for item in values:
            found += _images(item)
    return found


def test_air_gapped_site_pulls_every_monitoring_image_from_its_mirror() -> None:
    inputs = chart(stack_run("north"))
    assert inputs["chart"] == "oci://mirror.north.platform.gov.example/charts/kube-prometheus-stack"
    images = _images(inputs["values"])
    assert len(images) == 9  # the eight the pods pull, and the operator's Thanos default base
    for image in images:
        assert image["registry"] == "mirror.north.platform.gov.example/upstream", image
    assert inputs["values"]["global"]["imagePullSecrets"] == [{"name": "registry-pull"}]
    grafana = inputs["values"]["grafana"]
    assert grafana["initChownData"]["enabled"] is False and grafana["testFramework"]["enabled"] is False


def test_grafana_admin_comes_from_a_generated_secret(run: ProgramRun) -> None:
    grafana = chart(run)["values"]["grafana"]
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    (secret,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == "grafana-admin"]
    assert secret.inputs["stringData"]["admin-password"] == f"{RANDOM_RESULT}grafana-admin-password"
    assert secret_at(secret.raw_inputs, "stringData", "admin-password")
    assert RANDOM_RESULT not in repr(chart(run)["values"])
    assert grafana["grafana.ini"]["analytics"]["reporting_enabled"] is False


def test_alertmanager_receivers_from_site_config_with_credentials_in_files() -> None:
    run = stack_run("capital")
    site = site_of(run)
    config = chart(run)["values"]["alertmanager"]["config"]
    (oncall,) = [r for r in config["receivers"] if r["name"] == "oncall"]
    (email,) = oncall["email_configs"]
    assert email["to"] == ", ".join(site.monitoring.alerting.email.to)
    assert email["auth_password_file"].startswith("/etc/alertmanager/secrets/alertmanager-receivers/")
    assert oncall["webhook_configs"] == [
        {"url_file": "/etc/alertmanager/secrets/alertmanager-receivers/webhook-url", "send_resolved": True}
    ]
    assert config["route"]["receiver"] == "oncall"
    assert PLACEHOLDER not in repr(config), "a receiver credential reached the chart values"
    (secret,) = [r for r in run.kubernetes("Secret") if r.metadata["name"] == "alertmanager-receivers"]
    assert set(secret.inputs["stringData"]) == {"smtp-password", "webhook-url"}
    assert secret_at(secret.raw_inputs, "stringData", "webhook-url")
    spec = chart(run)["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["secrets"] == ["alertmanager-receivers"]


def test_routing_groups_and_inhibits_for_an_on_call_rota(run: ProgramRun) -> None:
    config = chart(run)["values"]["alertmanager"]["config"]
    route = config["route"]
    assert route["group_by"] == ["alertname", "namespace", "service"]
    critical = [r for r in route["routes"] if r["matchers"] == ['severity="critical"']]
    assert critical and critical[0]["repeat_interval"] == "1h"
    sources = [rule["source_matchers"] for rule in config["inhibit_rules"]]
    assert ['severity="critical"'] in sources
    names = set(alert_names())
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            if matcher.startswith("alertname"):
                for name in re.findall(r"[A-Z][A-Za-z]+", matcher):
                    assert name in names, f"inhibition names an alert that does not exist: {name}"
    has_receiver = site_of(run).monitoring.alerting.email or site_of(run).monitoring.alerting.webhook
    assert route["receiver"] == ("oncall" if has_receiver else "null")


def test_rules_ship_as_a_prometheus_rule_with_at_least_twelve_alerts(run: ProgramRun) -> None:
    (rule,) = [r.inputs for r in run.kubernetes("PrometheusRule")]
    assert rule["metadata"]["namespace"] == "platform-monitoring"
    site = site_of(run)
    policy = BACKUP_POLICIES[site.profile] if site.backups and site.backups.enabled else None
    backups = backup_alerting(policy, snapshots=site.logging.enabled, database=site.identity.enabled)
    assert rule["spec"]["groups"] == rule_groups(backups)
    assert len(alert_names(backups)) >= 12
    assert len(set(alert_names(backups))) == len(alert_names(backups))
    for group in rule_groups(backups):
        for item in group["rules"]:
            if "alert" in item:
                assert item["labels"]["severity"] in {"critical", "warning"}
                assert {"summary", "description", "runbook_url"} <= set(item["annotations"])


def test_dashboards_ship_as_sidecar_config_maps_one_per_service(run: ProgramRun) -> None:
    site = site_of(run)
    maps = {
        r.metadata["name"]: r.inputs
        for r in run.kubernetes("ConfigMap")
        if r.metadata.get("labels", {}).get("grafana_dashboard") == "1"
    }
    services = [s.name for s in site.services]
    expected = {"platform-overview", "platform-gateway", *(f"service-{s}" for s in services)}
    if site.identity.enabled:
        expected.add("platform-identity")
    if site.cache.enabled:
        expected.add("platform-cache")
    if site.logging.enabled:
        expected.add("platform-logging")
    assert {name.removeprefix("dashboard-") for name in maps} == expected
    assert len(maps) >= 4
    for name, body in maps.items():
        (text,) = body["data"].values()
        board = yaml.safe_load(text)
        assert board["uid"] == name.removeprefix("dashboard-")
        assert queries(board), f"{name} has no query"
    assert (
        run.outputs["dashboards"] == sorted(expected, key=list(expected).index)
        or set(run.outputs["dashboards"]) == expected
    )


def test_every_expression_uses_metrics_the_components_export() -> None:
    recorded = {
        rule["record"]
        for group in rule_groups(SMALL_SITE_BACKUPS)
        for rule in group["rules"]
        if "record" in rule
    }
    unknown = {
        name
        for expr in all_expressions()
        for name in metric_names(expr)
        if not known(name) and name not in recorded
    }
    assert not unknown, f"metric names no component exports: {sorted(unknown)}"


def test_the_metric_name_check_catches_a_typo() -> None:
    assert metric_names('sum by (service) (rate(kong_http_request_total{code=~"5.."}[5m]))') == {
        "kong_http_request_total"
    }
    assert not known("kong_http_request_total")
    assert metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(kong_request_latency_ms_bucket[5m])))"
    ) == {"kong_request_latency_ms_bucket"}
    assert known("kong_request_latency_ms_bucket")


def test_the_services_catalog_matches_what_the_services_export() -> None:
    """The kit's metrics are read from a live registry; service counters from their sources."""
    script = (
        "import('@natplat/service-kit').then(async ({ createMetrics }) => {"
        "const m = createMetrics({ service: 'x' });"
        "const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);"
        "process.stdout.write(names.join('\\n')); })"
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        cwd=ROOT / "services",
        check=True,
    )
    exported = set(result.stdout.split())
    for source in (ROOT / "services").glob("*/src/*.js"):
        exported |= set(re.findall(r"name: '([a-z_]+_total)'", source.read_text()))
    assert METRICS["services"] <= exported, sorted(METRICS["services"] - exported)


def test_node_exporter_runs_in_the_node_agents_namespace(run: ProgramRun) -> None:
    values = chart(run)["values"]
    assert values["prometheus-node-exporter"]["namespaceOverride"] == "platform-node-agents"


def test_grafana_is_reached_through_kong_on_the_sites_domain(run: ProgramRun) -> None:
    site = site_of(run)
    (ingress,) = [r.inputs for r in run.kubernetes("Ingress") if r.metadata["name"] == "grafana"]
    assert ingress["spec"]["ingressClassName"] == "kong"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == f"grafana.{site.site.domain}" == run.outputs["grafanaUrl"].removeprefix("https://")
    assert ingress["metadata"]["annotations"][PUBLIC_ROUTE_ANNOTATION]
    (policy,) = [
        r.inputs["spec"]
        for r in run.kubernetes("NetworkPolicy")
        if r.metadata["name"] == "grafana-from-gateway"
    ]
    (peer,) = policy["ingress"][0]["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "platform-gateway"}
    assert [p["port"] for p in policy["ingress"][0]["ports"]] == [3000]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is needed: `make test` installs Debian's prometheus package"
    return path


def _rules_file(folder: Path) -> Path:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(SMALL_SITE_BACKUPS)}, sort_keys=False))
    return path


def test_promtool_checks_the_rules(promtool: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", _rules_file(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"SUCCESS: {sum(len(g['rules']) for g in rule_groups(SMALL_SITE_BACKUPS))} rules found"
        in result.stdout
    )


def test_promtool_unit_tests_cover_every_alert(promtool: str, tmp_path: Path) -> None:
    _rules_file(tmp_path)
    tested = set()
    for source in sorted(PROMTOOL_TESTS.glob("*.test.yaml")):
        shutil.copy(source, tmp_path / source.name)
        document = yaml.safe_load(source.read_text())
        tested |= {
            case["alertname"] for test in document["tests"] for case in test.get("alert_rule_test", [])
        }
        result = subprocess.run(
            [promtool, "test", "rules", tmp_path / source.name], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert set(alert_names(SMALL_SITE_BACKUPS)) <= tested, sorted(
        set(alert_names(SMALL_SITE_BACKUPS)) - tested
    )


def test_promtool_would_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m]) >"}]}]})
    )
    result = subprocess.run([promtool, "check", "rules", broken], capture_output=True, text=True, check=False)
    assert result.returncode != 0
