"""Building blocks of the NetworkPolicies every layer writes: ports and peers."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

from natplat.layers.baseline import PlacedNamespace

policy = k8s.networking.v1


def tcp(*numbers: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [policy.NetworkPolicyPortArgs(protocol="TCP", port=number) for number in numbers]


def pods(labels: Mapping[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods with these labels, in the policy's own namespace."""
    return policy.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels)))


def namespaces(*placed: PlacedNamespace) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    """Every pod of each of these namespaces."""
    return [
        policy.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=n.selector)
        )
        for n in placed
    ]


def pods_in(namespace: str, labels: Mapping[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods with these labels in the namespace of that name."""
    return policy.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels)),
    )


def everything() -> k8s.meta.v1.LabelSelectorArgs:
    """The empty selector: every pod (as a podSelector) or every namespace."""
    return k8s.meta.v1.LabelSelectorArgs()
