"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder, listening on
127.0.0.1 at a free port, trust authentication, no Unix socket, stopped when the test session ends.

Binaries: ``$EMOSYNTH_PG_BIN`` or Debian's ``/usr/lib/postgresql/<version>/bin`` (newest installed).

PostgreSQL refuses to run as root. When the tests run as root (CI containers do), the cluster is made and
run as an unprivileged account — ``postgres`` if Debian's package made one, else ``nobody`` — by
``os.setgid``/``os.setuid`` in the child before it execs (``preexec_fn``); the data folder is a
``tempfile.mkdtemp`` under the system temporary folder (world-traversable, unlike pytest's per-user
``/tmp/pytest-of-root``) handed to that account with ``chown``. As any other user the binaries simply run as
that user.

Use ``pg_url`` (a fresh, empty database per test) or ``pg_server`` (the server, session-scoped). Import both
into a test module: ``from _pg import pg_server, pg_url  # noqa: F401``. One server serves the whole
session however many modules import it.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "postgres"


def pg_bin() -> Path | None:
    env = os.environ.get("EMOSYNTH_PG_BIN")
    if env:
        return Path(env) if (Path(env) / "initdb").is_file() else None
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").is_file()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user():
    """(preexec_fn, uid, gid): how to run the server's binaries as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return None, None, None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        uid, gid = pw.pw_uid, pw.pw_gid

        def drop(uid=uid, gid=gid):
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        return drop, uid, gid
    raise RuntimeError("running as root and no unprivileged account (postgres, nobody) to run PostgreSQL as")


@dataclass
class Cluster:
    bindir: Path
    folder: Path
    port: int
    preexec: object = None
    _names = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args, check=True, timeout=120):
        env = {"PATH": f"{self.bindir}:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.folder), "TZ": "UTC"}
        return subprocess.run([str(self.bindir / args[0]), *map(str, args[1:])], preexec_fn=self.preexec, env=env,
                              cwd=self.folder, capture_output=True, text=True, check=check, timeout=timeout)

    def start(self) -> None:
        self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                "-c fsync=on -c max_connections=300 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-o", opts, "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database; returns its SQLAlchemy URL (psycopg 3 driver)."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


_CLUSTER: Cluster | None = None


def start_cluster() -> Cluster:
    """The process's one throwaway server (started on first use). Raises RuntimeError when PostgreSQL's
    binaries are missing (scripts/setup.sh installs Debian's postgresql)."""
    global _CLUSTER
    if _CLUSTER is not None:
        return _CLUSTER
    bindir = pg_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries not found (/usr/lib/postgresql/*/bin or $EMOSYNTH_PG_BIN): "
                           "scripts/setup.sh installs Debian's postgresql")
    preexec, uid, gid = _as_user()
    folder = Path(tempfile.mkdtemp(prefix="emosynth-pg-"))
    if uid is not None:
        os.chown(folder, uid, gid)
    cluster = Cluster(bindir, folder, _free_port(), preexec)
    try:
        cluster.start()
    except subprocess.CalledProcessError as e:
        log = (folder / "server.log").read_text()[-800:] if (folder / "server.log").exists() else ""
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr[-800:]}{log}") from None
    _CLUSTER = cluster
    return cluster


def stop_cluster() -> None:
    global _CLUSTER
    if _CLUSTER is not None:
        _CLUSTER.stop()
        _CLUSTER = None


@pytest.fixture(scope="session")
def pg_server(request) -> Cluster:
    try:
        cluster = start_cluster()
    except RuntimeError as e:
        pytest.fail(str(e))
    request.config.add_cleanup(stop_cluster)  # at the session's end, whichever module started it
    return cluster


@pytest.fixture()
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database for one test, as a SQLAlchemy URL (``postgresql+psycopg://``)."""
    return pg_server.new_database()
