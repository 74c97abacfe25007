"""Service images: where each service's image comes from on a site.

- an online site builds the image from `services/` with pulumi-docker and pushes it to the site's
  `registry.serviceRepository`, tagged with a digest of its sources; pods then pull it by the
  registry's digest, never by a tag;
- the `local` stack builds it into the laptop's Docker engine and loads it into the kind nodes
  (`kind load docker-image`), no registry involved;
- an air-gapped site cannot build: the release job builds once, mirrors the image in, and the site
  pins it by digest (`imageDigest` in its stack file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from natplat.spec.model import RegistrySection

SERVICES_DIR = Path(__file__).resolve().parents[3] / "services"
"""The npm workspace: one folder per deployable service, lib/ (the kit every image carries, test
support), tools/ (the benchmark), one lockfile."""
SHARED_INPUTS = ("package.json", "package-lock.json", ".npmrc", ".dockerignore", "lib/kit")
MIRROR_PROJECT = "national-platform"
"""The path, under an air-gapped site's mirror, where the release job puts service images."""


def source_digest(service: str, root: Path = SERVICES_DIR) -> str:
    """A digest of everything the service's image is built from (its folder, the kit, the
    lockfile), tests and local installs aside: the image tag, so an unchanged service is not
    rebuilt or redeployed, and a changed one always is."""
    digest = hashlib.sha256()
    paths: list[Path] = []
    for name in (*SHARED_INPUTS, service):
        target = root / name
        paths += sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
    for path in paths:
        relative = path.relative_to(root)
        if {"node_modules", "test"} & set(relative.parts):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ServiceImage:
    reference: pulumi.Output[str]
    pull_policy: str
    built: pulumi.Resource | None
    """The build (and load) resource, for the workload to depend on."""


def service_image(
    service: str,
    *,
    registry: RegistrySection,
    local_cluster: str | None,
    digest: str | None,
    parent: pulumi.Resource,
) -> ServiceImage:
    """The image of `service` for a site: built and pushed, built and loaded into kind, or
    mirrored and pinned by digest."""
    child = pulumi.ResourceOptions(parent=parent)
    if registry.air_gapped:
        assert registry.image_mirror is not None and digest is not None  # the model requires both
        reference = f"{registry.image_mirror}/{MIRROR_PROJECT}/{service}@{digest}"
        return ServiceImage(pulumi.Output.from_input(reference), "IfNotPresent", None)
    tag = source_digest(service)
    build = docker.DockerBuildArgs(
        context=str(SERVICES_DIR),
        dockerfile=str(SERVICES_DIR / service / "Dockerfile"),
        platform="linux/amd64",
    )
    if local_cluster is not None:
        name = f"{MIRROR_PROJECT}/{service}:{tag}"
        image = docker.Image(f"{service}-image", image_name=name, build=build, skip_push=True, opts=child)
        loaded = command.local.Command(
            f"{service}-image-kind-load",
            create=f"kind load docker-image {name} --name {local_cluster}",
            triggers=[image.image_name],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[image]),
        )
        # The tag is content-addressed, so IfNotPresent never runs a stale image.
        return ServiceImage(pulumi.Output.from_input(name), "IfNotPresent", loaded)
    assert registry.service_repository is not None  # the model requires it on online sites
    image = docker.Image(
        f"{service}-image",
        image_name=f"{registry.service_repository}/{service}:{tag}",
        build=build,
        skip_push=False,
        opts=child,
    )
    return ServiceImage(image.repo_digest, "IfNotPresent", image)
