"""A real Keycloak on loopback, on a real PostgreSQL, for the identity tests: the server
distribution `make keycloak-dist` unpacked and built in build/keycloak (the same version the
catalog pins for the clusters), run on a Java 21+ JDK, behind the same proxy headers Kong sends.

Start-up is bounded (KEYCLOAK_START_TIMEOUT, 240 s by default): a Keycloak that does not answer
in time fails the tests with its log, it never hangs the run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from natplat.spec.catalog import KEYCLOAK_VERSION

ROOT = Path(__file__).resolve().parents[1]
KEYCLOAK_HOME = Path(
    os.environ.get("KEYCLOAK_HOME", ROOT / "build" / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}")
)
BOOTSTRAP_CLIENT = "realm-sync"
START_TIMEOUT = float(os.environ.get("KEYCLOAK_START_TIMEOUT", "240"))


def java_home() -> str:
    """A JDK Keycloak 26.7 runs on (21 or newer): KEYCLOAK_JAVA_HOME, else Temurin 25 where the
    machines have it beside the default OpenJDK 17."""
    explicit = os.environ.get("KEYCLOAK_JAVA_HOME")
    if explicit:
        return explicit
    found = sorted(glob.glob("/usr/lib/jvm/temurin-2[1-9]-jdk*"))
    if not found:
        raise RuntimeError("no Java 21+ JDK: install one and set KEYCLOAK_JAVA_HOME (see README, Tests)")
    return found[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: on a root shell (CI containers) run it as `postgres`,
    with util-linux's runuser (in /usr/sbin, which a bare CI PATH may not list)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if runuser is None:
        raise RuntimeError(
            "running as root without util-linux's runuser: cannot start PostgreSQL as postgres"
        )
    return [runuser, "-u", "postgres", "--", *command]


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port; yields its JDBC URL."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        raise RuntimeError(
            "PostgreSQL server binaries not found (Debian package postgresql; `make system-deps`)"
        )
    bindir = Path(binaries[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="natplat-pg-"))
    folder.chmod(0o777)
    data = folder / "data"
    port = free_port()
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE keycloak"],
            check=True,
            capture_output=True,
        )
        yield f"jdbc:postgresql://127.0.0.1:{port}/keycloak"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,  # stopping is best effort: the folder goes either way
        )
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Keycloak:
    url: str
    """The loopback address the tests call."""
    public_base: str
    """https://<identity host>: what Keycloak puts in issuers and links, as behind Kong."""
    admin_secret: str
    database: str = ""
    """postgresql://… URL of the database Keycloak runs on (for the restore runbook's steps)."""
    management: str = ""
    """Keycloak's management interface (health, metrics)."""

    @property
    def forwarded(self) -> dict[str, str]:
        """The headers Kong sets on the way in (Keycloak runs with proxy-headers=xforwarded)."""
        host = self.public_base.removeprefix("https://")
        return {"X-Forwarded-Host": host, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}

    def local(self, public_url: str) -> str:
        """A public Keycloak URL (a form action, a redirect) as the tests reach it on loopback."""
        return public_url.replace(self.public_base, self.url, 1)


@contextlib.contextmanager
def keycloak(public_host: str) -> Iterator[Keycloak]:
    home = KEYCLOAK_HOME
    if (
        not (home / "lib" / "quarkus" / "build-system.properties").exists()
        and not (home / "bin" / "kc.sh").exists()
    ):
        raise RuntimeError(
            f"{home}: no Keycloak distribution; run `make keycloak-dist` (the test target does)"
        )
    secret = os.urandom(18).hex()
    http_port, management_port = free_port(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="natplat-keycloak-", suffix=".log", delete=False)  # noqa: SIM115
    with postgres() as jdbc:
        env = {
            **os.environ,
            "JAVA_HOME": java_home(),
            "KC_BOOTSTRAP_ADMIN_CLIENT_ID": BOOTSTRAP_CLIENT,
            "KC_BOOTSTRAP_ADMIN_CLIENT_SECRET": secret,
        }
        command = [
            str(home / "bin" / "kc.sh"),
            "start",
            "--optimized",
            f"--db-url={jdbc}",
            "--db-username=postgres",
            "--db-password=unused",
            "--http-enabled=true",
            "--http-host=127.0.0.1",
            f"--http-port={http_port}",
            f"--http-management-port={management_port}",
            f"--hostname=https://{public_host}",
            "--proxy-headers=xforwarded",
            "--cache=local",
        ]
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            ready = f"http://127.0.0.1:{management_port}/health/ready"
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"Keycloak exited ({process.returncode}):\n{Path(log.name).read_text()[-4000:]}"
                    )
                with contextlib.suppress(requests.RequestException):
                    if requests.get(ready, timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Keycloak not ready in {START_TIMEOUT:.0f} s:\n{Path(log.name).read_text()[-4000:]}"
                    )
                time.sleep(1)
            database = jdbc.removeprefix("jdbc:").replace("//", "//postgres@", 1)
            yield Keycloak(
                f"http://127.0.0.1:{http_port}",
                f"https://{public_host}",
                secret,
                database,
                f"http://127.0.0.1:{management_port}",
            )
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            os.unlink(log.name)
