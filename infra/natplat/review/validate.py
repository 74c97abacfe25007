"""`make validate FILE=…`: check stack files offline, before anyone runs a preview.

Exit status 0 when every file describes a valid site, 1 otherwise, with one line per problem.
Secure values still encrypted for the repository's throw-away passphrase are named too (a file can
be valid and still not previewable until its site is re-keyed: `make rekey`); with `--strict`
(what the deploy workflow uses) they make the file fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

from natplat.review.secrets import placeholders
from natplat.spec.stackfile import SiteConfigError, load_stack_file


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    argv = [a for a in argv if a != "--strict"]
    if not argv:
        print(
            "usage: python -m natplat.review.validate [--strict] <Pulumi.<site>.yaml> [...]", file=sys.stderr
        )
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
            for layer in ("gateway", "identity", "cache", "monitoring", "logging")
            if getattr(site, layer).enabled
        ]
        store = site.object_store
        print(
            f"{name}: valid: site {site.name} ({site.site.region}), profile {site.profile}, "
            f"Kubernetes {site.site.kubernetes_version}, "
            f"{'air-gapped' if site.registry.air_gapped else 'online'}, "
            f"layers: {', '.join(layers)}; services: {len(site.services)}; "
            f"certificates: {site.certificates.describe() if site.certificates else 'none (no gateway)'}; "
            f"backups: {f'to {store.endpoint}' if store else 'DISABLED'}"
        )
        stale = placeholders(Path(name).read_text())
        for path in stale:
            print(
                f"{name}: {path}: still the repository's placeholder (encrypted for a throw-away "
                f"passphrase): set it with `make rekey SITE={site.name} VALUES=<folder>`",
                file=sys.stderr,
            )
        failed |= strict and bool(stale)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
