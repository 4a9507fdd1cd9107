"""A private Docker daemon for the template's tests, and local stand-ins for the images the
generated Dockerfile builds from (CI reaches no container registry, only PyPI and Debian).

The daemon (Debian's docker.io: dockerd, containerd, and the /usr/bin/docker CLI whose
built-in BuildKit needs no buildx plugin) runs on a socket, data root and exec root of its
own, with its own containerd: a daemon someone else started is never touched. Its data
root is a tmpfs, so stopping it frees the images at once instead of deleting them file by file.

The stand-ins, built from what CI can reach:
- the Python image: `debootstrap --variant=minbase` of the Debian suite the Dockerfile's
  default image is built on, with the host's CA bundle (a TLS-inspecting proxy's CA
  included) as SSL_CERT_FILE, so `uv sync` in the build reaches PyPI as the host does;
- the uv image: /uv and /uvx from the pinned uv wheel on PyPI, imported under the exact tag
  the Dockerfile copies from.
The root filesystem is cached per machine (XDG cache, keyed by suite and Python version).

`python tests/docker_daemon.py cleanup DIR` stops what a killed test session left running
under DIR and unmounts what it left mounted; .ci/run calls it on exit. Stdlib only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DOCKERD = os.environ.get("DOCKERD", "dockerd")
CONTAINERD = os.environ.get("CONTAINERD", "containerd")
# Debian's CLI first: a newer `docker` earlier on PATH may lack the buildx plugin BuildKit needs.
DOCKER_CLI = os.environ.get("DOCKER") or (
    "/usr/bin/docker" if Path("/usr/bin/docker").is_file() else "docker"
)
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cookiecutter-pyapi"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
STOP_TIMEOUT = 30  # seconds a daemon gets to stop before SIGKILL
DATA_ROOT_SIZE = "6g"  # an upper bound; a tmpfs holds only what is written (~1.5 GB here)
# Where daemons get their private folders; .ci/run points it at a folder it cleans up on exit.
PARENT = os.environ.get("PYAPI_DOCKER_TMP") or None


class DockerUnavailable(Exception):
    """Docker can't run here; the message says why."""


@dataclass
class Daemon:
    """dockerd and its containerd, started by this process under `root`."""

    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) set to talk to this daemon only."""
        env = {k: v for k, v in (base or os.environ).items() if not k.startswith("DOCKER_")}
        return env | {"DOCKER_HOST": self.host}

    def docker(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [DOCKER_CLI, *args],
            env=self.env() | {"DOCKER_BUILDKIT": "1"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stderr}")
        return result

    def stop(self) -> None:
        """Stop dockerd, then containerd; unmount what they leave; remove the root."""
        for process in reversed(self.processes):  # dockerd was started last
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        cleanup(self.root)


def unavailable_reason() -> str | None:
    """None when a private daemon can be started here, else why not."""
    if sys.platform != "linux":
        return "a private Docker daemon needs Linux"
    missing = [
        name
        for name in (DOCKERD, CONTAINERD, DOCKER_CLI, "debootstrap", "make")
        if shutil.which(name) is None
    ]
    if missing:
        return f"not installed: {', '.join(missing)} (apt-get install docker.io debootstrap make)"
    if os.geteuid() != 0:
        return "a private Docker daemon and debootstrap need root"
    return None


def start(parent: str | None = PARENT) -> Daemon:
    """Start containerd and dockerd on a private socket, data root and exec root."""
    reason = unavailable_reason()
    if reason:
        raise DockerUnavailable(reason)
    # Short path: unix socket paths are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="pyapi-docker-", dir=parent))
    daemon = Daemon(root)
    try:
        # Images and layers in memory: removing a disk data root of ~1 GB of small files
        # took 20 s on a busy machine; unmounting a tmpfs frees it at once.
        (root / "data").mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DATA_ROOT_SIZE},mode=0710", "tmpfs",
             str(root / "data")],
            check=True, timeout=30,
        )  # fmt: skip
        containerd_socket = _start_containerd(daemon)
        # Not the machine's /etc/docker/daemon.json; the identity key stays in `root` too.
        config = root / "daemon.json"
        config.write_text(json.dumps({"deprecated-key-path": str(root / "key.json")}))
        log = (root / "dockerd.log").open("wb")
        daemon.processes.append(
            subprocess.Popen(
                [
                    DOCKERD,
                    f"--config-file={config}",
                    f"--containerd={containerd_socket}",
                    f"--host={daemon.host}",
                    f"--data-root={root / 'data'}",
                    f"--exec-root={root / 'exec'}",
                    f"--pidfile={root / 'dockerd.pid'}",
                    "--storage-driver=overlay2",
                    # No bridge and no firewall rules: containers use --network host, and
                    # the host's iptables stay as they are.
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        _wait_for(
            lambda: daemon.docker("version", timeout=10, check=False).returncode == 0,
            daemon,
            "dockerd",
            root / "dockerd.log",
        )
    except BaseException:
        daemon.stop()
        raise
    return daemon


def _start_containerd(daemon: Daemon) -> Path:
    # dockerd would otherwise use a system containerd whenever /run/containerd has a socket.
    state = daemon.root / "containerd"
    state.mkdir()
    socket = state / "containerd.sock"
    config = state / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{state / "root"}"\n'
        f'state = "{state / "state"}"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{socket}"\n'
        '[ttrpc]\n  address = ""\n'
        '[debug]\n  address = ""\n'
        f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{state / "opt"}"\n'
    )
    log = (daemon.root / "containerd.log").open("wb")
    daemon.processes.append(
        subprocess.Popen(
            [CONTAINERD, f"--config={config}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )
    _wait_for(socket.exists, daemon, "containerd", daemon.root / "containerd.log")
    return socket


def _wait_for(
    ready: Callable[[], bool], daemon: Daemon, name: str, log: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        exited = [p for p in daemon.processes if p.poll() is not None]
        if exited or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise DockerUnavailable(f"{name} did not start:\n{tail}")
        time.sleep(0.2)


def cleanup(root: Path) -> None:
    """Stop every process still running from `root` (a daemon of ours a killed session
    left behind), unmount everything under it (dockerd leaves exec/netns/default), remove it.
    Only processes whose command line names `root` are touched."""
    marker = str(root)
    ours = [pid for pid in _pids() if marker in _cmdline(pid)]
    ours.sort(key=lambda pid: "dockerd" not in _cmdline(pid))  # dockerd before containerd
    for pid in ours:
        _terminate(pid)
    for mount_point in sorted(_mounts_under(root), key=len, reverse=True):
        if subprocess.run(["umount", mount_point], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", mount_point], check=False)
    leftover = _mounts_under(root)
    if leftover:
        raise RuntimeError(f"still mounted after cleanup: {leftover}")
    shutil.rmtree(root, ignore_errors=True)


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # The fifth field; spaces and the like are octal-escaped (\040).
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4])
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


# --- The stand-in images ------------------------------------------------------------------


def default_python_image(dockerfile: Path) -> tuple[str, str]:
    """(Python version, Debian suite) of the Dockerfile's default `python:X.Y-slim-<suite>`."""
    text = dockerfile.read_text()
    match = re.search(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)-slim-(\w+)$", text, re.M)
    if not match:
        raise AssertionError("the Dockerfile's default PYTHON_IMAGE is not python:X.Y-slim-<suite>")
    return match[1], match[2]


def uv_image(dockerfile: Path) -> tuple[str, str]:
    """(image reference, uv version) of the Dockerfile's `FROM ghcr.io/astral-sh/uv:X.Y.Z`."""
    text = dockerfile.read_text()
    match = re.search(r"^FROM (ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+))\b", text, re.M)
    if not match:
        raise AssertionError("the Dockerfile does not copy uv from ghcr.io/astral-sh/uv:X.Y.Z")
    return match[1], match[2]


def debian_mirror() -> str:
    """DEBIAN_MIRROR, else the Debian mirror apt already uses, else deb.debian.org."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for source in sources:
        text = source.read_text(errors="replace") if source.is_file() else ""
        for uri in re.findall(r"(?:^URIs:|^deb)\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return str(uri)
    return DEFAULT_MIRROR


def base_rootfs(suite: str, python: str) -> Path:
    """A tar of a minimal Debian `suite` with python3 (which must be `python`), cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"debian-{suite}-python{python}-{os.uname().machine}.tar"
    if cached.is_file():
        return cached
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    rootfs = work / "rootfs"
    try:
        bootstrap = subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
             suite, str(rootfs), debian_mirror()],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if bootstrap.returncode != 0:
            raise AssertionError(f"debootstrap {suite} failed:\n{bootstrap.stdout[-3000:]}")
        version = subprocess.run(
            ["chroot", str(rootfs), "python3", "-c",
             "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
        if version != python:
            raise AssertionError(
                f"Debian {suite} ships Python {version}; the Dockerfile's default has {python}"
            )
        # What python:*-slim leaves out too: package lists, docs, man pages, translations.
        for directory in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc",
                          "usr/share/man", "usr/share/info", "usr/share/locale"):  # fmt: skip
            for entry in (rootfs / directory).glob("*"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        partial = work / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*",
             "--exclude=./sys/*", "-C", str(rootfs), "-cf", str(partial), "."],
            check=True, timeout=300,
        )  # fmt: skip
        partial.rename(cached)
    finally:
        cleanup(work)  # debootstrap leaves proc/sys mounted when it fails midway
    return cached


def python_image(daemon: Daemon, dockerfile: Path, workdir: Path) -> str:
    """Import the stand-in for the Dockerfile's default Python image; return its tag."""
    python, suite = default_python_image(dockerfile)
    tag = f"local/python:{python}-{suite}"
    if daemon.docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    rootfs = f"local/debian-rootfs:{suite}"
    daemon.docker(
        "import",
        "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", "ENV LANG=C.UTF-8",
        str(base_rootfs(suite, python)), rootfs,
        timeout=300,
    )  # fmt: skip
    context = workdir / "python-image"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy(HOST_CA_BUNDLE, context / "ca-certificates.crt")
    (context / "Dockerfile").write_text(
        f"FROM {rootfs}\n"
        "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
        "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"
    )
    daemon.docker("build", "--quiet", "--tag", tag, str(context), timeout=300)
    return tag


def uv_stage_image(daemon: Daemon, dockerfile: Path, workdir: Path) -> str:
    """Import /uv and /uvx of the pinned uv wheel under the tag the Dockerfile copies from."""
    reference, version = uv_image(dockerfile)
    if daemon.docker("image", "inspect", reference, check=False).returncode == 0:
        return reference
    target = workdir / f"uv-{version}"
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
         "--target", str(target), f"uv=={version}"],
        check=True, timeout=300,
    )  # fmt: skip
    tar = subprocess.run(
        ["tar", "--numeric-owner", "-C", str(target / "bin"), "-c", "uv", "uvx"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    result = subprocess.run(
        [DOCKER_CLI, "import", "-", reference],
        input=tar.stdout, env=daemon.env(), capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return reference


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "cleanup":
        raise SystemExit("usage: python tests/docker_daemon.py cleanup DIR")
    for leftover in Path(sys.argv[2]).glob("pyapi-docker-*"):
        cleanup(leftover)
