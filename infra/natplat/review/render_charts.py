"""`make render-charts`: render every site's pinned charts with the values the program gives them
(from the offline plan, secrets redacted), then check what really deploys: the charts' objects
together with the program's own, against the site's Kubernetes schema (kubernetes-validate,
strict), checkov (with `.checkov.yaml`'s reasoned skips) and the platform's invariants
(`natplat.review.render_check`).

The plain manifests the program applies by URL (the Keycloak Operator's) are rendered too, from
their upstream URLs or a folder laid out as a site's manifest mirror (`--manifests-from`,
`<project>/<version>/<path>`), with the very transforms the program applies to them. Then the
policy pack's own rules run over everything (charts, manifests and the program's objects), with
the exemptions the pack reads for the site: a chart's or a manifest's objects are judged here
before any real preview.

It needs `helm` (HELM_VERSION) and the chart repositories, or a folder of unpacked charts
(`--charts-from`, one `<chart name>/` per chart, as `helm pull --untar` leaves them): it runs on
ops machines and in the pull-request workflow, not on machines without them.

    python -m natplat.review.render_charts [--plan build/plan] [--out build/render] [--site north ...]
        [--charts-from DIR] [--manifests-from DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import yaml

from natplat.blocks.labels import with_platform_labels
from natplat.layers.baseline import NAMESPACES, PULL_SECRET_NAME
from natplat.layers.gateway.kong import PROXY_SERVICE
from natplat.layers.identity.keycloak import manifest_transforms
from natplat.review.offline import ROOT
from natplat.review.policy_config import policy_config
from natplat.review.render_check import SiteFacts, check
from natplat.spec.catalog import CHARTS, KEYCLOAK_OPERATOR_MANIFESTS
from natplat.spec.model import Site
from natplat.spec.stackfile import load_stack_file

HELM_VERSION = "v3.19.0"
HELM_INSTALL = f"go install helm.sh/helm/v3/cmd/helm@{HELM_VERSION}  (then put $(go env GOPATH)/bin on PATH)"
MONITORING_API = "monitoring.coreos.com/v1"
"""Declared to helm: the monitoring layer installs these CRDs in the same `pulumi up`."""
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
BUILT_IN_GROUPS = {
    "v1",
    "apps/v1",
    "batch/v1",
    "networking.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
    "autoscaling/v2",
    "scheduling.k8s.io/v1",
    "admissionregistration.k8s.io/v1",
    "apiextensions.k8s.io/v1",
}


class _ManifestLoader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` (in some CRDs' enums) as the obsolete `value` type: keep it text."""


_ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_manifests(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(text, Loader=_ManifestLoader) if d]


def site_facts(inventory: dict[str, Any], image_mirror: str | None) -> SiteFacts:
    return SiteFacts(
        site=inventory["site"],
        gateway_namespace="platform-gateway",
        gateway_proxy_service=PROXY_SERVICE,
        allowed_images=frozenset(i["pulledFrom"] for i in inventory["images"]),
        image_mirror=image_mirror,
    )


def helm_command(
    chart: dict[str, Any], values_dir: Path, kubernetes_version: str, charts_from: Path | None
) -> list[str]:
    upstream = {c.name: c for c in CHARTS}[chart["chart"].rsplit("/", 1)[-1]]
    source = (
        [str(charts_from / upstream.name)]
        if charts_from
        else [upstream.name, "--repo", upstream.repository, "--version", upstream.version]
    )
    files = [values_dir / f"{chart['name']}.removed.yaml", values_dir / f"{chart['name']}.yaml"]
    return [
        "helm",
        "template",
        chart["name"],
        *source,
        "--namespace",
        chart["namespace"],
        "--kube-version",
        f"{kubernetes_version}.0",
        "--api-versions",
        MONITORING_API,
        "--include-crds",
        # helm.v4.Chart leaves out test hooks (helm.sh/hook: test); so does the render.
        "--skip-tests",
        *[arg for f in files if f.exists() for arg in ("--values", str(f))],
    ]


def validate_schemas(objects: list[dict[str, Any]], kubernetes_version: str) -> list[str]:
    problems = []
    for obj in objects:
        if obj.get("apiVersion") not in BUILT_IN_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, f"{kubernetes_version}.0", strict=True)
        except kubernetes_validate.ValidationError as error:
            meta = obj.get("metadata") or {}
            problems.append(
                f"schema: {obj['kind']} {meta.get('name')}: {error.message} at {list(error.path)}"
            )
    return problems


CHECKOV_EXEMPTIONS: dict[tuple[str, str], str] = {
    ("CKV_K8S_155", "ClusterRole.default.cert-manager-cainjector"): (
        "cert-manager's CA injector writes the caBundle of webhook configurations: its whole job"
    ),
    **{
        ("CKV_K8S_38", f"Deployment.platform-certificates.{name}"): "it watches the Kubernetes API"
        for name in ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook")
    },
    ("CKV_K8S_9", "Deployment.platform-certificates.cert-manager"): (
        "cert-manager v1.21.1's chart gives the controller a liveness probe only (it serves no traffic)"
    ),
    ("CKV_K8S_8", "Deployment.platform-certificates.cert-manager-cainjector"): (
        "cert-manager v1.21.1's chart defines no probes for the CA injector; it exits on failure"
    ),
    ("CKV_K8S_9", "Deployment.platform-certificates.cert-manager-cainjector"): (
        "cert-manager v1.21.1's chart defines no probes for the CA injector; it serves no traffic"
    ),
    ("CKV_K8S_38", "Deployment.platform-databases.plugin-barman-cloud"): (
        "the Barman Cloud plugin watches ObjectStores and writes Roles through the Kubernetes API"
    ),
    ("CKV_K8S_8", "Deployment.platform-databases.plugin-barman-cloud"): (
        "plugin-barman-cloud 0.7.0's chart defines a readiness probe only; the plugin exits on failure"
    ),
    ("CKV_K8S_38", "Deployment.platform-identity.keycloak-operator"): (
        "the Keycloak Operator watches and writes Keycloak's objects through the Kubernetes API"
    ),
    ("CKV_K8S_155", "ClusterRole.default.cnpg-cloudnative-pg"): (
        "CloudNativePG patches its own webhook configurations with the CA it generates (get, patch)"
    ),
    (
        "CKV_K8S_38",
        "Deployment.platform-databases.cnpg-cloudnative-pg",
    ): "the operator watches the Kubernetes API",
    ("CKV_K8S_155", "ClusterRole.default.elastic-operator"): (
        "the ECK operator manages its own validating webhook configuration (webhook.manageCerts)"
    ),
    (
        "CKV_K8S_38",
        "StatefulSet.platform-logging.elastic-operator",
    ): "the operator watches the Kubernetes API",
    ("CKV_K8S_8", "StatefulSet.platform-logging.elastic-operator"): (
        "eck-operator 3.5.0's chart defines no probes; the operator exits on failure and is restarted"
    ),
    ("CKV_K8S_9", "StatefulSet.platform-logging.elastic-operator"): (
        "eck-operator 3.5.0's chart defines no probes; the operator exits on failure and is restarted"
    ),
    ("CKV_K8S_49", "ClusterRole.default.monitoring-operator"): (
        "prometheus-operator's role uses wildcards over its own API group (monitoring.coreos.com)"
    ),
    (
        "CKV_K8S_38",
        "Deployment.platform-monitoring.monitoring-operator",
    ): "the operator watches the Kubernetes API",
    ("CKV_K8S_38", "Deployment.platform-monitoring.monitoring-kube-state-metrics"): (
        "kube-state-metrics lists the Kubernetes API's objects: that is its job"
    ),
    ("CKV_K8S_38", "Deployment.platform-monitoring.monitoring-grafana"): (
        "Grafana's sidecars read the dashboard and datasource ConfigMaps through the API "
        "(its Role: ConfigMaps only)"
    ),
    ("CKV_K8S_8", "Deployment.platform-monitoring.monitoring-grafana"): (
        "the k8s-sidecar containers expose no health endpoint; Grafana's own container has both probes"
    ),
    ("CKV_K8S_9", "Deployment.platform-monitoring.monitoring-grafana"): (
        "the k8s-sidecar containers expose no health endpoint; Grafana's own container has both probes"
    ),
    ("CKV_K8S_17", "DaemonSet.platform-node-agents.monitoring-prometheus-node-exporter"): (
        "a node agent: process metrics need the host's PID namespace (the node agents' namespace allows it)"
    ),
    ("CKV_K8S_19", "DaemonSet.platform-node-agents.monitoring-prometheus-node-exporter"): (
        "a node agent: network metrics need the host's network namespace "
        "(the node agents' namespace allows it)"
    ),
}
"""checkov findings on chart objects that the chart gives no way to change, each with its reason
(checkov's own skips need an annotation the chart cannot set on these objects)."""


def run_checkov(folder: Path) -> list[str]:
    if not CHECKOV.exists():
        return ["checkov: not installed (make checkov)"]
    result = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(ROOT / ".checkov.yaml"),
            "-d",
            str(folder),
            "-o",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        reports = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return [f"checkov: unreadable output (exit {result.returncode}): {result.stderr.strip()[:300]}"]
    reports = reports if isinstance(reports, list) else [reports]
    return [
        f"checkov: {failed['check_id']} {failed['resource']} ({failed['file_path']})"
        for report in reports
        for failed in (report.get("results") or {}).get("failed_checks", [])
        if (failed["check_id"], failed["resource"]) not in CHECKOV_EXEMPTIONS
    ]


def type_token(obj: dict[str, Any]) -> str:
    """The Pulumi type of a Kubernetes object (`kubernetes:apps/v1:Deployment`, core `core/v1`)."""
    api = str(obj.get("apiVersion", ""))
    return f"kubernetes:{api if '/' in api else f'core/{api}'}:{obj.get('kind')}"


def manifest_key(upstream: str) -> str:
    """The catalog's key of the manifest the plan lists by its upstream URL."""
    return next(k for k, m in KEYCLOAK_OPERATOR_MANIFESTS.items() if m.upstream == upstream)


def read_manifest(key: str, manifests_from: Path | None) -> str:
    """A pinned manifest file: from a folder laid out as a manifest mirror, or from upstream."""
    manifest = KEYCLOAK_OPERATOR_MANIFESTS[key]
    upstream = manifest.upstream
    if manifests_from is not None:
        return (manifests_from / manifest.mirror_path).read_text()
    with urllib.request.urlopen(upstream, timeout=60) as response:  # noqa: S310 - a pinned https URL
        return response.read().decode()


def render_manifest(key: str, text: str, stack: Site) -> list[dict[str, Any]]:
    """The objects of a manifest as the program applies them: its transforms (identity namespace,
    images from the site's registry, the operator hardened, the platform's labels), in order."""
    transforms = manifest_transforms(
        key,
        site=stack.name,
        namespace=NAMESPACES["identity"].name,
        registry=stack.registry,
        pull_secret=PULL_SECRET_NAME if stack.registry.pull_secret is not None else None,
    )

    def applied(obj: dict[str, Any]) -> dict[str, Any]:
        for transform in transforms:
            args = pulumi.ResourceTransformArgs(
                True, type_token(obj), "render", obj, pulumi.ResourceOptions()
            )
            result = transform(args)
            obj = dict(result.props) if result is not None else obj
        return obj

    return [applied(obj) for obj in load_manifests(text)]


def judge_with_the_pack(
    sources: dict[str, list[dict[str, Any]]],
    stack: Site,
    settings: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    """The policy pack's rules over every rendered object, as a real preview hands them over
    (named `<chart or manifest>:<namespace>/<name>`), with the site's pack configuration (or
    `settings`)."""
    sys.path.insert(0, str(ROOT / "policies"))
    from platform_policies import POLICIES  # noqa: PLC0415 - the pack, on its own path
    from platform_policies.judge import Seen, judge  # noqa: PLC0415

    seen = []
    for source, objects in sources.items():
        for obj in objects:
            meta = obj.get("metadata") or {}
            where = f"{meta['namespace']}/{meta.get('name')}" if meta.get("namespace") else meta.get("name")
            seen.append(Seen(type_token(obj), f"{source}:{where}", obj))
    verdict = judge(POLICIES, settings or policy_config(stack), seen)
    return [f"policy {finding.policy}: {finding.message}" for finding in verdict.violations]


def render_site(
    plan: Path, out: Path, site: str, charts_from: Path | None, manifests_from: Path | None = None
) -> list[str]:
    inventory = json.loads((plan / site / "inventory.json").read_text())
    stack = load_stack_file(ROOT / "stacks" / f"Pulumi.{site}.yaml")
    folder = out / site
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    objects: list[dict[str, Any]] = []
    sources: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    for chart in inventory["charts"]:
        command = helm_command(chart, plan / site / "values", inventory["kubernetesVersion"], charts_from)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            problems.append(f"helm template {chart['name']}: {result.stderr.strip()}")
            continue
        # As deployed: the program's transform labels every chart object (natplat.blocks.charts).
        rendered = [
            with_platform_labels(o, inventory["site"], chart["name"]) for o in load_manifests(result.stdout)
        ]
        (folder / f"{chart['name']}.yaml").write_text(yaml.safe_dump_all(rendered, sort_keys=False))
        objects += rendered
        sources[chart["name"]] = rendered
    for upstream in inventory.get("manifests", []):
        try:
            name = manifest_key(upstream)
            rendered = render_manifest(name, read_manifest(name, manifests_from), stack)
        except (OSError, StopIteration) as error:
            problems.append(f"manifest {upstream}: {error!r}")
            continue
        (folder / f"manifest-{name}.yaml").write_text(yaml.safe_dump_all(rendered, sort_keys=False))
        objects += rendered
        sources[f"manifest-{name}"] = rendered
    program = [d for d in yaml.safe_load_all((plan / site / "objects.yaml").read_text()) if d]
    (folder / "program.yaml").write_text(yaml.safe_dump_all(program, sort_keys=True))
    everything = objects + program
    mirror = stack.registry.image_mirror if stack.registry.air_gapped else None
    problems += check(everything, site_facts(inventory, mirror))
    problems += judge_with_the_pack({**sources, "program": program}, stack)
    problems += validate_schemas(everything, inventory["kubernetesVersion"])
    problems += run_checkov(folder)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m natplat.review.render_charts")
    parser.add_argument("--plan", type=Path, default=Path("build/plan"))
    parser.add_argument("--out", type=Path, default=Path("build/render"))
    parser.add_argument("--site", action="append", help="only these sites (default: every planned site)")
    parser.add_argument(
        "--charts-from", type=Path, help="a folder of unpacked charts instead of the repositories"
    )
    parser.add_argument(
        "--manifests-from",
        type=Path,
        help="a folder laid out as a manifest mirror (<project>/<version>/<path>) instead of upstream",
    )
    args = parser.parse_args(argv)
    if shutil.which("helm") is None:
        print(f"helm is needed to render the charts: {HELM_INSTALL}", file=sys.stderr)
        return 2
    sites = args.site or sorted(p.parent.name for p in args.plan.glob("*/inventory.json"))
    if not sites:
        print(f"no plan in {args.plan}: run `make plan` first", file=sys.stderr)
        return 2
    report = ["## Charts as they render", ""]
    failed = False
    for site in sites:
        problems = render_site(args.plan, args.out, site, args.charts_from, args.manifests_from)
        failed |= bool(problems)
        report.append(f"### {site}: {'no problem' if not problems else f'{len(problems)} problem(s)'}")
        report += [f"- {p}" for p in problems]
        report.append("")
    text = "\n".join(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
