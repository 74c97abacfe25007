"""Under Pulumi, secure values come decrypted from the runtime and land, still secret, exactly at
the keys the stack file marks `secure:`, including inside lists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pulumi
import pytest

from harness import PLACEHOLDER, PROJECT, ROOT, mock_config
from natplat.review.offline import _isolated
from natplat.spec.stackfile import SiteConfigError, load_site_for_current_stack


def _load(stack: str, drop: str | None = None):
    config, secret_keys = mock_config(ROOT / "stacks" / f"Pulumi.{stack}.yaml")
    if drop:
        config.pop(f"{PROJECT}:{drop}")
    with _isolated(stack, config, secret_keys):
        return load_site_for_current_stack()


def _plaintext(secret) -> str:
    seen: list[str] = []

    @pulumi.runtime.test
    def read():
        output = secret.output()
        return output.apply(seen.append)

    with _isolated("read", {}, []):
        read()
    assert len(seen) == 1, "the secret's value was never resolved"
    return seen[0]


def test_secrets_in_lists_and_nested_keys_are_decrypted_at_their_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT / "infra")  # Pulumi may start the program in its own folder
    site = _load("capital")
    (agents,) = site.identity.federation.oidc
    assert (
        _plaintext(agents.client_secret) == f"{PLACEHOLDER}{PROJECT}:identity.federation.oidc[0].clientSecret"
    )
    tsig = site.certificates.acme.dns01.rfc2136.tsig_secret  # type: ignore[union-attr]
    assert _plaintext(tsig) == f"{PLACEHOLDER}{PROJECT}:certificates.acme.dns01.rfc2136.tsigSecret"
    store = site.backups.object_store  # type: ignore[union-attr]
    assert (
        _plaintext(store.secret_access_key) == f"{PLACEHOLDER}{PROJECT}:backups.objectStore.secretAccessKey"
    )
    assert agents.client_id == "national-platform-capital"  # plain values come through untouched


def test_secret_outputs_are_marked_secret() -> None:
    site = _load("north")
    flags: list[bool] = []

    @pulumi.runtime.test
    def check():
        async def secret_flag() -> None:
            flags.append(await site.registry.pull_secret.output().is_secret())

        return asyncio.ensure_future(secret_flag())

    with _isolated("check", {}, []):
        check()
    assert flags == [True]


def test_a_secure_key_the_runtime_did_not_pass_is_an_error() -> None:
    with pytest.raises(SiteConfigError) as raised:
        _load("coast", drop="cluster")
    assert raised.value.problems == [
        f"stacks/Pulumi.coast.yaml: {PROJECT}:cluster: Pulumi passed no value for it"
    ]


def test_a_stack_without_a_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    with _isolated("nowhere", {}, []), pytest.raises(SiteConfigError) as raised:
        load_site_for_current_stack()
    assert "the stack file of stack 'nowhere' is missing" in raised.value.problems[0]


@pytest.mark.parametrize(
    ("plaintext", "says"),
    [
        ("hunter2-not-json", "is not JSON"),
        ('{"registry.example": {"auth": "eA=="}}', 'has no "auths" object'),
        ('{"auths": {}}', 'has no "auths" object'),
        ('{"auths": {"mirror.north.gov.example": {"email": "ops@example"}}}', 'neither "auth" nor'),
    ],
)
def test_a_pull_secret_that_is_not_a_docker_config_is_refused_with_its_key(plaintext: str, says: str) -> None:
    """The API server refuses a kubernetes.io/dockerconfigjson Secret that is not such a document
    ("invalid character … looking for beginning of value"), after every earlier object was
    created: the model refuses it first, naming the file and key, never quoting the value."""
    config, secret_keys = mock_config(ROOT / "stacks" / "Pulumi.north.yaml")
    registry = json.loads(config[f"{PROJECT}:registry"])
    registry["pullSecret"] = plaintext
    config[f"{PROJECT}:registry"] = json.dumps(registry)
    with _isolated("north", config, secret_keys), pytest.raises(SiteConfigError) as raised:
        load_site_for_current_stack()
    (problem,) = raised.value.problems
    assert problem.startswith(f"stacks/Pulumi.north.yaml: {PROJECT}:registry.pullSecret: ")
    assert says in problem and plaintext not in problem


def test_a_docker_config_pull_secret_is_accepted() -> None:
    site = _load("north")  # the offline stand-in has the documented shape
    assert site.registry.pull_secret is not None and site.registry.pull_secret.decrypted
