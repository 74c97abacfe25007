"""A site's secure values, for the operator who sets them: which key paths a stack file holds
(`make secrets SITE=`), which are still the repository's placeholders (`make validate`), and a
re-key (`make rekey SITE= VALUES=`) that needs neither the old passphrase nor the old values.

The committed stack files carry secure values encrypted for a throw-away passphrase, so every new
operator must re-key a site before its first preview. Re-keying with `pulumi stack init` in place
fails (the file's `encryptionsalt` belongs to another passphrase) and `pulumi config set` rewrites
the whole file (comments dropped, spacing normalised). So the Pulumi CLI does the cryptography in
a throw-away project (its own file backend, the operator's passphrase or Vault key), and only the
resulting header line and ciphertexts are written back into the stack file, at their places, the
rest of the file byte for byte as it was.

    python -m natplat.review.secrets list stacks/Pulumi.<site>.yaml
    python -m natplat.review.secrets rekey <site> --values <dir> [--secrets-provider <provider>]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from natplat.review.offline import ROOT
from natplat.spec.model import PROJECT

THROWAWAY_SALTS = frozenset(
    {
        "v1:g8993p2kAt8=:v1:QNz+PpjuSdpknDx9:mDvQyZ3Yp2QyUE+z6Oxhwot8PGFeJQ==",  # capital
        "v1:Tpx/4ku1Pdo=:v1:qMMF1WM+bEGS7xfI:07zvIzvuM1CMXtWgdumc9IGfq8Y0lw==",  # coast
        "v1:HQbxRN/91hA=:v1:ZkrhuwTqHqQJjNkF:glV0WkoZHz3q3PFXqVWVgRoiZWisdg==",  # north
        "v1:mrdhCYzn1LI=:v1:PklCEYFxCppGfZYD:h3M7+GVIilWd1zpRvZrrcJ7u18Lucw==",  # staging
    }
)
"""The salts of the throw-away passphrase the committed placeholders were encrypted with: a file
that still carries one holds placeholders only (nobody has that passphrase)."""
HEADER_KEYS = ("secretsprovider", "encryptionsalt", "encryptedkey")


def _walk(value: Any, path: str) -> Iterator[tuple[str, yaml.Node]]:
    """(key path in `pulumi config --path` syntax, ciphertext node) for every secure value."""
    if isinstance(value, yaml.MappingNode):
        keys = {k.value: v for k, v in value.value if isinstance(k, yaml.ScalarNode)}
        if set(keys) == {"secure"} and isinstance(keys["secure"], yaml.ScalarNode):
            yield path, keys["secure"]
            return
        for key, child in keys.items():
            yield from _walk(child, f"{path}.{key}" if path else key)
    elif isinstance(value, yaml.SequenceNode):
        for index, child in enumerate(value.value):
            yield from _walk(child, f"{path}[{index}]")


def secure_nodes(text: str) -> list[tuple[str, yaml.Node]]:
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return []
    config = next((v for k, v in root.value if k.value == "config"), None)
    if not isinstance(config, yaml.MappingNode):
        return []
    found = []
    for key, value in config.value:
        found += list(_walk(value, key.value))
    return found


def secure_paths(text: str) -> list[str]:
    """Every secure key path of a stack file, as `pulumi config set --secret --path` takes it."""
    return [path for path, _ in secure_nodes(text)]


def placeholders(text: str) -> list[str]:
    """The secure key paths whose values are still the repository's placeholders."""
    header = yaml.safe_load(text) or {}
    return secure_paths(text) if header.get("encryptionsalt") in THROWAWAY_SALTS else []


def rekey_text(text: str, header: dict[str, str], ciphertexts: dict[str, str]) -> str:
    """`text` with its secrets header lines replaced by `header` (provider, salt or key) and each
    secure value's ciphertext replaced by `ciphertexts[path]`; every other byte unchanged."""
    nodes = secure_nodes(text)
    missing = sorted({path for path, _ in nodes} - set(ciphertexts))
    if missing:
        raise ValueError(f"no new value for {', '.join(missing)}")
    for _path, node in sorted(nodes, key=lambda item: item[1].start_mark.index, reverse=True):
        start, end = node.start_mark.index, node.end_mark.index
        text = text[:start] + ciphertexts[_path] + text[end:]
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    insert_at = None
    for line in lines:
        if re.match(rf"^({'|'.join(HEADER_KEYS)}):", line):
            insert_at = len(kept) if insert_at is None else insert_at
            continue
        kept.append(line)
    if insert_at is None:  # no header yet: after the leading comments
        insert_at = next((i for i, line in enumerate(kept) if not line.startswith("#")), len(kept))
    new_header = [f"{key}: {header[key]}\n" for key in HEADER_KEYS if key in header]
    return "".join(kept[:insert_at] + new_header + kept[insert_at:])


# ---------------------------------------------------------------------------- the re-key itself


def _pulumi(args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> str:
    result = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pulumi {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout


def rekey(site: str, values: Path, provider: str, stacks: Path = ROOT / "stacks") -> list[str]:
    """Encrypt every secure value of `site` anew with the operator's secrets provider (the Pulumi
    CLI, in a throw-away project and file backend) and write them back into the stack file. The
    values come from `values/<key path>` files (e.g. `values/certificates.ca.key`). Returns the paths."""
    stack_file = stacks / f"Pulumi.{site}.yaml"
    original = stack_file.read_text()
    paths = secure_paths(original)
    missing = [p for p in paths if not (values / p.removeprefix(f"{PROJECT}:")).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{values}: no file for {', '.join(m.removeprefix(f'{PROJECT}:') for m in missing)}"
        )
    with tempfile.TemporaryDirectory(prefix=f"rekey-{site}-") as tmp:
        work = Path(tmp)
        (work / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
        (work / "stacks").mkdir()
        (work / "state").mkdir()
        env = {
            **os.environ,
            "PULUMI_BACKEND_URL": f"file://{work / 'state'}",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        _pulumi(["stack", "init", site, "--secrets-provider", provider], work, env)
        for path in paths:
            secret = (values / path.removeprefix(f"{PROJECT}:")).read_text().removesuffix("\n")
            _pulumi(["config", "set", "--secret", "--path", path, "--stack", site], work, env, stdin=secret)
        fresh = (work / "stacks" / f"Pulumi.{site}.yaml").read_text()
    header = {k: str(v) for k, v in (yaml.safe_load(fresh) or {}).items() if k in HEADER_KEYS}
    header.setdefault("secretsprovider", provider)
    ciphertexts = {path: node.value for path, node in secure_nodes(fresh)}
    stack_file.write_text(rekey_text(original, header, ciphertexts))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m natplat.review.secrets")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every secure key path of a stack file")
    listing.add_argument("file", type=Path)
    again = commands.add_parser("rekey", help="encrypt every secure value anew for your secrets provider")
    again.add_argument("site")
    again.add_argument("--values", type=Path, required=True, help="a folder with one file per key path")
    again.add_argument("--secrets-provider", default="passphrase")
    args = parser.parse_args(argv)
    if args.command == "list":
        text = args.file.read_text()
        stale = set(placeholders(text))
        for path in secure_paths(text):
            print(f"{path}{'  (placeholder: set it with make rekey)' if path in stale else ''}")
        return 0
    if shutil.which("pulumi") is None:
        print("the Pulumi CLI is needed to encrypt (see the README's runbook to install it)", file=sys.stderr)
        return 2
    try:
        paths = rekey(args.site, args.values, args.secrets_provider)
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"stacks/Pulumi.{args.site}.yaml: {len(paths)} secure values encrypted anew; nothing else changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
