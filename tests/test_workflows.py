"""The workflows' command lines that a security review and a reviewer rely on (actionlint and
zizmor run over them in test_plan): the drift job compares with the live cluster, its report names
each drifted resource and field, and pull-request comments are edited in place, one per topic."""

from __future__ import annotations

import json
import re

import yaml

from harness import ROOT
from natplat.review.drift import describe_urn, drift_lines, main, report

WORKFLOWS = ROOT / ".github" / "workflows"
STACK = "urn:pulumi:staging::national-platform::"

# A preview JSON document in the engine's format (`pulumi preview --json`), for the two drifts seen
# on a real staging cluster after a `pulumi up`: a default-deny NetworkPolicy deleted by hand and
# Kong scaled from 2 to 5 replicas.
PREVIEW = {
    "steps": [
        {
            "op": "create",
            "urn": STACK + "platform:cluster:ClusterBaseline$kubernetes:networking.k8s.io/v1:NetworkPolicy::"
            "default-deny-platform-services",
            "newState": {"type": "kubernetes:networking.k8s.io/v1:NetworkPolicy"},
        },
        {
            "op": "update",
            "urn": STACK
            + "platform:gateway:KongGateway$kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment::"
            "platform-gateway/kong-kong",
            "diffReasons": ["spec"],
            "detailedDiff": {"spec.replicas": {"kind": "update", "inputDiff": False}},
        },
        {"op": "same", "urn": STACK + "kubernetes:core/v1:Namespace::platform-gateway"},
        {"op": "refresh", "urn": STACK + "kubernetes:core/v1:Namespace::platform-cache"},
    ],
    "changeSummary": {"create": 1, "update": 1, "same": 437},
}


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def run_lines(document: dict) -> str:
    return "\n".join(
        step.get("run", "") for job in document["jobs"].values() for step in job.get("steps", [])
    )


def test_the_drift_job_refreshes_before_comparing() -> None:
    script = run_lines(workflow("drift.yml"))
    preview = next(line for line in script.splitlines() if "pulumi preview" in line)
    preview += script.split(preview, 1)[1].splitlines()[0]
    for flag in ("--refresh", "--expect-no-changes", "--json"):
        assert flag in preview, flag
    assert "natplat.review.drift" in script


def test_the_drift_report_names_each_resource_and_field() -> None:
    lines = drift_lines(PREVIEW)
    assert lines == [
        "- `NetworkPolicy default-deny-platform-services` deleted outside Pulumi: "
        "the next `pulumi up` creates it again",
        "- `Deployment platform-gateway/kong-kong` changed outside Pulumi: "
        "the next `pulumi up` sets it back: spec.replicas",
    ]
    text = report(PREVIEW, "staging")
    assert text.startswith("## Drift on staging") and "2 resource(s) differ (1 create, 1 update)" in text
    assert "No drift" in report({"steps": [PREVIEW["steps"][2]], "changeSummary": {"same": 439}}, "north")


def test_the_drift_report_reads_the_cli_output_file(tmp_path) -> None:
    out = tmp_path / "drift.json"
    out.write_text("warning: something before the document\n" + json.dumps(PREVIEW))
    assert main([str(out), "staging"]) == 0


def test_urns_read_as_kinds_and_names() -> None:
    assert describe_urn(
        STACK + "platform:monitoring:MonitoringStack$kubernetes:core/v1:Secret::alertmanager-receivers"
    ) == ("Secret alertmanager-receivers")
    assert (
        describe_urn(STACK + "pulumi:providers:kubernetes::cluster") == "pulumi:providers:kubernetes cluster"
    )


def test_pull_request_comments_are_edited_in_place_one_per_topic() -> None:
    text = (WORKFLOWS / "pull-request.yml").read_text()
    assert "gh pr comment" not in text
    markers = re.findall(r'upsert-comment\.sh "\$PR" "([^"]+)"', text)
    assert markers == ["offline-plan-diff", "preview-${SITE}"]
    script = (ROOT / ".github" / "scripts" / "upsert-comment.sh").read_text()
    assert "--method PATCH" in script and "--method POST" in script and "startswith" in script


def test_deploys_refuse_placeholder_secrets() -> None:
    assert "STRICT=1" in run_lines(workflow("deploy-site.yml"))
