"""The cluster connection: the one Kubernetes provider every layer deploys through, from a secret
kubeconfig for an existing cluster, or from a kind cluster created and deleted with the stack."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s
import yaml

from natplat.spec.catalog import KIND_NODE_IMAGES, Image
from natplat.spec.model import ClusterSection, NodePorts, Site

# Host ports of the laptop where the kind cluster publishes the gateway's node ports.
KIND_HOST_PORTS = {"http": 8080, "https": 8443}


@dataclass(frozen=True)
class ClusterArgs:
    site: str
    cluster: ClusterSection
    kind_node_image: Image
    gateway_node_ports: NodePorts | None

    @staticmethod
    def from_site(site: Site) -> ClusterArgs:
        return ClusterArgs(
            site=site.name,
            cluster=site.cluster,
            kind_node_image=KIND_NODE_IMAGES[site.site.kubernetes_version],
            gateway_node_ports=site.gateway.node_ports if site.gateway.enabled else None,
        )


def kind_cluster_name(site: str) -> str:
    return f"national-platform-{site}"


def kind_config(args: ClusterArgs) -> str:
    """The kind cluster definition: pinned node image, the gateway's node ports published on
    the laptop's loopback address only."""
    ports = []
    if args.gateway_node_ports is not None:
        ports = [
            {
                "containerPort": getattr(args.gateway_node_ports, scheme),
                "hostPort": host_port,
                "listenAddress": "127.0.0.1",
                "protocol": "TCP",
            }
            for scheme, host_port in KIND_HOST_PORTS.items()
        ]
    image = args.kind_node_image.reference
    nodes = [{"role": "control-plane", "image": image, "extraPortMappings": ports}]
    nodes += [{"role": "worker", "image": image} for _ in range(args.cluster.kind_workers)]
    return yaml.safe_dump(
        {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "name": kind_cluster_name(args.site),
            "nodes": nodes,
        },
        sort_keys=False,
    )


class KubernetesCluster(pulumi.ComponentResource):
    """Owns the Kubernetes provider. Layers receive `provider` and never create their own."""

    provider: k8s.Provider

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("platform:cluster:KubernetesCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.cluster.type == "kind":
            kubeconfig = self._kind(args, child)
        else:
            assert args.cluster.kubeconfig is not None  # the model requires it
            kubeconfig = args.cluster.kubeconfig.output()
        self.provider = k8s.Provider(
            "kubernetes",
            kubeconfig=kubeconfig,
            context=args.cluster.context,
            # The site, not the kubeconfig text, identifies the cluster: rotating credentials
            # must update the provider in place, never replace every object behind it.
            cluster_identifier=args.site,
            enable_server_side_apply=True,
            opts=child,
        )
        self.register_outputs({})

    def _kind(self, args: ClusterArgs, child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        cluster_name = kind_cluster_name(args.site)
        created = command.local.Command(
            "kind-cluster",
            create="kind create cluster --config - --wait 180s",
            delete=f"kind delete cluster --name {cluster_name}",
            stdin=kind_config(args),
            opts=child,
        )
        kubeconfig = command.local.Command(
            "kind-kubeconfig",
            create=f"kind get kubeconfig --name {cluster_name}",
            triggers=[created.id],
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(depends_on=[created], additional_secret_outputs=["stdout"]),
            ),
        )
        return pulumi.Output.secret(kubeconfig.stdout)
