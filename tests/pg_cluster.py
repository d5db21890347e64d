"""A throwaway PostgreSQL cluster on loopback for the tests, started and stopped by the suite.

It runs the server binaries Debian's ``postgresql`` packages install (/usr/lib/postgresql/N/bin,
or initdb on PATH): they come with the machine image, so no download is needed and the server is
the real one users run. initdb refuses to run as root (CI runs as root): then the cluster runs
as the unprivileged ``postgres`` user (or ``nobody``) through ``runuser``. Without the binaries
the PostgreSQL tests skip with the reason, except under CI=true, where they fail instead.

Authentication is scram-sha-256 with a password, so the tests use URLs that carry one (and can
check it never shows).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "vidbuild"
PASSWORD = "s3cret-Pa55word-xyzzy"


def server_binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, newest version first; None if absent."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for directory in candidates:
        if all((Path(directory) / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    return None


def _version(directory: str) -> int:
    name = Path(directory).parent.name
    return int(name) if name.isdigit() else 0


def require_binaries() -> Path:
    """The server binaries, or skip (fail under CI=true, where a PostgreSQL test never skips)."""
    found = server_binaries()
    if found is not None:
        return found
    message = ("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or initdb on PATH): "
               "apt-get install postgresql")
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One initdb'd data directory and its server on 127.0.0.1:``port``; stoppable and restartable."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.base = Path(tempfile.mkdtemp(prefix="vidbuild-pg-"))
        self.data = self.base / "data"
        self.port = _free_port()
        self._runas = self._unprivileged_user() if os.geteuid() == 0 else None
        self.base.chmod(0o755)
        if self._runas is not None:
            os.chown(self.base, self._runas.pw_uid, self._runas.pw_gid)
        password_file = self.base / "password"
        password_file.write_text(PASSWORD + "\n", encoding="utf-8")
        if self._runas is not None:
            os.chown(password_file, self._runas.pw_uid, self._runas.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(password_file),
                  "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")
        password_file.unlink()
        self.start()

    @staticmethod
    def _unprivileged_user() -> pwd.struct_passwd:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise RuntimeError("running as root, and no postgres or nobody user to run PostgreSQL as")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if self._runas is not None:
            command = ["runuser", "-u", self._runas.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120,
                              cwd=self.base)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                   "-c fsync=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop at once (connections are cut, as when a database server crashes or is restarted)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    cluster = Cluster(require_binaries())
    try:
        yield cluster
    finally:
        cluster.close()
