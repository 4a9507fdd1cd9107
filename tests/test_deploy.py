"""The deployment artefacts of every framework's bake: linted, validated, and run as written.

No Docker engine or cluster is needed: the Dockerfile is linted (hadolint), the manifests are
validated against the Kubernetes schemas (kubernetes-validate), the workflows are linted
(actionlint), and the commands the image and the migration Job run are run from a folder laid
out like the image's working directory, against a fresh PostgreSQL database.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .harness import (
    GIT_ENV,
    TEMPLATE,
    Project,
    clean_env,
    dockerfile_instructions,
    exec_form,
    git,
    image_cmd,
    image_env,
    image_server,
    image_workdir,
    job_command,
    k8s_docs,
    load_all_yaml,
    migration_job,
    pod_spec,
    run,
    runtime_copies,
    stages,
    tool,
)

K8S_VERSIONS = ["1.31.0", "1.37.0"]  # oldest still common in managed clusters, newest schema
REQUIRED_MAKE_TARGETS = {
    "help", "dev", "test", "lint", "format", "typecheck",
    "docker-build", "compose-up", "compose-down", "migrate", "compose-migrate", "deploy",
}  # fmt: skip


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- Dockerfile ---------------------------------------------------------------------------


def test_hadolint_passes(baked: Project) -> None:
    result = run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=baked.path, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_follows_the_uv_guide(baked: Project) -> None:
    dockerfile = baked.path / "Dockerfile"
    text = dockerfile.read_text()
    instructions = dockerfile_instructions(dockerfile)
    before_first_from = instructions[: [kw for kw, _ in instructions].index("FROM")]
    assert any(
        kw == "ARG" and rest.startswith("PYTHON_IMAGE=") for kw, rest in before_first_from
    ), "ARG PYTHON_IMAGE must come before the first FROM"
    froms = [rest for kw, rest in instructions if kw == "FROM"]
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+( AS \w+)?", froms[0], re.I), froms
    python_stages = [f for f in froms if f.startswith("${PYTHON_IMAGE}")]
    assert len(python_stages) >= 2, "the builder and the runtime must use the same Python image"

    builder, runtime = stages(dockerfile)[-2], stages(dockerfile)[-1]
    runs = [rest for kw, rest in builder if kw == "RUN"]
    assert any(
        "--mount=type=cache" in r and "uv sync --locked --no-install-project --no-dev" in r
        for r in runs
    ), runs
    assert any("uv sync --locked" in r and "--no-install-project" not in r for r in runs)
    for setting in ("UV_COMPILE_BYTECODE=1", "UV_LINK_MODE=copy", "UV_PYTHON_DOWNLOADS=0"):
        assert setting in text

    users = [rest for kw, rest in runtime if kw == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    assert users[-1].split(":")[0] not in {"0", "root"}
    env = " ".join(rest for kw, rest in runtime if kw == "ENV")
    for setting in ("HOST=0.0.0.0", "PORT=8000", "PATH=/app/.venv/bin:$PATH"):
        assert setting in env
    healthchecks = [rest for kw, rest in runtime if kw == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "curl" not in healthchecks[0]
    assert "wget" not in healthchecks[0]
    health_cmd = exec_form(healthchecks[0].split(" CMD ", 1)[1])
    assert health_cmd[0] == "python"
    assert "/health" in health_cmd[-1]
    assert image_cmd(baked) == [baked.slug, "serve"]


def test_runtime_stage_copies_what_the_commands_read(baked: Project) -> None:
    copied = {src for sources, _ in runtime_copies(baked) for src in sources}
    assert {"alembic.ini", "migrations"} <= copied
    if (baked.path / "gunicorn.conf.py").exists():
        assert "gunicorn.conf.py" in copied
    missing = [src for src in copied if not (baked.path / src).exists()]
    assert missing == [], f"COPY sources missing from the project: {missing}"


def ignored_by(patterns: list[str], relative: str) -> bool:
    """A minimal .dockerignore matcher (last match wins, `!` re-includes)."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        pattern = pattern.removeprefix("**/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(
            parts[-1], pattern
        ):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_out_secrets_and_state(baked: Project) -> None:
    lines = (baked.path / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    kept_out = [".env", ".venv/bin/python", "var/app.db", "x.db", ".git/HEAD", ".pytest_cache/x",
                ".mypy_cache/x", ".ruff_cache/x", "src/p/__pycache__/a.pyc"]  # fmt: skip
    for path in kept_out:
        assert ignored_by(patterns, path), f"{path} would be sent to the Docker build"
    needed = ["pyproject.toml", "uv.lock", "README.md", "alembic.ini", "migrations/env.py",
              f"src/{baked.package}/__init__.py", ".env.example"]  # fmt: skip
    needed += [src for sources, _ in runtime_copies(baked) for src in sources]
    wrongly = [path for path in needed if ignored_by(patterns, path)]
    assert wrongly == [], f".dockerignore drops files the build needs: {wrongly}"


# --- Kubernetes ---------------------------------------------------------------------------


def kustomizations(project: Project) -> list[Path]:
    found = sorted((project.path / "k8s").rglob("kustomization.yaml"))
    assert found, "no kustomization.yaml under k8s/"
    return found


def manifest_files(project: Project) -> list[Path]:
    return sorted(
        path for path in (project.path / "k8s").rglob("*.yaml") if path.name != "kustomization.yaml"
    )


def test_every_kustomization_resource_exists(baked: Project) -> None:
    for kustomization in kustomizations(baked):
        spec = load_yaml(kustomization)
        assert spec["kind"] == "Kustomization"
        for resource in spec.get("resources", []):
            target = (kustomization.parent / resource).resolve()
            assert target.is_file() or (target / "kustomization.yaml").is_file(), (
                f"{kustomization}: resource {resource} does not exist"
            )
        for patch in spec.get("patches", []):
            if "path" in patch:
                assert (kustomization.parent / patch["path"]).is_file()
    base = load_yaml(baked.path / "k8s" / "base" / "kustomization.yaml")
    listed = set(base["resources"])
    on_disk = {p.name for p in manifest_files(baked) if p.parent.name == "base"}
    assert on_disk - listed == {"secret.example.yaml"}, "base manifests not in kustomization"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_the_kubernetes_schemas(baked: Project, version: str) -> None:
    files = [str(path.relative_to(baked.path)) for path in manifest_files(baked)]
    result = run(
        [tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, *files],
        cwd=baked.path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_overlay_validates(baked: Project, tmp_path: Path) -> None:
    """Render the production overlay with kustomize when a kustomize is installed."""
    if shutil.which("kustomize"):
        render = ["kustomize", "build"]
    elif shutil.which("kubectl"):
        render = ["kubectl", "kustomize"]
    else:
        pytest.skip("neither kustomize nor kubectl is installed: rendering not checked")
    result = run([*render, "k8s/overlays/production"], cwd=baked.path, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(result.stdout)
    check = run(
        [tool("kubernetes-validate"), "--strict", "--quiet", str(rendered)],
        cwd=baked.path,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in load_all_yaml(rendered)}
    deployment = docs[("Deployment", baked.slug)]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image != baked.slug, "the overlay did not set the image"
    assert ":" in image, f"the overlay did not set a tag: {image}"
    assert ("Secret", f"{baked.slug}-secret") not in docs, "the example Secret must not deploy"


def assert_hardened(doc: dict[str, Any]) -> None:
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    spec = pod_spec(doc)
    pod_security = spec.get("securityContext", {})
    assert pod_security.get("runAsNonRoot") is True, name
    assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for container in spec["containers"]:
        security = container.get("securityContext", {})
        assert security.get("allowPrivilegeEscalation") is False, name
        assert security.get("readOnlyRootFilesystem") is True, name
        assert security.get("capabilities", {}).get("drop") == ["ALL"], name
        resources = container.get("resources", {})
        assert {"cpu", "memory"} <= set(resources.get("requests", {})), name
        assert "memory" in resources.get("limits", {}), name
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"
        assert "emptyDir" in volumes[mounts["/tmp"]], name


def test_deployment_probes_and_hardening(baked: Project) -> None:
    [deployment] = k8s_docs(baked, "deployment.yaml")
    assert deployment["kind"] == "Deployment"
    [container] = pod_spec(deployment)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container.get("command", image_cmd(baked)) == image_cmd(baked)
    assert_hardened(deployment)
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    [hpa] = k8s_docs(baked, "hpa.yaml")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    [config] = k8s_docs(baked, "configmap.yaml")
    assert config["data"]["WEB_CONCURRENCY"] == "1", "one process per pod on Kubernetes"
    grace = int(config["data"]["GRACEFUL_TIMEOUT"])
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > grace
    [service] = k8s_docs(baked, "service.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items(), pod_labels


def test_migration_job(baked: Project) -> None:
    job = migration_job(baked)
    assert job_command(baked) == [baked.slug, "migrate"]
    assert pod_spec(job)["restartPolicy"] in {"Never", "OnFailure"}
    assert_hardened(job)


def test_example_secret_is_refused_in_production(baked: Project, tmp_path: Path) -> None:
    """The example Secret's key is a placeholder the service refuses to start with."""
    [secret] = k8s_docs(baked, "secret.example.yaml")
    assert secret["kind"] == "Secret"
    placeholder = secret["stringData"]["SECRET_KEY"]
    env = image_env(
        baked, ENVIRONMENT="production", SECRET_KEY=placeholder, DATABASE_URL="sqlite:///x.db"
    )
    result = run(image_cmd(baked), cwd=image_workdir(baked, tmp_path), env=env, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr, result.stderr


# --- Compose ------------------------------------------------------------------------------


def test_compose_orders_database_migrations_and_api(baked: Project) -> None:
    compose = load_yaml(baked.path / "compose.yaml")
    services: dict[str, dict[str, Any]] = compose["services"]
    [db_name] = [n for n, s in services.items() if str(s.get("image", "")).startswith("postgres")]
    db = services[db_name]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    named_volumes = set(compose.get("volumes") or {})
    assert any(v.split(":")[0] in named_volumes for v in db.get("volumes", [])), "no named volume"

    [migrate_name] = [n for n, s in services.items() if "migrate" in s.get("command", [])]
    migrate = services[migrate_name]
    assert migrate["command"] == job_command(baked) == [baked.slug, "migrate"]
    assert migrate["depends_on"][db_name]["condition"] == "service_healthy"

    [api_name] = [
        n
        for n, s in services.items()
        if s.get("depends_on", {}).get(migrate_name, {}).get("condition")
        == "service_completed_successfully"
    ]
    api = services[api_name]
    assert "8000:8000" in api["ports"]
    assert api.get("command", image_cmd(baked)) == image_cmd(baked)
    for service in (migrate, api):
        assert {"path": ".env", "required": False} in service["env_file"]
        env = service["environment"]
        assert f"@{db_name}:5432/" in env["DATABASE_URL"]
        assert env["ENVIRONMENT"] == "production"
        assert env["HOST"] == "0.0.0.0"  # inside the container
        assert "build" in service


# --- GitHub Actions, pre-commit, Make -----------------------------------------------------


def test_generated_workflow_passes_actionlint(baked: Project) -> None:
    workflows = sorted(str(p) for p in (baked.path / ".github" / "workflows").glob("*.y*ml"))
    assert workflows, "no workflow generated"
    result = run([tool("actionlint"), "-no-color", *workflows], cwd=baked.path, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_workflow_passes_actionlint() -> None:
    workflow = TEMPLATE / ".github" / "workflows" / "template.yml"
    assert "bash .ci/run" in workflow.read_text()
    result = run([tool("actionlint"), "-no-color", str(workflow)], cwd=TEMPLATE, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_workflow_covers_lint_types_tests_and_image(baked: Project) -> None:
    workflow = load_yaml(baked.path / ".github" / "workflows" / "ci.yml")
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = "\n".join(step.get("run", "") for step in steps)
    for command in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert command in runs, command
    uses = [step["uses"] for step in steps if "uses" in step]
    for action in (u for u in uses if u.startswith("astral-sh/setup-uv@")):
        # setup-uv publishes no moving major tags since v8: a full version or a commit.
        assert re.fullmatch(r"v\d+\.\d+\.\d+|[0-9a-f]{40}", action.split("@")[1]), action
    assert any(u.startswith("astral-sh/setup-uv@") for u in uses)
    assert any(u.startswith("docker/build-push-action@") for u in uses) or re.search(
        r"docker build|make docker-build", runs
    )
    postgres_jobs = [
        job
        for job in workflow["jobs"].values()
        if any("postgres" in str(s.get("image")) for s in job.get("services", {}).values())
        and "pytest" in json.dumps(job["steps"])
    ]
    assert postgres_jobs
    assert all("TEST_DATABASE_URL" in j.get("env", {}) for j in postgres_jobs)


def locked_version(project: Project, package: str) -> str:
    lock = (project.path / "uv.lock").read_text()
    match = re.search(rf'^name = "{package}"\nversion = "([^"]+)"', lock, re.M)
    assert match, f"{package} not in uv.lock"
    return match[1]


def test_pre_commit_ruff_matches_the_locked_ruff(baked: Project) -> None:
    config = load_yaml(baked.path / ".pre-commit-config.yaml")
    [repo] = [r for r in config["repos"] if r["repo"].endswith("astral-sh/ruff-pre-commit")]
    assert repo["rev"] == f"v{locked_version(baked, 'ruff')}"
    assert {hook["id"] for hook in repo["hooks"]} == {"ruff-check", "ruff-format"}


def test_makefile_targets_have_help(baked: Project) -> None:
    text = (baked.path / "Makefile").read_text()
    documented = dict(re.findall(r"^([a-z][a-z-]*):[^\n=]*## (.+)$", text, re.M))
    assert set(documented) >= REQUIRED_MAKE_TARGETS, REQUIRED_MAKE_TARGETS - set(documented)
    assert re.search(r"^\.DEFAULT_GOAL := help$", text, re.M)
    assert "kubectl apply -k k8s/overlays/production" in text.replace("$(KUBECTL_NS)", "kubectl")
    if shutil.which("make") is None:
        pytest.skip("make is not installed: targets not dry-run")
    listed = run(["make"], cwd=baked.path, timeout=30)
    assert listed.returncode == 0, listed.stderr
    for target in documented:
        assert re.search(rf"^\s*{target}\s", listed.stdout, re.M), f"`make` does not list {target}"
        dry = run(["make", "--dry-run", target], cwd=baked.path, timeout=30)
        assert dry.returncode == 0, f"make -n {target}: {dry.stderr}"


# --- The image's commands, run for real ---------------------------------------------------


@pytest.mark.postgres
def test_image_and_job_commands_serve_on_postgres(
    baked: Project, postgres_database: str, tmp_path: Path
) -> None:
    """Run the Job's command, then the image's CMD, exactly as written, like a container would."""
    server = image_server(baked, tmp_path, DATABASE_URL=postgres_database)
    with server.running("/health/ready", timeout=120):
        ready = httpx.get(f"{server.url}/health/ready", timeout=5)
        assert ready.json() == {"status": "ok", "database": "ok"}
        assert httpx.get(f"{server.url}/health", timeout=5).json() == {"status": "ok"}


# --- cruft --------------------------------------------------------------------------------


def template_repo(destination: Path) -> Path:
    """A git repository holding the template as it is on disk (cruft clones from git)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = TEMPLATE / name
            if source.is_file():
                (destination / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination / name)
    else:  # not a git checkout
        shutil.copytree(
            TEMPLATE, destination, dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".git", ".venv", "*_cache", "__pycache__"),
        )  # fmt: skip
    git("init", "--quiet", "--initial-branch=main", cwd=destination)
    git("add", "--all", cwd=destination)
    git("commit", "--quiet", "--message=template", cwd=destination)
    return destination


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("cruft"), *args], cwd=cwd, env=clean_env(**GIT_ENV), timeout=300)


def test_cruft_create_check_and_update(framework: str, tmp_path: Path) -> None:
    """`cruft create --no-input` bakes the project; an update arrives and leaves .env alone."""
    template = template_repo(tmp_path / "template")
    out = tmp_path / "out"
    created = cruft(
        "create", str(template), "--no-input", "--output-dir", str(out),
        "--extra-context", json.dumps({"framework": framework}), cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    [project] = [p for p in out.iterdir() if p.is_dir()]
    state = json.loads((project / ".cruft.json").read_text())
    assert state["context"]["cookiecutter"]["framework"] == framework
    # No --skip needed: the project's pyproject.toml keeps .env out of updates.
    assert 'skip = [".env"]' in (project / "pyproject.toml").read_text()
    for artefact in ("Dockerfile", "compose.yaml", "Makefile", "DEPLOY.md", "k8s/base"):
        assert (project / artefact).exists(), artefact
    assert not (project / "variants").exists()

    checked = cruft("check", cwd=project)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The template moves on; the project, committed, takes the update.
    git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message=generated", cwd=project)
    env_before = (project / ".env").read_text()
    makefile = template / "{{cookiecutter.project_slug}}" / "Makefile"
    makefile.write_text(makefile.read_text() + "\n# A template update.\n")
    git("commit", "--quiet", "--all", "--message=update", cwd=template)

    assert cruft("check", cwd=project).returncode == 1
    updated = cruft("update", "--skip-apply-ask", cwd=project)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert (project / "Makefile").read_text().endswith("# A template update.\n")
    assert (project / ".env").read_text() == env_before
    assert list(project.glob("*.rej")) == [], updated.stdout + updated.stderr
    assert cruft("check", cwd=project).returncode == 0
