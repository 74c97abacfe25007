"""`make validate FILE=…`: check stack files offline, before anyone runs a preview.

Exit status 0 when every file describes a valid site, 1 otherwise, with one line per problem.
"""

from __future__ import annotations

import sys
from pathlib import Path

from natplat.spec.stackfile import SiteConfigError, load_stack_file


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m natplat.review.validate <Pulumi.<site>.yaml> [...]", file=sys.stderr)
        return 2
    failed = False
    for name in argv:
        try:
            site = load_stack_file(Path(name), name)
        except SiteConfigError as error:
            failed = True
            for line in error.problems:
                print(line, file=sys.stderr)
            continue
        layers = [
            layer
            for layer in ("gateway", "auth", "cache", "monitoring", "logging")
            if getattr(site, layer).enabled
        ]
        print(
            f"{name}: valid: site {site.name} ({site.site.region}), profile {site.profile}, "
            f"Kubernetes {site.site.kubernetes_version}, "
            f"{'air-gapped' if site.registry.air_gapped else 'online'}, "
            f"layers: {', '.join(layers)}; services: {len(site.services)}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
