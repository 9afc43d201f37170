"""Helpers for tests that run a real Dagster deployment: the code server, the webserver and the
daemon as separate subprocesses (as docker-compose runs them), a small GraphQL client for the
webserver's API (the one the UI uses), and scratch PostgreSQL databases.

Every process runs in its own process group with its output in a log file; `Deployment.stop()`
sends SIGTERM, waits, and kills whatever is left of each group, so that a failing test leaves no
process behind, and `Deployment.log_tails()` shows what each process said.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path


class Deployment:
    """Long-running processes started by a test; ``with Deployment(...) as d`` stops them all on exit."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.services: list[Service] = []
        self.stop_report: list[str] = []  # how each process ended, filled by stop()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, name: str, cmd: Sequence[str]) -> Service:
        log = self.workdir / f"{name}.log"
        with open(log, "wb") as out:
            # A new session: the process and its children (run workers, step processes) form one
            # group that stop() can signal. SIGINT back to default: a pytest started in the background
            # of a non-interactive shell ignores it, and Dagster's processes map SIGTERM onto it.
            proc = subprocess.Popen(list(cmd), cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        service = Service(name, proc, log)
        self.services.append(service)
        return service

    def check_alive(self) -> None:
        for s in self.services:
            if s.proc.poll() is not None:
                raise AssertionError(f"{s.name} exited with code {s.proc.returncode}; tail of {s.log}:\n{log_tail(s.log)}")

    def stop(self, timeout: float = 30.0) -> list[str]:
        """SIGTERM to every running process (last started first), then a wait for each; then
        SIGKILL to every group that still has a process. Returns one line per process: how it ended."""
        report = []
        services = list(reversed(self.services))
        exited_before = {s.name: s.proc.poll() for s in services}
        for s in services:
            if exited_before[s.name] is None:
                with contextlib.suppress(ProcessLookupError):
                    s.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for s in services:
            if exited_before[s.name] is not None:
                report.append(f"{s.name}: had already exited with code {exited_before[s.name]}")
            else:
                try:
                    code = s.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                    report.append(f"{s.name}: exited on SIGTERM with code {code}")
                except subprocess.TimeoutExpired:
                    report.append(f"{s.name}: still running {timeout:.0f} s after SIGTERM, killed")
            # The leader is gone; children it left behind (run workers, step processes) may not be.
            grace = time.monotonic() + 5
            while _group_alive(s.proc.pid) and time.monotonic() < grace:
                time.sleep(0.2)
            if _group_alive(s.proc.pid):
                report.append(f"{s.name}: processes left in its group, killed: {'; '.join(_group_members(s.proc.pid))}")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(s.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                s.proc.wait(timeout=10)
        self.services.clear()
        self.stop_report.extend(report)
        return report

    def log_tails(self, lines: int = 60) -> str:
        logs = sorted(self.workdir.glob("*.log"))
        return "\n".join(f"--- tail of {log.name} ---\n{log_tail(log, lines)}" for log in logs)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process we may not signal is still a process
        return True
    return True


def _group_members(pgid: int) -> list[str]:
    """'pid command line' of each process in the group (Linux /proc; empty elsewhere)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                members.append(f"{stat.parent.name} {cmdline.strip()[:200]}")
        except (OSError, IndexError, ValueError):
            continue
    return members


def wait_for(what: str, check: Callable[[], object], timeout: float, deployment: Deployment | None = None,
             every: float = 0.5):
    """Poll ``check`` until it returns something truthy (returned); fail when a process of
    ``deployment`` exits or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if deployment is not None:
            deployment.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class GraphQLError(AssertionError):
    pass


class GraphQL:
    """POST queries to a Dagster webserver's /graphql endpoint (stdlib only)."""

    def __init__(self, base_url: str):
        self.url = base_url.rstrip("/") + "/graphql"

    def __call__(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise GraphQLError(f"GraphQL errors: {json.dumps(answer['errors'])[:2000]}")
        return answer["data"]

    def reachable(self) -> bool:
        try:
            self("{ version }")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return True


def postgres_admin_url(url: str) -> str:
    """The URL with an explicit psycopg2 driver (SQLAlchemy 2.1 maps bare postgresql:// to psycopg 3)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_databases(admin_url: str, *labels: str, prefix: str = "finops_e2e_") -> Iterator[dict[str, str]]:
    """tests.helpers.scratch_databases with the psycopg2 driver made explicit."""
    from tests.helpers import scratch_databases as create

    with create(postgres_admin_url(admin_url), *labels, prefix=prefix) as urls:
        yield urls
