"""The policy pack over what the real Pulumi engine gives it: recordings of real previews of every
committed stack (shared/fixtures/real-preview, made against a real API server with the charts
rendered at their pins; refreshed as the platform changes). Charts and manifest files arrive as
components with no inputs, and their rendered objects as resources of their own: the pack must
find no mandatory violation there, and must find each of the three faults that once failed every
real preview when it is put back. Assertions are on what matters, never on the recordings' counts."""

from __future__ import annotations

import copy
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import stack_run
from harness import ROOT
from natplat.review.policy_config import policy_config
from natplat.spec.stackfile import load_stack_file
from test_policies import violations

from platform_policies import POLICIES  # isort: skip - on sys.path through test_policies
from platform_policies.judge import Seen, Verdict, judge  # isort: skip

RECORDINGS = Path(os.environ.get("NATPLAT_REAL_PREVIEWS", ROOT.parent / "shared/fixtures/real-preview"))
FILES = sorted(RECORDINGS.glob("*.jsonl.gz"))
CHART = "kubernetes:helm.sh/v4:Chart"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"

if not FILES and not os.environ.get("CI"):
    pytest.skip(f"no real-preview recordings at {RECORDINGS}", allow_module_level=True)


def test_the_recordings_are_there_in_ci() -> None:
    """CI has shared/ beside the clone: a missing recording would silently test nothing."""
    assert FILES, f"no recordings at {RECORDINGS} (set NATPLAT_REAL_PREVIEWS)"


def _site(path: Path) -> str:
    return path.name.split(".")[0].removesuffix("-after-up")


def _load(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with gzip.open(path, "rt") as lines:
        rows = [json.loads(line) for line in lines]
    return [r for r in rows if r["seen_by"] == "resource"], [r for r in rows if r["seen_by"] == "stack"]


def _seen(rows: list[dict[str, Any]]) -> list[Seen]:
    return [Seen(r["resource_type"], r["name"], r["props"], r["urn"], r["opts"]["parent"]) for r in rows]


def _judge(path: Path, *, rows: tuple[list, list] | None = None, settings: dict | None = None) -> Verdict:
    resources, stack = rows or _load(path)
    config = settings or policy_config(load_stack_file(ROOT / "stacks" / f"Pulumi.{_site(path)}.yaml"))
    return judge(POLICIES, config, _seen(resources), _seen(stack))


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_the_pack_finds_no_mandatory_violation_in_a_real_preview(path: Path) -> None:
    resources, _ = _load(path)
    children = [r for r in resources if f"${CHART}$" in r["urn"] or f"${CONFIG_FILE}$" in r["urn"]]
    components = [r for r in resources if r["resource_type"] in (CHART, CONFIG_FILE)]
    # What makes this a real preview: components without inputs, and (where the provider could
    # render, every site but local) their objects as resources of their own.
    assert components and all(r["props"] == {} for r in components)
    if _site(path) != "local":
        assert {r["resource_type"] for r in children} >= {
            "kubernetes:apps/v1:Deployment",
            "kubernetes:rbac.authorization.k8s.io/v1:Role",
        }
    verdict = _judge(path)
    assert unfixed(path, verdict) == []


def unfixed(path: Path, verdict: Verdict) -> list[str]:
    """The violations of a recording that the program as it is now still has. A recording is of
    the program when it was made: a violation on one of the program's own objects whose current
    inputs (under mocks) pass the same policy is fixed since, and is listed in `FIXED_SINCE`;
    a chart's or manifest's object, or a stack policy's finding, is never excused."""
    run = stack_run(_site(path))
    config = policy_config(load_stack_file(ROOT / "stacks" / f"Pulumi.{_site(path)}.yaml"))
    left = []
    for finding in verdict.violations:
        seen = finding.resource
        now = [
            r
            for r in run.resources
            if seen is not None and (r.type, r.name) == (seen.resource_type, seen.name)
        ]
        if (
            (finding.policy, seen and seen.resource_type) in FIXED_SINCE
            and len(now) == 1
            and not violations(finding.policy, now[0].type, now[0].inputs, settings=config[finding.policy])
        ):
            continue
        left.append(f"{finding.policy}: {finding.message}")
    return left


FIXED_SINCE = {
    # The recordings predate issue 26: ECK built Elasticsearch and Logstash pods without fsGroup.
    ("volumes-writable-by-the-pod", "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"),
    ("volumes-writable-by-the-pod", "kubernetes:logstash.k8s.elastic.co/v1alpha1:Logstash"),
}
"""(policy, type) of the program's objects fixed since the recordings were made: excused only where
the program's current inputs pass. Empty again once the recordings are refreshed."""


def _put_back(path: Path, change: Any) -> tuple[list, list]:
    resources, stack = _load(path)
    for row in [*resources, *stack]:
        change(row)
    return resources, stack


STAGING_AFTER_UP = RECORDINGS / "staging-after-up.jsonl.gz"
CAPITAL = RECORDINGS / "capital.jsonl.gz"


def test_a_chart_arrives_without_inputs_and_its_objects_carry_the_rendered_version() -> None:
    """Cause 1: `charts-pinned` read the version from inputs only the mocks carry. A real Chart
    passes; a rendered object of a catalog chart at another version than its pin is refused."""
    assert violations("charts-pinned", CHART, {}) == []

    def older_kong(row: dict[str, Any]) -> None:
        labels = (row["props"].get("metadata") or {}).get("labels") or {}
        if labels.get("helm.sh/chart") == "kong-3.4.1":
            labels["helm.sh/chart"] = "kong-3.4.0"

    found = unfixed(STAGING_AFTER_UP, _judge(STAGING_AFTER_UP, rows=_put_back(STAGING_AFTER_UP, older_kong)))
    assert found and all(f.startswith("charts-pinned: ") for f in found)
    assert any("rendered from chart kong 3.4.0; the catalog pins 3.4.1" in f for f in found)


def test_a_component_has_no_labels_to_judge_and_its_objects_do() -> None:
    """Cause 2: `common-labels` judged the ConfigFile components, which have no metadata. Their
    objects are judged instead: one without the platform's labels is refused."""
    settings = policy_config(load_stack_file(ROOT / "stacks" / "Pulumi.staging.yaml"))["common-labels"]
    assert violations("common-labels", CONFIG_FILE, {}, settings=settings) == []

    def unlabel_operator(row: dict[str, Any]) -> None:
        if (
            row["seen_by"] == "resource"
            and row["name"].startswith("keycloak-operator:")
            and (row["resource_type"] == "kubernetes:apps/v1:Deployment")
        ):
            row["props"]["metadata"]["labels"] = {}

    found = unfixed(
        STAGING_AFTER_UP, _judge(STAGING_AFTER_UP, rows=_put_back(STAGING_AFTER_UP, unlabel_operator))
    )
    assert {f.split(":")[0] for f in found} == {"common-labels"} and len(found) == 3


def test_the_identity_operators_are_singletons_with_reasons_and_refused_without() -> None:
    """Cause 3: the Keycloak Operator's and CloudNativePG's Deployments (one replica, no budget)
    reached real previews of medium and large sites without being among the singletons."""
    settings = policy_config(load_stack_file(ROOT / "stacks" / "Pulumi.capital.yaml"))
    assert unfixed(CAPITAL, _judge(CAPITAL, settings=settings)) == []
    operators = {"platform-identity/keycloak-operator", "platform-databases/cnpg-cloudnative-pg"}
    without = copy.deepcopy(settings)
    for config in without.values():
        config["singletons"] = [s for s in config["singletons"] if s not in operators]
    found = unfixed(CAPITAL, _judge(CAPITAL, settings=without))
    assert {f.split(": ")[1] for f in found} == operators
    assert all(f.startswith("replicas-and-disruption-budgets: ") for f in found)


def _privileged(path: Path) -> tuple[dict[str, Any], Verdict]:
    resources, _ = _load(path)
    deployment = next(
        r
        for r in resources
        if r["resource_type"] == "kubernetes:apps/v1:Deployment"
        and r["name"].startswith("keycloak-operator:")
    )
    broken = copy.deepcopy(deployment)
    broken["props"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    return broken, _judge(path, rows=([broken], []))


def test_an_unknown_value_is_judged_at_up_not_read_as_a_violation() -> None:
    """The local stack's namespaces are named from a cluster a preview has not created: whether a
    privileged pod is in the node agents' namespace is unknown there, so the engine's advisory
    "can't run during preview" stands for it (and `up` judges it); where the namespace is known,
    the same pod is refused."""
    assert unfixed(RECORDINGS / "local.jsonl.gz", _judge(RECORDINGS / "local.jsonl.gz")) == []
    broken, verdict = _privileged(RECORDINGS / "staging.jsonl.gz")
    assert any(
        f.policy == "no-privilege-escalation" and "not be privileged" in f.message for f in verdict.violations
    )
    local = RECORDINGS / "local.jsonl.gz"
    resources, _ = _load(local)
    deployment = next(r for r in resources if r["resource_type"] == "kubernetes:apps/v1:Deployment")
    broken = copy.deepcopy(deployment)
    broken["props"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    verdict = _judge(local, rows=([broken], []))
    assert verdict.violations == []
    assert (
        "no-privilege-escalation",
        f"{broken['name']}: string value at .metadata.namespace can't be known during preview",
    ) in verdict.unknown


@pytest.mark.parametrize("site", ["staging", "capital"])
def test_eck_pods_that_write_volumes_were_recorded_without_fsgroup_and_now_carry_it(site: str) -> None:
    """ECK 3.5.0 adds its own fsGroup only to a template without a pod securityContext, so the
    recorded Elasticsearch and Logstash templates (which set one) had none: the rule refuses
    them; the program's templates now carry it, and the rule accepts them."""
    path = RECORDINGS / f"{site}.jsonl.gz"
    recorded = [f for f in _judge(path).violations if f.policy == "volumes-writable-by-the-pod"]
    assert {f.resource.name for f in recorded if f.resource} == {"elasticsearch", "logstash"}
    assert unfixed(path, Verdict(recorded)) == []
