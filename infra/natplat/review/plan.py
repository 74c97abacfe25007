"""The offline plan: every stack evaluated under mocks (no credentials, no cluster), summarised per
site for reviewers, compared between two commits, and turned into the air-gap mirror list.

    python -m natplat.review.plan plan [--out build/plan] [--stacks-dir stacks]
    python -m natplat.review.plan diff <base plan dir> <head plan dir>
    python -m natplat.review.plan mirror-list <site>
    python -m natplat.review.plan bench [--counts 1,10,50]

Secret values never appear: the plan counts secrets and digests inputs, and masks secret outputs.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from natplat.layers.baseline import NAMESPACES
from natplat.layers.gateway.routes import PUBLIC_ROUTE_ANNOTATION
from natplat.review.offline import (
    PLACEHOLDER,
    ROOT,
    STACK_DIR,
    ProgramRun,
    contains_secret_text,
    is_wrapped_secret,
    run_program,
)
from natplat.review.policy_config import SINGLETONS
from natplat.spec.catalog import (
    BACKUP_IMAGES,
    CACHE_ENGINES,
    CERTIFICATE_IMAGES,
    CHARTS,
    DATABASE_IMAGES,
    HAPROXY_IMAGE,
    IDENTITY_IMAGES,
    KEYCLOAK_OPERATOR_MANIFESTS,
    KIND_NODE_IMAGES,
    KONG_IMAGE,
    KONG_INGRESS_CONTROLLER_IMAGE,
    LOGGING_IMAGES,
    MONITORING_IMAGES,
    NODE_BASE_IMAGE,
    REDIS_EXPORTER_IMAGE,
    Image,
    Manifest,
    resolve_chart,
    resolve_image,
    resolve_manifest,
)
from natplat.spec.model import Site
from natplat.spec.stackfile import load_stack_file

IMAGES: tuple[Image, ...] = (
    *CACHE_ENGINES.values(),
    HAPROXY_IMAGE,
    REDIS_EXPORTER_IMAGE,
    KONG_IMAGE,
    KONG_INGRESS_CONTROLLER_IMAGE,
    *MONITORING_IMAGES.values(),
    *LOGGING_IMAGES.values(),
    *IDENTITY_IMAGES.values(),
    *DATABASE_IMAGES.values(),
    *CERTIFICATE_IMAGES.values(),
    *BACKUP_IMAGES.values(),
    NODE_BASE_IMAGE,
    *KIND_NODE_IMAGES.values(),
)
"""Every pinned third-party image in the catalog."""
MANIFESTS: tuple[Manifest, ...] = tuple(KEYCLOAK_OPERATOR_MANIFESTS.values())
"""Every plain manifest the catalog pins (applied by URL)."""


def digest(value: Any) -> str:
    """A short digest of inputs, independent of where the checkout lives (image builds name the
    services folder by absolute path): a base commit planned in a temporary worktree and the
    working tree agree wherever nothing changed."""
    text = json.dumps(value, sort_keys=True, default=str).replace(str(ROOT), "<project>")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _image_names(resources: Iterable[Any]) -> set[str]:
    """Every string that names an image location (registry/repository[:tag]) in the inputs,
    and every (registry, repository) pair the chart values spell out separately."""
    found: set[str] = set()
    for resource in resources:
        inputs = resource.inputs
        found.update(_strings(inputs))
        stack = [inputs]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                tag = item.get("tag")
                if isinstance(item.get("registry"), str) and isinstance(item.get("repository"), str):
                    found.add(f"{item['registry']}/{item['repository']}:{tag}")
                if isinstance(item.get("repository"), str) and isinstance(tag, str):
                    found.add(f"{item['repository']}:{tag}")
                if isinstance(item.get("image"), str) and isinstance(tag, str):
                    found.add(f"{item['image']}:{tag}")  # the redis exporter's two keys
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return found


def images_used(site: Site, run: ProgramRun) -> list[dict[str, str]]:
    """Catalog images the site's resources refer to, upstream and as the site pulls them."""
    strings = _image_names(run.resources)
    # A manifest applied by URL names its images inside the file (and the program sets them by a
    # transform the mocks do not run): the catalog says which ones each manifest pulls.
    for manifest in manifests_applied(site, run):
        for image in manifest.pulls:
            resolved = resolve_image(image, site.registry)
            strings.add(f"{resolved.name}:{resolved.tag}")
    used = []
    for image in IMAGES:
        if image == CERTIFICATE_IMAGES["acmesolver"] and not (
            site.certificates and site.certificates.issuer == "acme"
        ):
            # cert-manager's controller is always told the solver image (the site's copy), but
            # starts solver pods only for an ACME issuer's HTTP-01 challenges.
            continue
        resolved = resolve_image(image, site.registry)
        if any(f"{resolved.name}:{resolved.tag}" in s for s in strings):
            used.append({"upstream": image.reference, "pulledFrom": resolved.reference})
    services = sorted(
        {
            c["image"]
            for r in run.resources
            if r.kind == "Deployment" and (r.metadata.get("namespace") == "platform-services")
            for c in r.inputs["spec"]["template"]["spec"]["containers"]
        }
    )
    used += [
        {"upstream": f"services/{s.split('/')[-1].split('@')[0].split(':')[0]}", "pulledFrom": s}
        for s in services
    ]
    if site.is_local:
        node = KIND_NODE_IMAGES[site.site.kubernetes_version]
        entry = {"upstream": node.reference, "pulledFrom": node.reference}
        if entry not in used:
            used.append(entry)
    return sorted(used, key=lambda i: i["upstream"])


def redacted(value: Any) -> Any:
    """`value` with every secret (a secret-wrapped input, or a placeholder's text) replaced by
    `[secret]`: what reviewers and the chart render may see. A secret map or list keeps its
    shape (a ConfigMap's `data` stays a map of strings for the schema check); its leaves go."""
    if is_wrapped_secret(value):
        return _blanked(value["value"])
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    if isinstance(value, str) and (PLACEHOLDER in value or "PRIVATE KEY" in value):
        return "[secret]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers travel as floats; Helm and YAML read 1000 as 1000.0 alike
    return value


def _blanked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _blanked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blanked(v) for v in value]
    return "[secret]"


def chart_files(run: ProgramRun) -> dict[str, dict[str, str]]:
    """Per chart release: its values as YAML (secrets redacted) and, where the program deletes
    chart defaults, the removals file Helm reads before them."""
    files: dict[str, dict[str, str]] = {}
    for resource in run.of_type("kubernetes:helm.sh/v4:Chart"):
        entry = {"values": yaml.safe_dump(redacted(resource.raw_inputs.get("values") or {}), sort_keys=True)}
        removals = [
            asset.text for asset in resource.inputs.get("valueYamlFiles") or [] if hasattr(asset, "text")
        ]
        if removals:
            entry["removed"] = "".join(removals)
        files[resource.name] = entry
    return files


def program_objects(run: ProgramRun) -> list[dict[str, Any]]:
    """The Kubernetes objects the program creates itself (charts aside), secrets redacted: what
    `make render-charts` checks together with the charts' own objects."""
    objects = []
    for resource in run.resources:
        if (
            not (resource.custom and resource.type.startswith("kubernetes:"))
            or "metadata" not in resource.inputs
        ):
            continue
        if resource.type.startswith("kubernetes:helm.sh/"):
            continue
        group_version = resource.type.split(":")[1]
        group, version = group_version.split("/")
        obj = {"apiVersion": version if group == "core" else f"{group}/{version}", "kind": resource.kind}
        obj.update(redacted(resource.raw_inputs))
        if resource.kind == "Secret":
            for key in ("data", "stringData"):
                if key in obj:  # the keys stay visible, never the values
                    obj[key] = {k: "[secret]" for k in resource.inputs[key]}
        objects.append(obj)
    return objects


def policy_exemptions(site: Site, run: ProgramRun) -> list[dict[str, str]]:
    """Every exception the policy pack makes for this site, with its reason: the node agents'
    namespace, the routes served without a token, and the singletons of a highly available site."""
    agents = NAMESPACES["nodeAgents"]
    exemptions = [
        {"policy": "pod hardening, host access", "subject": f"namespace {agents.name}", "reason": agents.why}
    ]
    for ingress in run.kubernetes("Ingress"):
        reason = (ingress.metadata.get("annotations") or {}).get(PUBLIC_ROUTE_ANNOTATION)
        if reason:
            hosts = [rule["host"] for rule in ingress.inputs["spec"]["rules"]]
            paths = [p["path"] for rule in ingress.inputs["spec"]["rules"] for p in rule["http"]["paths"]]
            exemptions.append(
                {
                    "policy": "routes-require-tokens",
                    "subject": f"{', '.join(hosts)} {' '.join(paths)}",
                    "reason": reason,
                }
            )
    if site.profile != "small":
        exemptions += [
            {"policy": "replicas-and-disruption-budgets", "subject": name, "reason": reason}
            for name, reason in sorted(SINGLETONS.items())
            if name.split("/")[0] != NAMESPACES["logging"].name or site.logging.enabled
        ]
    return exemptions


def inventory(stack_file: Path, project_dir: Path = ROOT) -> dict[str, Any]:
    return _site_plan(stack_file, project_dir)[0]


def _site_plan(stack_file: Path, project_dir: Path = ROOT) -> tuple[dict[str, Any], ProgramRun]:
    site = load_stack_file(stack_file)
    run = run_program(stack_file, project_dir)
    if run.error is not None:
        raise RuntimeError(f"{stack_file}: the program failed offline: {run.error}")
    objects: dict[str, dict[str, list[dict[str, str]]]] = {}
    charts = []
    secrets = 0
    for resource in run.resources:
        if resource.type == "kubernetes:helm.sh/v4:Chart":
            inputs = resource.inputs
            charts.append(
                {
                    "name": resource.name,
                    "chart": inputs["chart"],
                    "version": inputs["version"],
                    "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
                    "namespace": inputs.get("namespace"),
                    "valuesDigest": digest(inputs.get("values")),
                }
            )
            continue
        if not resource.custom:
            continue
        if resource.kind == "Secret" or any(contains_secret_text(resource.raw_inputs, PLACEHOLDER)):
            secrets += 1
        if resource.type.startswith("kubernetes:") and "metadata" in resource.inputs:
            namespace = resource.metadata.get("namespace") or "(cluster)"
            objects.setdefault(resource.kind, {}).setdefault(namespace, []).append(
                {"name": resource.metadata.get("name", resource.name), "digest": digest(resource.inputs)}
            )
        else:
            objects.setdefault(resource.type, {}).setdefault("(pulumi)", []).append(
                {"name": resource.name, "digest": digest(resource.inputs)}
            )
    for kinds in objects.values():
        for items in kinds.values():
            items.sort(key=lambda item: item["name"])
    outputs = {
        name: "[secret]" if name in run.secret_outputs else value
        for name, value in sorted(run.outputs.items())
    }
    return {
        "site": site.name,
        "region": site.site.region,
        "profile": site.profile,
        "kubernetesVersion": site.site.kubernetes_version,
        "airGapped": site.registry.air_gapped,
        "objects": dict(sorted(objects.items())),
        "objectCount": sum(len(items) for kinds in objects.values() for items in kinds.values()),
        "charts": sorted(charts, key=lambda c: c["name"]),
        "images": images_used(site, run),
        "secrets": secrets,
        "outputs": outputs,
        "policyExemptions": policy_exemptions(site, run),
        "identity": identity_summary(site, run),
        "manifests": [m.upstream for m in manifests_applied(site, run)],
    }, run


def identity_summary(site: Site, run: ProgramRun) -> dict[str, Any] | None:
    """Who may log in and who signs, as a reviewer reads it: the realm, its issuer and key ids,
    its clients, applications, roles and federation, and how many Keycloak and PostgreSQL
    instances run. Nothing secret: ids, names and counts."""
    if not site.identity.enabled:
        return None
    identity = site.identity
    (keycloak,) = [r.inputs["spec"] for r in run.resources if r.kind == "Keycloak"]
    (database,) = [r.inputs["spec"] for r in run.resources if r.kind == "Cluster"]
    return {
        "realm": identity.realm,
        "issuer": run.outputs.get("tokenIssuer"),
        "signingKeys": run.outputs.get("tokenKeyIds"),
        "clients": [f"{c.id} ({' '.join(c.scopes)})" for c in identity.clients],
        "applications": [a.id for a in identity.applications],
        "roles": [r.name for r in identity.roles],
        "adminRolesWithOtp": list(identity.admin_roles),
        "federation": [f"oidc:{p.alias}" for p in identity.federation.oidc]
        + (["ldap"] if identity.federation.ldap else []),
        "keycloakInstances": int(keycloak["instances"]),
        "databaseInstances": int(database["instances"]),
    }


def summary(inventories: list[dict[str, Any]]) -> str:
    lines = [
        "# Offline plan",
        "",
        "Every site's stack evaluated under mocks: no credentials, no cluster. Secret values are never shown.",
        "",
        "| site | profile | Kubernetes | air-gapped | objects | charts | images | secrets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for inv in inventories:
        lines.append(
            f"| {inv['site']} | {inv['profile']} | {inv['kubernetesVersion']} | {'yes' if inv['airGapped'] else 'no'} "
            f"| {inv['objectCount']} | {len(inv['charts'])} | {len(inv['images'])} | {inv['secrets']} |"
        )
    lines += [
        "",
        "## Certificates and backups",
        "",
        "| site | certificate issuer | backups |",
        "|---|---|---|",
    ]
    for inv in inventories:
        outputs = inv.get("outputs") or {}
        backups = outputs.get("backups", "disabled")
        if backups == "disabled":
            backups = "**disabled** ⚠ no object store: nothing of this site can be restored"
        lines.append(f"| {inv['site']} | {outputs.get('certificateIssuer', '-')} | {backups} |")
    lines += ["", "## Charts", "", "| site | release | chart | version | values |", "|---|---|---|---|---|"]
    for inv in inventories:
        for chart in inv["charts"]:
            lines.append(
                f"| {inv['site']} | {chart['name']} | {chart['chart']} | {chart['version']} | `{chart['valuesDigest']}` |"
            )
    lines += ["", "## Policy exemptions", "", "| site | policy | subject | reason |", "|---|---|---|---|"]
    for inv in inventories:
        for exemption in inv.get("policyExemptions", []):
            lines.append(
                f"| {inv['site']} | {exemption['policy']} | {exemption['subject']} | {exemption['reason']} |"
            )
    lines += [
        "",
        "## Identity",
        "",
        "| site | realm (issuer) | signing key ids | machine clients | applications | roles (OTP) | federation | Keycloak / PostgreSQL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for inv in inventories:
        if not (identity := inv.get("identity")):
            continue
        keys = ", ".join(f"{g}: `{k[:12]}…`" for g, k in (identity["signingKeys"] or {}).items())
        roles = ", ".join(
            f"{r} (OTP)" if r in identity["adminRolesWithOtp"] else r for r in identity["roles"]
        )
        lines.append(
            f"| {inv['site']} | {identity['realm']} ({identity['issuer']}) | {keys} | "
            f"{', '.join(identity['clients']) or '-'} | {', '.join(identity['applications']) or '-'} | "
            f"{roles} | {', '.join(identity['federation']) or '-'} | "
            f"{identity['keycloakInstances']} / {identity['databaseInstances']} |"
        )
    lines += ["", "## Objects by kind", "", "| site | " + " | ".join(_kinds(inventories)) + " |"]
    lines.append("|---|" + "---|" * len(_kinds(inventories)))
    for inv in inventories:
        counts = Counter({kind: sum(len(i) for i in ns.values()) for kind, ns in inv["objects"].items()})
        lines.append(
            f"| {inv['site']} | " + " | ".join(str(counts.get(k, 0)) for k in _kinds(inventories)) + " |"
        )
    return "\n".join(lines) + "\n"


def _kinds(inventories: list[dict[str, Any]]) -> list[str]:
    return sorted({kind for inv in inventories for kind in inv["objects"] if ":" not in kind})


def write_plan(out: Path, stacks_dir: Path = STACK_DIR, project_dir: Path = ROOT) -> list[dict[str, Any]]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    inventories = []
    for stack_file in sorted(stacks_dir.glob("Pulumi.*.yaml")):
        inv, run = _site_plan(stack_file, project_dir)
        files = chart_files(run)
        objects = program_objects(run)
        del run
        # Each run leaves a graph of resources and futures behind; collecting it here keeps the
        # cost per site flat instead of growing with the number of sites already planned.
        gc.collect()
        inventories.append(inv)
        folder = out / inv["site"]
        (folder / "values").mkdir(parents=True)
        (folder / "inventory.json").write_text(json.dumps(inv, indent=2, sort_keys=True) + "\n")
        for release, entry in sorted(files.items()):
            (folder / "values" / f"{release}.yaml").write_text(entry["values"])
            if "removed" in entry:
                (folder / "values" / f"{release}.removed.yaml").write_text(entry["removed"])
        (folder / "objects.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=True))
    (out / "summary.md").write_text(summary(inventories))
    return inventories


# ---------------------------------------------------------------------------- diff


def _flatten(inv: dict[str, Any]) -> dict[str, str]:
    return {
        f"{kind} {namespace}/{item['name']}": item["digest"]
        for kind, namespaces in inv["objects"].items()
        for namespace, items in namespaces.items()
        for item in items
    }


def _values_diff(base: Path, head: Path, release: str) -> list[str]:
    """The changed lines of a chart's values files, as a Markdown diff block (empty where a side
    predates the values files)."""
    lines: list[str] = []
    for suffix in (".yaml", ".removed.yaml"):
        a, b = base / f"{release}{suffix}", head / f"{release}{suffix}"
        if not (a.exists() or b.exists()):
            continue
        old = a.read_text().splitlines() if a.exists() else []
        new = b.read_text().splitlines() if b.exists() else []
        changes = list(
            difflib.unified_diff(
                old, new, f"base/{release}{suffix}", f"head/{release}{suffix}", lineterm="", n=2
            )
        )
        if changes:
            lines += ["", "```diff", *changes, "```"]
    return lines


def diff(base: Path, head: Path) -> str:
    """A Markdown comparison of two plan folders, per site, for a pull-request comment."""

    def load(folder: Path) -> dict[str, dict[str, Any]]:
        return {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.glob("*/inventory.json"))}

    before, after = load(base), load(head)
    sections = []
    touched = []
    for site in sorted(set(before) | set(after)):
        if site not in before:
            touched.append(site)
            sections.append(f"### {site}: new site ({after[site]['objectCount']} objects)")
            continue
        if site not in after:
            touched.append(site)
            sections.append(f"### {site}: site removed")
            continue
        old, new = _flatten(before[site]), _flatten(after[site])
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
        old_charts = {c["name"]: c for c in before[site]["charts"]}
        new_charts = {c["name"]: c for c in after[site]["charts"]}
        chart_lines = []
        for name in sorted(set(old_charts) | set(new_charts)):
            a, b = old_charts.get(name), new_charts.get(name)
            if a is None:
                chart_lines.append(f"- chart `{name}` added: {b['chart']} {b['version']}")
            elif b is None:
                chart_lines.append(f"- chart `{name}` removed")
            elif a["version"] != b["version"]:
                chart_lines.append(f"- chart `{name}`: {a['version']} → {b['version']}")
            elif a["valuesDigest"] != b["valuesDigest"]:
                chart_lines.append(f"- chart `{name}`: values changed")
                chart_lines += _values_diff(base / site / "values", head / site / "values", name)
        old_images = {i["pulledFrom"] for i in before[site]["images"]}
        new_images = {i["pulledFrom"] for i in after[site]["images"]}
        image_lines = [f"- image added: `{i}`" for i in sorted(new_images - old_images)]
        image_lines += [f"- image removed: `{i}`" for i in sorted(old_images - new_images)]
        output_lines = [
            f"- output `{k}` changed"
            for k in sorted(set(before[site]["outputs"]) | set(after[site]["outputs"]))
            if before[site]["outputs"].get(k) != after[site]["outputs"].get(k)
        ]
        if not (added or removed or changed or chart_lines or image_lines or output_lines):
            continue
        touched.append(site)
        lines = [f"### {site}: +{len(added)} -{len(removed)} ~{len(changed)}"]
        lines += [f"- added `{k}`" for k in added]
        lines += [f"- removed `{k}`" for k in removed]
        lines += [f"- changed `{k}`" for k in changed]
        lines += chart_lines + image_lines + output_lines
        sections.append("\n".join(lines))
    header = "## Offline plan diff\n\n"
    if not touched:
        return header + "No site changes.\n"
    return header + f"Sites touched: {', '.join(touched)}\n\n" + "\n\n".join(sections) + "\n"


# ---------------------------------------------------------------------------- mirror list


def mirror_list(stack_file: Path, project_dir: Path = ROOT) -> list[str]:
    """Every image and chart the site needs, as `upstream → mirror` lines for the mirroring job.
    On an online site the mirror side names where the site pulls from (upstream itself)."""
    site = load_stack_file(stack_file)
    inv = inventory(stack_file, project_dir)
    lines = [
        f"image {i['upstream']} → {i['pulledFrom']}"
        for i in inv["images"]
        if not i["upstream"].startswith("services/")
    ]
    charts_by_name = {c.name: c for c in CHARTS}
    for chart in inv["charts"]:
        upstream = charts_by_name[chart["chart"].rsplit("/", 1)[-1]]
        resolved = resolve_chart(upstream, site.registry)
        lines.append(
            f"chart {upstream.repository}/{upstream.name}:{upstream.version} → {resolved.chart}:{resolved.version}"
        )
    manifests = {m.upstream: m for m in MANIFESTS}
    for upstream in inv["manifests"]:
        mirrored = resolve_manifest(manifests[upstream], site.registry, site.registry.manifest_mirror)
        lines.append(f"manifest {upstream} → {mirrored}")
    return lines


def manifests_applied(site: Site, run: ProgramRun) -> list[Manifest]:
    """The catalog's plain manifests the program applies by URL for the site (from where the
    site fetches them)."""
    files = {r.inputs.get("file") for r in run.of_type("kubernetes:yaml/v2:ConfigFile")}
    return [
        m for m in MANIFESTS if resolve_manifest(m, site.registry, site.registry.manifest_mirror) in files
    ]


# ---------------------------------------------------------------------------- benchmark


def bench(counts: list[int], template: Path) -> list[tuple[int, float]]:
    """Seconds to plan N generated sites (copies of `template` under new names), per N, after
    one untimed warm-up round (imports and the mocks' one-off key generation are paid once per
    process, not per site)."""
    results = []
    document = yaml.safe_load(template.read_text())
    for count in [1, *counts]:
        with tempfile.TemporaryDirectory() as folder:
            project = Path(folder)
            (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
            stacks = project / "stacks"
            stacks.mkdir()
            for index in range(count):
                name = f"bench{index:03d}"
                copy = json.loads(json.dumps(document))
                copy["config"]["national-platform:site"]["name"] = name
                (stacks / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(copy))
            started = time.perf_counter()
            write_plan(project / "build" / "plan", stacks, project)
            results.append((count, time.perf_counter() - started))
    return results[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m natplat.review.plan")
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan")
    plan.add_argument("--out", type=Path, default=ROOT / "build" / "plan")
    compare = commands.add_parser("diff")
    compare.add_argument("base", type=Path)
    compare.add_argument("head", type=Path)
    mirror = commands.add_parser("mirror-list")
    mirror.add_argument("site")
    benchmark = commands.add_parser("bench")
    benchmark.add_argument("--counts", default="1,10,50")
    benchmark.add_argument("--template", type=Path, default=STACK_DIR / "Pulumi.coast.yaml")
    args = parser.parse_args(argv)
    if args.command == "plan":
        started = time.perf_counter()
        inventories = write_plan(args.out)
        elapsed = time.perf_counter() - started
        print(f"planned {len(inventories)} sites in {elapsed:.1f} s → {args.out}/summary.md")
    elif args.command == "diff":
        sys.stdout.write(diff(args.base, args.head))
    elif args.command == "mirror-list":
        stack_file = STACK_DIR / f"Pulumi.{args.site}.yaml"
        if not stack_file.exists():
            print(f"no stack file {stack_file}", file=sys.stderr)
            return 2
        print("\n".join(mirror_list(stack_file)))
    else:
        results = bench([int(c) for c in args.counts.split(",")], args.template)
        for count, seconds in results:
            print(f"sites={count} seconds={seconds:.2f} seconds_per_site={seconds / count:.3f}")
        per_site = [seconds / count for count, seconds in results]
        print(
            f"linearity={max(per_site) / min(per_site):.2f} (max/min seconds per site; 1.00 is perfectly linear)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
