"""A throwaway PostgreSQL server for the test session: initdb in a temp dir, 127.0.0.1, a free port."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

#: Speed over durability: the data dir is thrown away at the end of the session.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
    "timezone": "'Asia/Shanghai'",  # like a server in Longgang: catches naive-datetime bugs
}
SERVICE_USER_FALLBACK = "idiflow-pg"
TEMPLATE_DB = "idiflow_template"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries are not installed (scripts/setup.sh --system installs them)."""


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<v>/bin holding initdb and pg_ctl (or PG_BIN_DIR)."""
    candidates = [os.environ["PG_BIN_DIR"]] if os.environ.get("PG_BIN_DIR") else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int("0" + "".join(filter(str.isdigit, p))), reverse=True)
    for path in candidates:
        if (Path(path) / "initdb").exists() and (Path(path) / "pg_ctl").exists():
            return Path(path)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    raise PostgresUnavailable("PostgreSQL is not installed: no initdb/pg_ctl under "
                              "/usr/lib/postgresql/*/bin. Run `bash scripts/setup.sh --system` "
                              "(apt-get install postgresql).")


def _service_user() -> str | None:
    """The unprivileged user that runs the server when we are root (initdb refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SERVICE_USER_FALLBACK):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    SERVICE_USER_FALLBACK], check=True, capture_output=True)
    return SERVICE_USER_FALLBACK


def scratch_dir() -> str | None:
    """Where the cluster lives: IDIFLOW_TEST_PG_DIR, else tmpfs /dev/shm (CREATE DATABASE there takes ~20 ms
    instead of ~300 ms on this ext4 disk), else the default temp dir."""
    chosen = os.environ.get("IDIFLOW_TEST_PG_DIR")
    if chosen:
        return chosen
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30:
        return str(shm)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One private server: `start()` runs initdb + pg_ctl start, `stop()` stops it and removes its files."""

    def __init__(self, bin_dir: Path | None = None):
        self.bin_dir = bin_dir or find_bin_dir()
        self.user = _service_user()
        self.superuser = "postgres"
        self.root: Path | None = None
        self.port: int | None = None
        self._names = itertools.count(1)
        self._admin: psycopg.Connection | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                               f"{self.log_tail()}")
        return proc

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server log, for error messages."""
        log = self.root / "server.log" if self.root else None
        if log is None or not log.exists():
            return ""
        return "server log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> PostgresServer:
        """Create a cluster in a fresh temp dir and start it on a free port (retried if the port is taken)."""
        self.root = Path(tempfile.mkdtemp(prefix="idiflow-pg-", dir=scratch_dir()))
        self.root.chmod(0o700)
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.data_dir), "-U", self.superuser, "--auth=trust", "--encoding=UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# idiflow test session\n")
            conf.write(f"unix_socket_directories = '{self.root}'\n")
            for key, value in SERVER_SETTINGS.items():
                conf.write(f"{key} = {value}\n")
        last_error: Exception | None = None
        for _ in range(3):
            self.port = free_port()
            try:
                self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-w",
                          "-t", "60", "-o", f"-p {self.port}", "start")
                return self
            except RuntimeError as err:  # most likely somebody took the port between probe and start
                last_error = err
        raise last_error

    def stop(self) -> None:
        """Stop the server (fast mode: it also removes its shared memory) and delete its data dir."""
        if self.root is None:
            return
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        """The session's autocommit connection to the maintenance database (CREATE/DROP DATABASE)."""
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(host="127.0.0.1", port=self.port, user=self.superuser,
                                          dbname="postgres", autocommit=True)
        return self._admin

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        for attempt in range(50):  # the template must have no sessions; wait out a late disconnect
            try:
                self.admin().execute(sql)
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still in it."""
        self.admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
