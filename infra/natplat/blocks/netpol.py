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


KUBERNETES_API_PORTS = (443, 6443)
"""The API server's ports, as a pod reaches it (the `kubernetes` Service, or the server itself)."""


def outwards(*ports: int) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress to any address on these TCP ports: for what lives outside the cluster's pods (the
    API server, an object store, a directory, a mail relay), whose addresses no rule can name."""
    return policy.NetworkPolicyEgressRuleArgs(ports=tcp(*ports))


def kubernetes_api() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress to the Kubernetes API, for controllers and operators. Its address is the cluster's,
    not a pod's, so the rule names only the ports."""
    return outwards(*KUBERNETES_API_PORTS)


def from_api_server(port: int) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    """Ingress from the API server, which calls admission webhooks from an address that is not a
    pod's: the rule names only the webhook's port."""
    return policy.NetworkPolicyIngressRuleArgs(ports=tcp(port))


def everything() -> k8s.meta.v1.LabelSelectorArgs:
    """The empty selector: every pod (as a podSelector) or every namespace."""
    return k8s.meta.v1.LabelSelectorArgs()
