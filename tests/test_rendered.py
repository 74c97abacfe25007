"""Every raw Kubernetes object the program creates (chart internals and custom resources aside),
written out per stack as YAML, validated against the Kubernetes schema of the site's declared
version (kubernetes-validate, strict) and scanned with checkov (offline)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness import ROOT, ProgramRun
from natplat.spec.stackfile import load_stack_file

RENDERED = ROOT / "build" / "rendered"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# API groups whose schemas ship with Kubernetes; everything else is a custom resource.
CORE_GROUPS = re.compile(
    r"^kubernetes:(core|apps|batch|networking\.k8s\.io|policy|rbac\.authorization\.k8s\.io|autoscaling|scheduling\.k8s\.io)/"
)


def raw_objects(run: ProgramRun) -> list[dict[str, Any]]:
    return [r.inputs for r in run.resources if r.custom and CORE_GROUPS.match(r.type)]


def write_rendered(run: ProgramRun) -> Path:
    folder = RENDERED / run.stack
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index, obj in enumerate(raw_objects(run)):
        meta = obj["metadata"]
        name = f"{index:03d}-{obj['kind']}-{meta.get('namespace', 'cluster')}-{meta['name']}.yaml".lower()
        (folder / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    return folder


def test_every_object_is_valid_for_the_sites_kubernetes_version(run: ProgramRun) -> None:
    version = load_stack_file(ROOT / "stacks" / f"Pulumi.{run.stack}.yaml").site.kubernetes_version
    objects = raw_objects(run)
    assert len(objects) >= 40
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, f"{version}.0", strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")
    assert errors == []


def test_the_schema_check_catches_a_typo() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"prots": [{"port": 80}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.36.0", strict=True)


@pytest.fixture(scope="module")
def checkov() -> Path:
    assert CHECKOV.exists(), "checkov is installed into .venv-checkov by `make test` (make checkov)"
    return CHECKOV


def _scan(checkov: Path, folder: Path) -> dict[str, Any]:
    result = subprocess.run(
        [checkov, "--config-file", ROOT / ".checkov.yaml", "-d", folder, "-o", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    report = json.loads(result.stdout)
    return report if isinstance(report, dict) else report[0]


@pytest.fixture(scope="module")
def checkov_report(checkov: Path) -> dict[str, Any]:
    """One checkov run over every stack's rendered objects (a folder per stack)."""
    from conftest import stack_run  # noqa: PLC0415 - the session's cached runs
    from harness import STACKS  # noqa: PLC0415

    for stack in STACKS:
        write_rendered(stack_run(stack))
    return _scan(checkov, RENDERED)


def test_checkov_finds_nothing_unskipped(run: ProgramRun, checkov_report: dict[str, Any]) -> None:
    mine = f"/{run.stack}/"

    def of_stack(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [c for c in checks if mine in c["file_path"]]

    failed = [
        f"{c['check_id']} {c['resource']}" for c in of_stack(checkov_report["results"]["failed_checks"])
    ]
    assert failed == []
    assert checkov_report["summary"]["passed"] > 100 * len(list(RENDERED.iterdir()))
    assert checkov_report["summary"]["parsing_errors"] == 0


def test_checkov_would_fail_a_privileged_pod(checkov: Path, tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bad", "namespace": "platform-services"},
                "spec": {
                    "containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]
                },
            }
        )
    )
    report = _scan(checkov, tmp_path)
    assert any(c["check_id"] == "CKV_K8S_16" for c in report["results"]["failed_checks"])


def test_every_checkov_skip_gives_its_reason() -> None:
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"^\s+- CKV_", line)]
    assert skips
    for index in skips:
        assert lines[index - 1].strip().startswith("#"), f"no reason above {lines[index].strip()}"
