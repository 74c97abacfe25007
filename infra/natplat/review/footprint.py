"""`make footprint`: what a site asks the scheduler for, counted from what really deploys: the
objects `make render-charts` wrote for the site (the charts as helm renders them with our values,
and the program's own objects), with each operator's custom resource turned into the pods its
operator runs (Elasticsearch, Kibana, Logstash and Beats by ECK; Prometheus and Alertmanager by
prometheus-operator; Keycloak by its operator; PostgreSQL by CloudNativePG) and the Keycloak
Operator, which is applied from its release manifest rather than a chart.

Requests, not limits: they are what a node must have free for a pod to be placed. A pod asks
for the sum of its containers, or its largest init container if that is more (Kubernetes'
rule). DaemonSets count once per node (`--nodes`); Jobs run once and end, and are reported
apart. Containers an operator injects are counted with the resources it gives them where the
custom resource or the chart says so; where neither does they are listed as unsized.

    python -m natplat.review.footprint [--render build/render] [--nodes 3] [--budget 5,10Gi] SITE

It fails (exit 1) when the site asks for more than its budget: `--budget CPU,MEMORY`, or for a
site of the small profile SMALL_SITE_BUDGET (5 vCPU and 10 GiB with every layer on), which the
pull-request workflow's render job holds every small site to.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from natplat.review.offline import ROOT
from natplat.spec.quantities import byte_count, cpu_millicores
from natplat.spec.stackfile import load_stack_file

GIB = 1024**3
SMALL_SITE_BUDGET = "5,10Gi"


@dataclass
class Pods:
    """One line of the count: a workload, how many pods it runs and what each asks for."""

    source: str
    name: str
    pods: int
    cpu_m: int
    memory: int
    unsized: tuple[str, ...] = ()

    @property
    def total_cpu_m(self) -> int:
        return self.pods * self.cpu_m

    @property
    def total_memory(self) -> int:
        return self.pods * self.memory


@dataclass
class Footprint:
    site: str
    nodes: int
    running: list[Pods] = field(default_factory=list)
    transient: list[Pods] = field(default_factory=list)

    @property
    def cpu_m(self) -> int:
        return sum(p.total_cpu_m for p in self.running)

    @property
    def memory(self) -> int:
        return sum(p.total_memory for p in self.running)

    @property
    def unsized(self) -> list[str]:
        return [f"{p.name}/{c}" for p in self.running for c in p.unsized]


def _requests(container: Mapping[str, Any]) -> tuple[int, int, bool]:
    requests = (container.get("resources") or {}).get("requests") or {}
    cpu = requests.get("cpu")
    memory = requests.get("memory")
    return (
        cpu_millicores(str(cpu)) if cpu not in (None, 0, "0") else 0,
        byte_count(str(memory)) if memory not in (None, 0, "0") else 0,
        cpu is not None and memory is not None,
    )


def pod_requests(
    containers: Iterable[Mapping[str, Any]], init_containers: Iterable[Mapping[str, Any]] = ()
) -> tuple[int, int, tuple[str, ...]]:
    """A pod's effective requests: the sum of its containers, or the largest init container."""
    cpu = memory = 0
    unsized: list[str] = []
    for container in containers:
        c, m, sized = _requests(container)
        cpu, memory = cpu + c, memory + m
        if not sized:
            unsized.append(str(container.get("name")))
    init_cpu = init_memory = 0
    for container in init_containers:
        c, m, _ = _requests(container)
        init_cpu, init_memory = max(init_cpu, c), max(init_memory, m)
    return max(cpu, init_cpu), max(memory, init_memory), tuple(unsized)


def _template_pods(obj: Mapping[str, Any], source: str, count: int) -> Pods:
    pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    cpu, memory, unsized = pod_requests(pod.get("containers") or [], pod.get("initContainers") or [])
    return Pods(source, f"{obj['kind']} {obj['metadata'].get('name')}", count, cpu, memory, unsized)


def _resources_pods(source: str, name: str, count: int, resources: Mapping[str, Any] | None) -> Pods:
    cpu, memory, unsized = pod_requests([{"name": name, "resources": resources or {}}])
    return Pods(source, name, count, cpu, memory, unsized)


def _pod_template_of(spec: Mapping[str, Any], container: str) -> tuple[int, int, tuple[str, ...]]:
    pod = (spec.get("podTemplate") or {}).get("spec") or {}
    containers = [c for c in pod.get("containers") or [] if c.get("name") == container] or [
        {"name": container}
    ]
    return pod_requests(containers, pod.get("initContainers") or [])


def reloader_requests(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The requests prometheus-operator gives the config-reloader it injects into Prometheus and
    Alertmanager pods (its --config-reloader-*-request flags, as the chart renders them)."""
    found: dict[str, str] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"].get("containers") or []:
            for arg in container.get("args") or []:
                for key in ("cpu", "memory"):
                    prefix = f"--config-reloader-{key}-request="
                    if str(arg).startswith(prefix) and str(arg)[len(prefix) :] not in ("", "0"):
                        found[key] = str(arg)[len(prefix) :]
    return found


def sidecar_requests(objects: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """ObjectStore name → the resources of the Barman Cloud sidecar the plugin injects into every
    instance of a Cluster that archives to it (`instanceSidecarConfiguration.resources`)."""
    return {
        obj["metadata"]["name"]: ((obj.get("spec") or {}).get("instanceSidecarConfiguration") or {}).get(
            "resources"
        )
        or {}
        for obj in objects
        if obj.get("kind") == "ObjectStore"
    }


def expand(  # noqa: PLR0911 - one return per kind of workload
    obj: Mapping[str, Any],
    source: str,
    nodes: int,
    reloader: Mapping[str, str] | None = None,
    sidecars: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[Pods], list[Pods]]:
    """The pods one object stands for: (running, transient)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    name = f"{kind} {obj['metadata'].get('name')}"
    if kind in ("Deployment", "StatefulSet"):
        return [_template_pods(obj, source, int(spec.get("replicas", 1)))], []
    if kind == "DaemonSet":
        return [_template_pods(obj, source, nodes)], []
    if kind == "Job":
        return [], [_template_pods(obj, source, 1)]
    if kind == "Elasticsearch":
        running = []
        for node_set in spec.get("nodeSets") or []:
            cpu, memory, unsized = _pod_template_of(node_set, "elasticsearch")
            running.append(
                Pods(
                    source, f"{name}/{node_set['name']}", int(node_set.get("count", 1)), cpu, memory, unsized
                )
            )
        return running, []
    if kind in ("Kibana", "Logstash"):
        cpu, memory, unsized = _pod_template_of(spec, kind.lower())
        return [Pods(source, name, int(spec.get("count", 1)), cpu, memory, unsized)], []
    if kind == "Beat":
        cpu, memory, unsized = _pod_template_of(spec.get("daemonSet") or {}, spec.get("type", "filebeat"))
        return [Pods(source, name, nodes, cpu, memory, unsized)], []
    if kind in ("Prometheus", "Alertmanager"):
        main = _resources_pods(source, name, int(spec.get("replicas", 1)), spec.get("resources"))
        containers = [{"name": kind.lower(), "resources": spec.get("resources") or {}}]
        containers += [c for c in spec.get("containers") or [] if c.get("resources")]
        containers.append({"name": "config-reloader", "resources": {"requests": dict(reloader or {})}})
        cpu, memory, unsized = pod_requests(containers)
        return [Pods(source, name, main.pods, cpu, memory, unsized)], []
    if kind == "Keycloak":
        return [_resources_pods(source, name, int(spec.get("instances", 1)), spec.get("resources"))], []
    if kind == "Cluster" and str(obj.get("apiVersion", "")).startswith("postgresql.cnpg.io"):
        containers = [{"name": "postgres", "resources": spec.get("resources") or {}}]
        for plugin in spec.get("plugins") or []:
            store = (plugin.get("parameters") or {}).get("barmanObjectName")
            if store is not None:
                containers.append(
                    {"name": "plugin-barman-cloud", "resources": (sidecars or {}).get(store) or {}}
                )
        cpu, memory, unsized = pod_requests(containers)
        return [Pods(source, name, int(spec.get("instances", 1)), cpu, memory, unsized)], []
    return [], []


def count(render_dir: Path, site: str, nodes: int) -> Footprint:
    footprint = Footprint(site, nodes)
    files = {
        file.stem: [o for o in yaml.safe_load_all(file.read_text()) if o]
        for file in sorted((render_dir / site).glob("*.yaml"))
    }
    reloader = reloader_requests(o for objects in files.values() for o in objects)
    sidecars = sidecar_requests(o for objects in files.values() for o in objects)
    for source, objects in files.items():
        for obj in objects:
            running, transient = expand(obj, source, nodes, reloader, sidecars)
            footprint.running += running
            footprint.transient += transient
    return footprint


def report(footprint: Footprint) -> str:
    lines = [
        f"## {footprint.site}: {footprint.cpu_m / 1000:.2f} vCPU, {footprint.memory / GIB:.2f} GiB requested "
        f"({footprint.nodes} nodes for the DaemonSets)",
        "",
        "| from | workload | pods | CPU each | memory each |",
        "|---|---|---:|---:|---:|",
    ]
    for p in sorted(footprint.running, key=lambda p: -p.total_cpu_m):
        lines.append(f"| {p.source} | {p.name} | {p.pods} | {p.cpu_m}m | {p.memory // 2**20}Mi |")
    for p in footprint.transient:
        lines.append(f"| {p.source} | {p.name} (runs once) | - | {p.cpu_m}m | {p.memory // 2**20}Mi |")
    if footprint.unsized:
        lines += ["", "Containers without requests (counted as 0): " + ", ".join(footprint.unsized)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m natplat.review.footprint")
    parser.add_argument("--render", type=Path, default=Path("build/render"))
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--budget", help="CPU,MEMORY the site must stay within, e.g. 5,10Gi")
    parser.add_argument("site")
    args = parser.parse_args(argv)
    if not (args.render / args.site).is_dir():
        print(
            f"{args.render / args.site}: no rendered objects; run `make render-charts` first", file=sys.stderr
        )
        return 2
    footprint = count(args.render, args.site, args.nodes)
    print(report(footprint))
    budget = args.budget
    if budget is None and load_stack_file(ROOT / "stacks" / f"Pulumi.{args.site}.yaml").profile == "small":
        budget = SMALL_SITE_BUDGET
    if budget:
        cpu, memory = budget.split(",")
        over = footprint.cpu_m > cpu_millicores(cpu) or footprint.memory > byte_count(memory)
        print(f"\n{args.site}: {'over' if over else 'within'} the budget of {cpu} vCPU and {memory}")
        return 1 if over else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
