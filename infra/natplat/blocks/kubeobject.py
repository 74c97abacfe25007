"""Custom resources whose fields are not all under `spec`: Kong's KongPlugin (`plugin`, `config`,
`configPatches`), KongClusterPlugin and KongConsumer (`username`, `credentials`). The SDK's
`apiextensions.CustomResource` only takes `spec`, so this registers the same Pulumi type
(`kubernetes:<apiVersion>:<kind>`) with the object's own top-level fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes import _utilities


class KubernetesObject(pulumi.CustomResource):
    def __init__(
        self,
        resource_name: str,
        *,
        api_version: str,
        kind: str,
        metadata: k8s.meta.v1.ObjectMetaArgs,
        fields: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ):
        reserved = {"apiVersion", "kind", "metadata"} & set(fields)
        if reserved:
            raise ValueError(f"{resource_name}: {sorted(reserved)} are set by the arguments, not fields")
        props = {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=_utilities.get_version()))
        super().__init__(f"kubernetes:{api_version}:{kind}", resource_name, props, opts)
