"""Shared benchmark plumbing: an emulator in its own process, and each case in a fresh process
so its peak RSS is its own."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def emulator(seed: dict[str, int]) -> Iterator[dict[str, str]]:
    """Serves a seeded org over HTTPS; yields ``url``, ``token`` and ``ca``."""
    args = [sys.executable, "-m", "sfarrow.testing", "serve"]
    for obj, n in seed.items():
        args += ["--seed", f"{obj}={n}"]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    info: dict[str, str] = {}
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("serving"):
            break
        key, _, value = line.strip().partition(" ")
        info[key] = value.strip()
    try:
        https = info["https_url"]
        yield {
            "url": https.split()[0],
            "token": info["access_token"],
            "ca": https.split("CA: ")[1].rstrip(")"),
            "pid": str(server.pid),
        }
    finally:
        server.terminate()
        server.wait()


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The script's options, with the hidden ones a parent process passes to a case."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for hidden in ("--case", "--url", "--token", "--ca"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    return p


def cpu_seconds(pid: str) -> float:
    """User plus system CPU a process has used so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_in_process(script: str, case: str, org: dict[str, str], extra: list[str]) -> dict[str, Any]:
    """Runs ``script --case CASE`` in a new interpreter; returns its JSON report, with the CPU
    the emulator spent serving it (``server_cpu``)."""
    server_before = cpu_seconds(org["pid"])
    out = subprocess.run(
        [sys.executable, script, "--case", case, "--url", org["url"], "--token", org["token"], "--ca", org["ca"], *extra],
        capture_output=True,
        text=True,
        # numpy's OpenBLAS threads spin on the 2 cores otherwise; the same for every case.
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{out.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    report["server_cpu"] = cpu_seconds(org["pid"]) - server_before
    return report


def measure(fn: Callable[[], int], extra: dict[str, Any] | None = None) -> None:
    """Times ``fn`` (which returns a row count) and prints the report a parent process reads,
    with whatever ``fn`` put in ``extra`` (figures of its own) added to it."""

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    t, cpu_before = time.perf_counter(), cpu()
    rows = fn()
    elapsed, client_cpu = time.perf_counter() - t, cpu() - cpu_before
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": elapsed, "rss_mb": rss, "client_cpu": client_cpu, **(extra or {})}))


def session(ca: str) -> Any:
    import requests

    s = requests.Session()
    s.verify = ca
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    return s


@contextmanager
def org_process(args: list[str]) -> Iterator[dict[str, Any]]:
    """Runs ``args`` (a script's org-serving case), echoing its lines until the JSON line that
    says what the cases need; yields that; ends the process when done (its stdin closes)."""
    server = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    try:
        for line in server.stdout:
            if line.startswith("{"):
                break
            print(line, end="", flush=True)
        else:
            raise SystemExit("the org process ended before it was ready")
        yield json.loads(line)
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.terminate()
            server.wait()
