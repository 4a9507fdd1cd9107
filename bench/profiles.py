"""Where the servers spend their CPU under load: py-spy, summarised for the report."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import TEMPLATE, run, tail

from .load import request_for
from .targets import BARE_APPS, BASELINES, WRK_SCRIPT, Target, Workload

PROCESS_FRAME = re.compile(r'^(?:process \d+:"(?:[^"\\]|\\.)*";?)+')
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")


BARE_MODULES = {"common", "orm", *(module for _, module in BARE_APPS.values())}


def package_of(path: str) -> str:
    """The top-level package of a py-spy frame's file (py-spy shortens paths to sys.path)."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif match := re.search(r"/lib/python3\.\d+/(.+)$", path):
        path = match[1]
    top = path.strip("/").split("/", 1)[0].removesuffix(".py")
    if top in BARE_MODULES or path.startswith(str(BASELINES)):
        return "bare app"
    return f"{top} (stdlib)" if top in sys.stdlib_module_names else top


def short_frame(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['function']} ({package_of(match['path'])})"


def profile(target: Target, workload: Workload, seconds: int, args: argparse.Namespace,
            raw: Path, service_package: str | None) -> list[str]:  # fmt: skip
    """py-spy (GIL holders only: where the Python CPU goes) while wrk loads the target."""
    assert target.database
    assert target.database.seed
    assert target.process
    path, _ = request_for(workload, target.database.seed)
    env = {**os.environ, "BENCH_METHOD": workload.method, "BENCH_BODY": workload.body or ""}
    env["BENCH_TOKEN"] = target.database.seed.tokens[workload.token] if workload.token else ""
    loader = subprocess.Popen(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds + 3}s", "-s",
         str(WRK_SCRIPT), target.url + path],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1)
        recorded = run(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
             str(target.process.pid), "--subprocesses", "--gil", "--nonblocking", "--rate",
             "100", "--duration", str(seconds), "--format", "raw", "--output", str(raw)],
            cwd=TEMPLATE, env=dict(os.environ), timeout=seconds + 60,
        )  # fmt: skip
    finally:
        loader.wait(timeout=seconds + 30)
    if recorded.returncode != 0 or not raw.is_file():
        return [f"py-spy failed: {tail(recorded.stderr)}"]
    return summarise(raw.read_text(), service_package)


def owned_frames(frames: list[str], service_package: str | None) -> set[str]:
    """Frames in the service's (or bare app's) code and what they call directly."""
    owners = {service_package, "bare app"}

    def owner(frame: str) -> str:
        match = FRAME.match(frame)
        return package_of(match["path"]) if match else ""

    mine = set()
    for caller, callee in zip([None, *frames], frames, strict=False):
        if caller is not None and owner(caller) in owners:
            mine.add(short_frame(caller))
            mine.add(short_frame(callee))
        elif owner(callee) in owners:
            mine.add(short_frame(callee))
    return mine


def summarise(raw: str, service_package: str | None) -> list[str]:
    """Three sentences from py-spy's raw stacks: by package, in the service's code, hottest."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        # With --subprocesses the root frame is `process N:"<command line>"`, which may hold ";".
        frames = [frame for frame in PROCESS_FRAME.sub("", stack).split(";") if frame]
        if not frames:
            continue
        total += count
        for name in owned_frames(frames, service_package):
            inclusive[name] = inclusive.get(name, 0) + count
        leaf = short_frame(frames[-1])
        own[leaf] = own.get(leaf, 0) + count
        match = FRAME.match(frames[-1])
        package = package_of(match["path"]) if match else "native"
        packages[package] = packages.get(package, 0) + count
    if not total:
        return ["py-spy recorded no samples"]

    def top(counts: dict[str, int], n: int) -> str:
        ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)[:n]
        return ", ".join(f"{name} {100 * value / total:.0f}%" for name, value in ranked)

    return [
        f"{total} samples. Self time by package: {top(packages, 8)}.",
        f"Service code and what it calls (inclusive): {top(inclusive, 12)}.",
        f"Hottest functions (self): {top(own, 8)}.",
    ]
