"""Reads a stack file into a `Site`: the only place the program reads configuration.

Two ways in, one validation:
- offline (`make validate`, tests): the YAML file alone; `secure:` values stay encrypted;
- under Pulumi: the same file, with the secure values' plaintext taken from the Pulumi runtime,
  which decrypted them with the stack's secrets provider.

Reading the file in both cases is what lets a secret written in plain text be told apart from a
`secure:` one: the runtime hands the program decrypted values without saying which nested keys
were encrypted. Every problem becomes one line naming the file and the full key path.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.config import get_config
from pydantic import ValidationError

from natplat.spec.model import CONFIG_KEYS, PROJECT, Site, field_names, model_at
from natplat.spec.profiles import PROFILES, deep_merge
from natplat.spec.sensitive import SecretValue

STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")
CIPHERTEXT = re.compile(r"^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")
FILE_KEYS = {"config", "encryptionsalt", "secretsprovider", "encryptedkey"}

Path_ = tuple[str | int, ...]


class SiteConfigError(Exception):
    """A stack file that cannot describe a site; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class StackDocument:
    """A stack file as read: project keys without their namespace, secure values as markers."""

    path: Path
    label: str
    stack: str
    config: dict[str, Any]
    secret_paths: list[Path_] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML loader that refuses a key written twice in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def key_text(path: Iterable[str | int]) -> str:
    """`national-platform:gateway.rateLimit.perMinute`, `…:services[0].name`."""
    text = f"{PROJECT}:"
    for index, part in enumerate(path):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += part if index == 0 else f".{part}"
    return text


def read_stack_file(path: Path, label: str | None = None) -> StackDocument:
    """Parse a stack file. Structural problems are collected in `problems`, not raised, so that
    every problem of the file is reported at once."""
    label = label or str(path)
    match = STACK_FILE.match(path.name)
    stack = match.group("stack") if match else path.stem
    document = StackDocument(path=path, label=label, stack=stack, config={})
    if not match:
        document.problems.append(f"{label}: the file name must be Pulumi.<site>.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SiteConfigError([f"{label}: cannot be read ({error.strerror})"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        reason = getattr(error, "problem", None) or str(error)
        raise SiteConfigError([f"{label}: is not valid YAML{where}: {reason}"]) from None
    if not isinstance(data, dict):
        raise SiteConfigError([f"{label}: must be a mapping with a `config:` key"])
    for key in data:
        if key not in FILE_KEYS:
            document.problems.append(f"{label}: {key}: unknown top-level key of a stack file")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise SiteConfigError([f"{label}: config: must be a mapping of {PROJECT}:<key> entries"])
    for full_key, value in config.items():
        namespace, _, key = str(full_key).partition(":")
        if not key:
            document.problems.append(f"{label}: {full_key}: config keys are written {PROJECT}:<key>")
        elif namespace != PROJECT:
            document.problems.append(
                f"{label}: {full_key}: unknown key: this program reads only {PROJECT}:* keys"
            )
        else:
            document.config[key] = _mark_secrets(value, (key,), document)
    provider = str(data.get("secretsprovider", "passphrase"))
    needed = "encryptionsalt" if provider == "passphrase" else "encryptedkey"
    if document.secret_paths and needed not in data:
        document.problems.append(
            f"{label}: holds secure: values but no {needed} for its {provider.split(':', maxsplit=1)[0]} "
            "secrets provider, so Pulumi cannot decrypt them"
        )
    return document


def _mark_secrets(value: Any, path: Path_, document: StackDocument) -> Any:
    """Replace every `{secure: <ciphertext>}` by an undecrypted SecretValue and note its path;
    turn lists into tuples (the model's sequences are immutable)."""
    if isinstance(value, dict):
        if "secure" in value:
            if (
                len(value) != 1
                or not isinstance(value["secure"], str)
                or not CIPHERTEXT.match(value["secure"])
            ):
                document.problems.append(
                    f"{document.label}: {key_text(path)}: is not a Pulumi ciphertext; set it with "
                    f"`pulumi config set --secret --path '{key_text(path)}'`"
                )
            document.secret_paths.append(path)
            return SecretValue(None)
        return {key: _mark_secrets(item, (*path, key), document) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(_mark_secrets(item, (*path, index), document) for index, item in enumerate(value))
    return value


def validate_site(document: StackDocument) -> Site:
    """The `Site` a stack document describes, or SiteConfigError with every problem in it."""
    problems = list(document.problems)
    config = dict(document.config)
    site_section = config.get("site")
    profile = site_section.get("profile") if isinstance(site_section, dict) else None
    overrides = config.pop("sizing", None)
    if overrides is not None and not isinstance(overrides, dict):
        problems.append(f"{document.label}: {key_text(['sizing'])}: must be a mapping of overrides")
        overrides = {}
    # A bad profile is reported by the model; meanwhile `small` stands in so that the rest of
    # the file is still checked. Only a string can name a profile (a mapping is not hashable).
    base = PROFILES.get(profile) if isinstance(profile, str) else None
    config["sizing"] = deep_merge(base or PROFILES["small"], overrides or {})
    try:
        site = Site.model_validate(config)
    except ValidationError as error:
        problems.extend(_describe(error, document.label))
        site = None
    if site is not None and site.name != document.stack:
        problems.append(
            f"{document.label}: {key_text(['site', 'name'])}: must equal the stack name "
            f"'{document.stack}' taken from the file name (got '{site.name}')"
        )
    if problems or site is None:
        raise SiteConfigError(problems)
    return site


def load_stack_file(path: Path, label: str | None = None) -> Site:
    """Offline: validate a stack file without decrypting anything."""
    return validate_site(read_stack_file(path, label))


def project_root(start: Path | None = None) -> Path:
    """The nearest folder, from the working directory up, holding Pulumi.yaml (as Pulumi finds it)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    raise SiteConfigError([f"no Pulumi.yaml in {here} or any folder above it"])


def stack_file_path(root: Path, stack: str) -> Path:
    project = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8")) or {}
    return root / project.get("stackConfigDir", ".") / f"Pulumi.{stack}.yaml"


def load_site_for_current_stack() -> Site:
    """Under Pulumi: the current stack's file, with its secrets decrypted by the runtime."""
    root = project_root()
    path = stack_file_path(root, pulumi.get_stack())
    label = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    if not path.is_file():
        raise SiteConfigError([f"{label}: the stack file of stack '{pulumi.get_stack()}' is missing"])
    document = read_stack_file(path, label)
    decrypted: dict[str, Any] = {}
    for secret_path in document.secret_paths:
        top = str(secret_path[0])
        if top not in decrypted:
            raw = get_config(f"{PROJECT}:{top}")
            if raw is None:
                raise SiteConfigError([f"{label}: {key_text([top])}: Pulumi passed no value for it"])
            decrypted[top] = _decode(raw)
        plaintext = _dig(decrypted[top], secret_path[1:])
        if not isinstance(plaintext, str):
            raise SiteConfigError([f"{label}: {key_text(secret_path)}: the decrypted value is not text"])
        document.config = _replace(document.config, secret_path, SecretValue(plaintext))
    return validate_site(document)


def _decode(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _dig(value: Any, path: Path_) -> Any:
    for part in path:
        value = value[part]
    return value


def _replace(tree: Any, path: Path_, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, head: _replace(tree[head], rest, new)}
    items = list(tree)
    items[head] = _replace(items[head], rest, new)  # type: ignore[index]
    return tuple(items)


# ---------------------------------------------------------------------------- messages


def _describe(error: ValidationError, label: str) -> list[str]:
    lines = []
    for item in error.errors(include_url=False):
        loc: tuple[str | int, ...] = tuple(item["loc"])
        ctx = item.get("ctx") or {}
        if item["type"] == "site_rule":
            loc = (*loc, *_split(ctx["at"]))
        lines.append(f"{label}: {key_text(loc) if loc else PROJECT}: {_message(item, loc)}")
    return sorted(dict.fromkeys(lines))


def _split(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in dotted.split("."):
        name, *indices = re.split(r"\[(\d+)\]", piece)
        parts.append(name)
        parts.extend(int(index) for index in indices if index)
    return parts


RETIRED_KEYS: dict[str, str] = {
    "auth": (
        "the hand-written token issuer was replaced by Keycloak: move signingKeys, audience, "
        "tokenTtlSeconds and hostname under national-platform:identity, and re-declare each "
        "client there with its public key (README, 'Identity')"
    ),
}
"""Top-level keys earlier versions of the program read, with what replaced them."""


def _message(item: dict[str, Any], loc: tuple[str | int, ...]) -> str:
    kind, value = item["type"], item.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        if len(loc) == 1 and loc[0] in RETIRED_KEYS:
            return f"is no longer read: {RETIRED_KEYS[str(loc[0])]}"
        parent = model_at(Site, loc[:-1])
        known = field_names(parent) if parent is not None else list(CONFIG_KEYS)
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known keys: {', '.join(known)}"
        return f"unknown key ({hint})"
    if isinstance(value, SecretValue) and kind != "plaintext_secret":
        return "is a secure: value, but this key is not a secret: write it in plain text"
    message = item["msg"].replace("'<this key>'", f"'{key_text(loc)}'")
    if kind in ("value_error", "assertion_error"):
        message = message.split(", ", 1)[1] if ", " in message else message
    message = message.replace("Input should be", "must be").replace("valid tuple", "list")
    message = message.replace("String should match pattern", "must match the pattern")
    if kind not in {"site_rule", "plaintext_secret"}:
        message += f" (got {_shown(value)})"
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and kind.startswith(("string", "literal"))
    ):
        message += "; YAML reads it as a number, so write it in quotes"
    return message[0].lower() + message[1:]


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, tuple | list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
