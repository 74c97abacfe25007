"""Every stack file evaluates under mocks: the program runs, builds its layers and exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import stack_run
from harness import PROGRAM_DIR, STACKS, ProgramRun


def test_the_program_runs_and_registers_its_layers(run: ProgramRun) -> None:
    components = {r.type for r in run.resources if not r.custom}
    assert {"platform:cluster:KubernetesCluster", "platform:cluster:ClusterBaseline"} <= components
    assert len(run.resources) >= 30


def test_stack_outputs_describe_the_site(run: ProgramRun) -> None:
    assert run.outputs["site"] == run.stack
    assert run.outputs["profile"] in {"small", "medium", "large"}
    assert run.outputs["namespaces"]["gateway"] == "platform-gateway"
    assert run.outputs["airGapped"] == (run.stack == "north")


# Upstream component resources the program uses as they are (a chart renders into many objects).
UPSTREAM_COMPONENTS = {"kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigFile"}


def test_component_type_tokens_follow_the_convention(run: ProgramRun) -> None:
    for resource in run.resources:
        if not resource.custom and resource.type not in UPSTREAM_COMPONENTS:
            assert resource.type.startswith("platform:"), resource.type
            assert len(resource.type.split(":")) == 3


def test_resource_names_are_unique_per_type(run: ProgramRun) -> None:
    seen = [(r.type, r.name) for r in run.resources]
    assert len(seen) == len(set(seen)), "two resources share a URN"


IMPORT_CHECK = """
import importlib, pkgutil, sys
import pulumi
from pulumi.runtime import settings
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
from harness import RecordingMocks
mocks = RecordingMocks()
pulumi.runtime.set_mocks(mocks, project="national-platform", stack="import-check", preview=False)
import natplat
names = [m.name for m in pkgutil.walk_packages(natplat.__path__, "natplat.")]

@pulumi.runtime.test  # waits for any registration the imports started
def import_all():
    for name in names:
        importlib.import_module(name)

import_all()
print(len(names), len(mocks.resources))
"""


def test_importing_the_package_creates_no_resource() -> None:
    """In a fresh interpreter (a reload here would swap classes under the other tests)."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, str(PROGRAM_DIR), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    modules, resources = map(int, result.stdout.split())
    assert modules >= 8 and resources == 0


def test_no_module_of_the_program_shadows_the_standard_library() -> None:
    top_level = {p.stem for p in Path(PROGRAM_DIR).iterdir() if p.suffix == ".py" or p.is_dir()}
    assert not (top_level - {"__main__", "__pycache__"}) & set(sys.stdlib_module_names)


def test_stack_list_is_what_the_folder_holds() -> None:
    assert sorted(STACKS) == ["capital", "coast", "local", "north", "staging"]


def test_no_secret_or_config_map_has_an_empty_data_map(run: ProgramRun) -> None:
    """An empty `data`/`stringData` is diffed as newly added on every `pulumi up`, and Secret data
    is replace-on-change: the object would be deleted and re-created each time (north's
    alertmanager-receivers was, with Alertmanager's mounted receivers vanishing meanwhile)."""
    empty = [
        f"{r.kind} {r.metadata.get('namespace')}/{r.metadata.get('name')}"
        for r in run.resources
        if r.kind in ("Secret", "ConfigMap")
        and any(key in r.inputs and not r.inputs[key] for key in ("data", "stringData", "binaryData"))
    ]
    assert empty == []


def test_a_site_without_receiver_credentials_mounts_no_receivers_secret() -> None:
    run = stack_run("north")
    assert not [r for r in run.kubernetes("Secret") if r.metadata["name"] == "alertmanager-receivers"]
    (chart,) = [r.inputs for r in run.of_type("kubernetes:helm.sh/v4:Chart") if r.name == "monitoring"]
    assert chart["values"]["alertmanager"]["alertmanagerSpec"]["secrets"] == []
