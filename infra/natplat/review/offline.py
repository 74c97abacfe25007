"""Runs the real Pulumi program offline, under Pulumi's mocks, for one stack file, and records
what it registers: what the tests assert on, and what `make plan` summarises for reviewers.

Each run is isolated: config, the root stack and the mocks are set before and reset after, so
no run sees another's state. Secure values are replaced by placeholders that stay secret, as the
Pulumi CLI would hand them over after decryption (this module reads the stack file's structure on
its own, playing the CLI's part, rather than through the program's parser). Provider outputs the
program reads are faked: real generated RSA keys for pulumi-tls, named results for pulumi-random,
a registry digest for pushed images.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import math
import os
import runpy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config

ROOT = Path(__file__).resolve().parents[3]
PROJECT_FILE = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
PROJECT: str = PROJECT_FILE["name"]
PROGRAM_DIR = ROOT / PROJECT_FILE["main"]
MAIN = PROGRAM_DIR / "__main__.py"
STACK_DIR = ROOT / PROJECT_FILE["stackConfigDir"]
STACK_FILES = sorted(STACK_DIR.glob("Pulumi.*.yaml"))
STACKS = [path.name.split(".")[1] for path in STACK_FILES]


SECRET_KEY, SECRET_SIG = rpc._special_sig_key, rpc._special_secret_sig
PLACEHOLDER = "mock-secret::"


def is_wrapped_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_KEY) == SECRET_SIG


def secret_at(value: Any, *path: str | int) -> bool:
    """Whether the value at `path` inside raw inputs sits under a secret wrapper (at any level:
    the Kubernetes SDK wraps a Secret's whole `stringData`, a program may wrap one value)."""
    for key in path:
        if is_wrapped_secret(value):
            return True
        value = value[key]
    return is_wrapped_secret(value)


def unwrap(value: Any) -> Any:
    """Inputs as the engine would apply them: secret wrappers removed."""
    if is_wrapped_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def contains_secret_text(value: Any, text: str, secret: bool = False) -> list[bool]:
    """For every string in `value` that contains `text`: whether it sits under a secret wrapper."""
    if is_wrapped_secret(value):
        return contains_secret_text(value["value"], text, True)
    if isinstance(value, dict):
        return [flag for item in value.values() for flag in contains_secret_text(item, text, secret)]
    if isinstance(value, list):
        return [flag for item in value for flag in contains_secret_text(item, text, secret)]
    return [secret] if isinstance(value, str) and text in value else []


@dataclass(frozen=True)
class Recorded:
    """One registered resource: its type token, logical name and inputs as the engine got them."""

    type: str
    name: str
    raw_inputs: dict[str, Any]
    custom: bool
    provider: str | None
    transforms: tuple[Any, ...] = field(default=(), compare=False)
    """The resource's transforms, as registered (a chart's run on every object it renders)."""

    @property
    def inputs(self) -> dict[str, Any]:
        return unwrap(self.raw_inputs)

    @property
    def kind(self) -> str:
        """The Kubernetes kind (`Namespace`) of a `kubernetes:core/v1:Namespace` token."""
        return self.type.rsplit(":", 1)[-1]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.inputs.get("metadata") or {}


@dataclass
class ProgramRun:
    stack: str
    resources: list[Recorded] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    error: BaseException | None = None

    def of_type(self, token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == token]

    def kubernetes(self, kind: str) -> list[Recorded]:
        return [r for r in self.resources if r.type.startswith("kubernetes:") and r.kind == kind]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name!r}, found {len(found)}"
        return found[0]


# Outputs that real providers compute and the program reads; everything else echoes its inputs.
FAKE_OUTPUTS: dict[str, dict[str, Any]] = {
    "command:local:Command": {"stdout": "apiVersion: v1\nkind: Config\n# mock kubeconfig\n"},
}
IMAGE_DIGEST = "sha256:" + "d" * 64
"""The registry digest a mocked docker.Image push returns."""

_KEYS: dict[str, dict[str, str]] = {}
MOCK_KEY_BITS = 1024
"""Mock keys only need to be real RSA keys (the program derives key ids from them), not strong."""


def _is_probable_prime(candidate: int, rounds: int = 24) -> bool:
    if candidate % 2 == 0:
        return candidate == 2
    d, r = candidate - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for witness in (
        2,
        3,
        5,
        7,
        11,
        13,
        17,
        19,
        23,
        29,
        31,
        37,
        41,
        43,
        47,
        53,
        59,
        61,
        67,
        71,
        73,
        79,
        83,
        89,
    )[:rounds]:
        if witness % candidate == 0:
            continue
        x = pow(witness, d, candidate)
        if x in (1, candidate - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, candidate)
            if x == candidate - 1:
                break
        else:
            return False
    return True


def _seeded_prime(seed: bytes, bits: int, e: int) -> int:
    counter = 0
    while True:
        material = b"".join(
            hashlib.sha256(seed + counter.to_bytes(4, "big") + block.to_bytes(2, "big")).digest()
            for block in range(bits // 256 + 1)
        )
        candidate = int.from_bytes(material, "big") >> (len(material) * 8 - bits)
        candidate |= (1 << (bits - 1)) | (1 << (bits - 2)) | 1  # full size, odd
        if _is_probable_prime(candidate) and math.gcd(candidate - 1, e) == 1:
            return candidate
        counter += 1


def fake_key_pair(name: str) -> dict[str, str]:
    """A real RSA key pair per resource name (what pulumi-tls outputs, in its three PEM forms).
    The program derives key ids from real public keys, and two offline runs (the plan of a base
    commit and of the working tree) must agree, so the key is derived from the name: the same
    name gives the same key in every process, on every machine."""
    if name not in _KEYS:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - only when needed
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        e = 65537
        p = _seeded_prime(f"{name}/p".encode(), MOCK_KEY_BITS // 2, e)
        q = _seeded_prime(f"{name}/q".encode(), MOCK_KEY_BITS // 2, e)
        d = pow(e, -1, (p - 1) * (q - 1))
        key = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e, p * q),
        ).private_key()
        none = serialization.NoEncryption()
        pem = serialization.Encoding.PEM
        _KEYS[name] = {
            "privateKeyPem": key.private_bytes(
                pem, serialization.PrivateFormat.TraditionalOpenSSL, none
            ).decode(),
            "privateKeyPemPkcs8": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode(),
            "publicKeyPem": key.public_key()
            .public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
        }
    return _KEYS[name]


RANDOM_RESULT = "random-result::"
"""Prefix of a mocked pulumi-random result, followed by the resource's name: a test can tell
which generated value reached which input."""


GENERATED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "random:index/randomPassword:RandomPassword": ("result",),
    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyPemPkcs8", "publicKeyPem"),
    "tls:index/selfSignedCert:SelfSignedCert": ("certPem",),
    "tls:index/locallySignedCert:LocallySignedCert": ("certPem",),
    "docker:index/image:Image": ("repoDigest",),
    "command:local:Command": ("stdout",),
}
"""What providers compute when a resource is created: unknown in a site's first preview."""


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, first_preview: bool = False) -> None:
        self.resources: list[Recorded] = []
        self.first_preview = first_preview
        """A first preview: nothing exists yet, so what providers compute is unknown."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(
            Recorded(
                args.typ,
                args.name,
                args.inputs,
                bool(args.custom),
                args.provider,
                tuple(args.transforms or ()),
            )
        )
        state = self._created(args)
        if self.first_preview:
            state.update({key: rpc.UNKNOWN for key in GENERATED_OUTPUTS.get(args.typ, ())})
        return f"{args.name}-id", state

    def _created(self, args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        state = {**args.inputs, **FAKE_OUTPUTS.get(args.typ, {})}
        if args.typ.startswith("random:"):
            state["result"] = f"{RANDOM_RESULT}{args.name}"
        if args.typ == "tls:index/privateKey:PrivateKey":
            state.update(fake_key_pair(args.name))
        if args.typ in (
            "tls:index/selfSignedCert:SelfSignedCert",
            "tls:index/locallySignedCert:LocallySignedCert",
        ):
            state["certPem"] = f"-----BEGIN CERTIFICATE-----\nfake::{args.name}\n-----END CERTIFICATE-----\n"
        if args.typ == "docker:index/image:Image":
            state["repoDigest"] = f"{args.inputs['imageName'].rsplit(':', 1)[0]}@{IMAGE_DIGEST}"
        return state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        raise AssertionError(f"the program made an unexpected invoke: {args.token}")


def fake_site_ca() -> dict[str, str]:
    """A real CA certificate and its key, the same in every process (the key is `fake_key_pair`'s,
    the dates and serial fixed, and RSA PKCS#1 v1.5 signatures deterministic): the stand-in of a
    site CA given as secure values, which the model parses and checks."""
    if "site-ca" not in _CAS:
        from cryptography import x509  # noqa: PLC0415 - only when needed
        from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
        from cryptography.x509.oid import NameOID  # noqa: PLC0415

        pair = fake_key_pair("site-ca")
        key = serialization.load_pem_private_key(pair["privateKeyPemPkcs8"].encode(), None)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Site CA (mock stand-in)")])
        start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())  # type: ignore[arg-type]
            .serial_number(1)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=20 * 365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())  # type: ignore[arg-type]
        )
        _CAS["site-ca"] = {
            "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "key": pair["privateKeyPemPkcs8"],
        }
    return _CAS["site-ca"]


_CAS: dict[str, dict[str, str]] = {}

SHAPED_SECRETS = {
    # The model checks the form of these decrypted values: their stand-ins have that form, with
    # the placeholder marker inside (a PEM parser skips text before its BEGIN line) so the
    # secrecy checks still find it wherever it lands.
    "registry.pullSecret": lambda marker: json.dumps(
        {"auths": {"registry.example.invalid": {"auth": marker}}}
    ),
    "certificates.ca.certificate": lambda marker: f"{marker}\n{fake_site_ca()['certificate']}",
    "certificates.ca.key": lambda marker: f"{marker}\n{fake_site_ca()['key']}",
}


def shaped_placeholder(path: str) -> str:
    """The stand-in for the secure value at `path` (`<project>:<dotted key>`)."""
    marker = f"{PLACEHOLDER}{path}"
    shape = SHAPED_SECRETS.get(path.split(":", 1)[-1])
    return shape(marker) if shape else marker


def mock_config(stack_file: Path) -> tuple[dict[str, str], list[str]]:
    """The config Pulumi would pass for `stack_file`, secure values replaced by placeholders."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config: dict[str, str] = {}
    secret_keys: list[str] = []

    def replace(value: Any, path: str) -> tuple[Any, bool]:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return shaped_placeholder(path), True
        if isinstance(value, dict):
            pairs = {k: replace(v, f"{path}.{k}") for k, v in value.items()}
            return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
        if isinstance(value, list):
            pairs_list = [replace(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return [v for v, _ in pairs_list], any(s for _, s in pairs_list)
        return value, False

    for key, value in (document.get("config") or {}).items():
        plain, secret = replace(value, key)
        config[key] = plain if isinstance(plain, str) else json.dumps(plain)
        if secret:
            secret_keys.append(key)
    return config, secret_keys


@contextmanager
def _isolated(
    stack: str, config: dict[str, str], secret_keys: list[str], first_preview: bool = False
) -> Iterator[RecordingMocks]:
    mocks = RecordingMocks(first_preview)
    set_all_config(config, secret_keys)
    settings.reset_options(project=PROJECT, stack=stack)  # drops the previous root stack
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=first_preview)
    try:
        yield mocks
    finally:
        set_all_config({}, [])
        settings.reset_options()


def run_program(stack_file: Path, project_dir: Path = ROOT, *, first_preview: bool = False) -> ProgramRun:
    """Run infra/__main__.py for `stack_file` as `pulumi up` would, against mocks; with
    `first_preview`, as a site's first `pulumi preview` would (a dry run in which every value a
    provider computes on creation is unknown, recorded as `rpc.Unknown`).

    `project_dir` is the folder the program starts in (it looks for Pulumi.yaml from there
    upward, as Pulumi does); tests of broken stack files point it at a temporary project.
    """
    stack = stack_file.name.split(".")[1]
    config, secret_keys = mock_config(stack_file)
    run = ProgramRun(stack)
    previous_cwd = os.getcwd()
    with _isolated(stack, config, secret_keys, first_preview) as mocks:
        os.chdir(project_dir)

        @pulumi.runtime.test
        def program() -> Any:
            runpy.run_path(str(MAIN), run_name="__main__")
            root = settings.get_root_resource()
            exports = dict(root.outputs) if root is not None else {}

            async def collect() -> None:
                for name, value in exports.items():
                    output = pulumi.Output.from_input(value)
                    run.outputs[name] = await output.future()
                    if await output.is_secret():
                        run.secret_outputs.add(name)

            return asyncio.ensure_future(collect())

        try:
            program()
        except BaseException as error:  # noqa: BLE001 - recorded for the test to inspect
            run.error = error
        finally:
            os.chdir(previous_cwd)
        run.resources = list(mocks.resources)
    return run
