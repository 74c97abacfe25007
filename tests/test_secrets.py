"""A new operator's path to a first preview: every secure key path of a stack file listed, the
placeholders named, and the re-key's rewrite of the stack file: every secure value and the secrets
header replaced, every other byte (comments, order, spacing) as it was."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from harness import PROGRAM_DIR, ROOT, STACK_FILES
from natplat.review.secrets import THROWAWAY_SALTS, placeholders, rekey_text, secure_paths

SECURE_LINE = re.compile(r"^\s*(- )?secure: ")


def _dig(document: dict, path: str):
    key, _, rest = path.partition(".")
    node = document["config"][key if ":" in key else f"national-platform:{key}"]
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", rest):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.stem)
def test_every_secure_value_of_every_stack_is_listed(stack_file) -> None:
    text = stack_file.read_text()
    paths = secure_paths(text)
    assert len(paths) == sum(1 for line in text.splitlines() if SECURE_LINE.match(line))
    document = yaml.safe_load(text)
    for path in paths:
        assert path.startswith("national-platform:")
        assert set(_dig(document, path)) == {"secure"}, path


def test_the_listing_names_what_the_readme_once_forgot() -> None:
    """The README listed four keys; the committed files need more."""
    capital = secure_paths((ROOT / "stacks" / "Pulumi.capital.yaml").read_text())
    assert "national-platform:identity.federation.oidc[0].clientSecret" in capital
    assert "national-platform:monitoring.alerting.email.authPassword" in capital
    assert "national-platform:monitoring.alerting.webhook.url" in capital
    north = secure_paths((ROOT / "stacks" / "Pulumi.north.yaml").read_text())
    assert "national-platform:registry.pullSecret" in north


@pytest.mark.parametrize("site", ["capital", "north", "staging", "coast"])
def test_rekey_replaces_every_secure_value_and_the_header_and_nothing_else(site: str) -> None:
    original = (ROOT / "stacks" / f"Pulumi.{site}.yaml").read_text()
    paths = secure_paths(original)
    new = {path: f"v1:NEWNONCE{i:04d}:NEWCIPHERTEXT{i:04d}==" for i, path in enumerate(paths)}
    header = {"secretsprovider": "passphrase", "encryptionsalt": "v1:NEWSALT=:v1:NEWNONCE:NEWCHECK=="}
    rekeyed = rekey_text(original, header, new)
    # Every secure path now holds its new ciphertext, and the new salt is the file's.
    document = yaml.safe_load(rekeyed)
    assert document["encryptionsalt"] == header["encryptionsalt"]
    assert {path: _dig(document, path)["secure"] for path in paths} == new
    assert placeholders(rekeyed) == [] and placeholders(original) == paths
    # Every other line is byte for byte the same, in the same order, comments included.
    changed = lambda line: SECURE_LINE.match(line) or line.startswith("encryptionsalt:")  # noqa: E731
    before = [line for line in original.splitlines(keepends=True) if not changed(line)]
    after = [line for line in rekeyed.splitlines(keepends=True) if not changed(line)]
    assert before == after
    assert len(rekeyed.splitlines()) == len(original.splitlines())
    assert rekeyed.splitlines()[0] == original.splitlines()[0] and original.startswith("#")


def test_rekey_writes_a_vault_header_in_place_of_the_passphrase_one() -> None:
    original = (ROOT / "stacks" / "Pulumi.coast.yaml").read_text()
    paths = secure_paths(original)
    header = {"secretsprovider": "hashivault://national-platform-coast", "encryptedkey": "dmF1bHQ6djE6YWJj"}
    rekeyed = rekey_text(original, header, {p: "v1:A:B" for p in paths})
    lines = rekeyed.splitlines()
    assert lines[1:3] == [
        "secretsprovider: hashivault://national-platform-coast",
        "encryptedkey: dmF1bHQ6djE6YWJj",
    ]
    assert "encryptionsalt" not in rekeyed


def test_rekey_refuses_to_leave_a_value_behind() -> None:
    original = (ROOT / "stacks" / "Pulumi.capital.yaml").read_text()
    paths = secure_paths(original)
    with pytest.raises(ValueError, match=r"identity\.federation\.oidc\[0\]\.clientSecret"):
        rekey_text(original, {"encryptionsalt": "x"}, {p: "v1:A:B" for p in paths if "oidc[0]" not in p})


def test_the_committed_salts_are_the_throw_away_ones() -> None:
    salts = {yaml.safe_load(f.read_text()).get("encryptionsalt") for f in STACK_FILES} - {None}
    assert salts == set(THROWAWAY_SALTS)


def test_validate_names_placeholders_and_strict_refuses_them() -> None:
    file = ROOT / "stacks" / "Pulumi.north.yaml"
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "natplat.review.validate", *args, str(file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(PROGRAM_DIR)},
        check=False,
    )
    relaxed, strict = run(), run("--strict")
    assert relaxed.returncode == 0 and "valid: site north" in relaxed.stdout
    assert (
        "certificates: site CA (stack file); backups: to https://objects.north.platform.gov.example"
        in relaxed.stdout
    )
    assert "national-platform:registry.pullSecret: still the repository's placeholder" in relaxed.stderr
    assert "make rekey SITE=north" in relaxed.stderr
    assert strict.returncode == 1


def test_make_secrets_lists_a_site() -> None:
    result = subprocess.run(
        ["make", "-s", "secrets", "SITE=staging"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "national-platform:monitoring.alerting.webhook.url  (placeholder" in result.stdout
