"""The policy pack as real previews run it: it starts from its own pinned environment the way the
Pulumi CLI starts it, and it judges the objects charts render (under helm.v4.Chart each is a
resource of its own) on fixtures shaped like them, each policy with a written stance."""

from __future__ import annotations

import copy
import re
import subprocess
from typing import Any

import grpc
import pulumi
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from harness import ROOT
from natplat.blocks.charts import label_transform
from natplat.blocks.labels import with_platform_labels
from natplat.review.policy_config import POLICY_NAMES, SINGLETONS, policy_config
from natplat.spec.stackfile import load_stack_file
from test_policies import LABELS, violations

POLICY_VENV = ROOT / "policies" / "venv"


def test_every_policy_states_what_it_reads_of_components_and_their_objects_in_code_and_readme() -> None:
    from platform_policies import REAL_ENGINE  # noqa: PLC0415 - on sys.path via test_policies

    assert list(REAL_ENGINE) == list(POLICY_NAMES)
    readme = (ROOT / "README.md").read_text()
    for name, reads in REAL_ENGINE.items():
        assert len(reads.components) > 20 and len(reads.children) > 20
        assert f"| `{name}` | {reads.components} | {reads.children} |" in readme, name


def test_the_pack_environment_is_pinned_by_the_programs_constraints() -> None:
    assert (POLICY_VENV / ".installed").exists(), "make test builds it: make policy-venv"
    frozen = subprocess.run(
        [str(POLICY_VENV / "bin" / "python"), "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pins = {
        re.split(r"==", line)[0].lower().replace("_", "-"): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for line in frozen:
        name, version = line.split("==")
        assert pins.get(name.lower().replace("_", "-")) == version, f"{line} is not pinned by constraints.txt"


def test_the_pack_starts_as_the_cli_starts_it_and_lists_every_policy() -> None:
    """The CLI runs the pack's program in its virtualenv and reads the port of its analyzer from
    its first line of output; the analyzer then describes the pack."""
    process = subprocess.Popen(
        [str(POLICY_VENV / "bin" / "python"), "-u", "__main__.py"],
        cwd=ROOT / "policies",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline().strip())  # type: ignore[union-attr]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=20)
        assert info.name == "national-platform"
        assert [p.name for p in info.policies] == list(POLICY_NAMES)
    finally:
        process.kill()
        process.wait(timeout=10)


# ---------------------------------------------------------------------------- chart-shaped fixtures

GRAFANA = {
    "metadata": {
        "name": "monitoring-grafana",
        "namespace": "platform-monitoring",
        # What kube-prometheus-stack's Grafana sub-chart puts on its objects: none of ours.
        "labels": {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "monitoring"},
    },
    "spec": {
        "replicas": 1,
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "grafana"}},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "grafana-sc-dashboard",
                        "image": "quay.io/kiwigrid/k8s-sidecar:2.10.1",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    },
}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"


def _site(name: str = "capital") -> dict[str, dict[str, Any]]:
    return policy_config(load_stack_file(ROOT / "stacks" / f"Pulumi.{name}.yaml"))


def test_a_chart_sidecar_without_requests_is_refused_and_a_sized_one_passes() -> None:
    settings = _site()["container-resources"]
    assert violations("container-resources", DEPLOYMENT, GRAFANA, settings=settings)
    sized = copy.deepcopy(GRAFANA)
    sized["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "10m", "memory": "64Mi"},
        "limits": {"memory": "128Mi"},
    }
    assert violations("container-resources", DEPLOYMENT, sized, settings=settings) == []


def test_chart_objects_get_the_platform_labels_from_the_transform() -> None:
    settings = _site()["common-labels"]
    assert len(violations("common-labels", DEPLOYMENT, GRAFANA, settings=settings)) == 2
    labelled = with_platform_labels(GRAFANA, "capital", "monitoring")
    assert violations("common-labels", DEPLOYMENT, labelled, settings=settings) == []
    # Only the object's own metadata: the pod template and selectors are the chart's.
    assert labelled["spec"] == GRAFANA["spec"]
    assert labelled["metadata"]["labels"]["app.kubernetes.io/name"] == "grafana"


def test_the_transform_labels_chart_children_and_leaves_the_rest() -> None:
    transform = label_transform("north", "redis-ha")
    options = pulumi.ResourceOptions()

    def args(type_: str, props: dict[str, Any]) -> pulumi.ResourceTransformArgs:
        return pulumi.ResourceTransformArgs(True, type_, "r", props, options)

    result = transform(
        args("kubernetes:core/v1:Service", {"metadata": {"name": "redis-ha", "labels": {"app": "redis-ha"}}})
    )
    assert result is not None and result.props["metadata"]["labels"] == {
        "app": "redis-ha",
        "app.kubernetes.io/name": "redis-ha",
        "app.kubernetes.io/part-of": "national-platform",
        "national-platform/site": "north",
    }
    assert transform(args("kubernetes:helm.sh/v4:Chart", {"metadata": {}})) is None
    assert transform(args("random:index/randomPassword:RandomPassword", {"length": 32})) is None


def test_a_single_replica_operator_on_a_medium_site_is_refused_unless_named_with_a_reason() -> None:
    operator = {
        "metadata": {"name": "elastic-operator", "namespace": "platform-logging", "labels": dict(LABELS)},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"control-plane": "elastic-operator"}}}},
    }
    stack = [(STATEFUL_SET, operator)]
    settings = _site("staging")["replicas-and-disruption-budgets"]
    assert settings["highAvailability"] is True
    assert violations("replicas-and-disruption-budgets", stack=stack, settings=settings) == []
    assert (
        settings["singletonReasons"]["platform-logging/elastic-operator"]
        == SINGLETONS["platform-logging/elastic-operator"]
    )
    without = {**settings, "singletons": [s for s in settings["singletons"] if "elastic-operator" not in s]}
    found = violations("replicas-and-disruption-budgets", stack=stack, settings=without)
    assert any("1 replica(s)" in f for f in found) and any("no PodDisruptionBudget" in f for f in found)


@pytest.mark.parametrize(
    "props",
    [
        {"metadata": {"name": None}},
        {"metadata": {}},
        unknown_checking_proxy({"metadata": {"name": UNKNOWN_STRING_VALUE}}),
    ],
    ids=["none", "absent", "unknown-through-the-sdk-proxy"],
)
def test_a_namespace_whose_name_is_unknown_in_preview_is_not_a_violation(props: Any) -> None:
    """The local stack's namespaces are named from the kind cluster, which a preview has not
    created yet: the engine passes the names as unknown."""
    namespace = ("kubernetes:core/v1:Namespace", props)
    settings = _site("local")["namespaces-default-deny"]
    assert violations("namespaces-default-deny", stack=[namespace], settings=settings) == []
    known = ("kubernetes:core/v1:Namespace", {"metadata": {"name": "platform-cache", "labels": dict(LABELS)}})
    assert violations("namespaces-default-deny", stack=[known], settings=settings) == [
        "namespace platform-cache has no default-deny NetworkPolicy"
    ]
