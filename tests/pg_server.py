"""A PostgreSQL server for the destination tests: a new cluster in a temporary directory,
listening on loopback only, started once per test session (scripts/test.sh installs Debian's
``postgresql`` package; without it the tests that need the server fail, they do not skip)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    raise RuntimeError("PostgreSQL's server programs are not installed: apt-get install postgresql (scripts/test.sh does)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = tempfile.mkdtemp(prefix="sfarrow-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        # initdb refuses to run as root: the cluster then belongs to the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres")
        self.uri = f"postgresql://sfarrow@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> Server:
        self._run(f"{self.bindir}/initdb", "-D", self.data, "-A", "trust", "-U", "sfarrow", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.root, "log"), "-w", "-t", "60", "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start on port {self.port}")

    def stop(self) -> None:
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
