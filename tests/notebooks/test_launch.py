"""Launching the kernel from somewhere other than the shell Rust was installed in
(issue 14): JupyterHub, VS Code and desktop launchers give a kernel a bare PATH and
no rustup variables.

- installed from a normal shell, the kernelspec pins the toolchain, and the engine
  pool started by `install` hands its warm engine to the first kernel;
- a kernel launched from jupyter_client with PATH=/usr/bin:/bin, no CARGO/RUSTUP
  variables and HOME elsewhere still runs its first cell;
- with the toolchain hidden at install time too, `install` fails naming `cargo` and
  rustup; a kernel started anyway answers kernel_info, and its first cell's error
  names `cargo`;
- `doctor` exits 0 on a good set-up, and non-zero naming a kernelspec whose binary
  is missing and a cache that cannot be written.

Everything is installed into temporary prefixes, found through explicit kernel
directories or JUPYTER_PATH; every test has its own private engine-pool directory
(FERROKERNEL_POOL_DIR), and the pool `install` starts is stopped at the end.
"""

import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from test_cli import binary

BARE_PATH = "/usr/bin:/bin"
FIRST_CELL = 240
PINNED_NAME = "fk-launch"
BARE_NAME = "fk-launch-bare"


def cache_root() -> str:
    """The engine's build cache as the normal environment finds it (kept for
    kernels whose HOME is elsewhere, so they do not rebuild the prelude)."""
    if "FERROKERNEL_CACHE_DIR" in os.environ:
        return os.environ["FERROKERNEL_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ferrokernel")


def private_dir() -> str:
    """A fresh 0700 directory (what the engine pool insists on)."""
    return tempfile.mkdtemp(prefix="fk-launch-pool-")


def ferrokernel(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [binary(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def bare_env(home: pathlib.Path, pool_dir: str) -> dict:
    """What a desktop launcher or a systemd unit gives: no ~/.cargo/bin, no rustup
    variables, a HOME under which rustup finds nothing."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": BARE_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "FERROKERNEL_CACHE_DIR": cache_root(),
        "FERROKERNEL_POOL_DIR": pool_dir,
        "FERROKERNEL_POOL_IDLE_SECS": "120",
    }


def normal_env(pool_dir: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JUPYTER_") and k not in ("VIRTUAL_ENV", "CONDA_PREFIX")
    }
    env.update(FERROKERNEL_POOL_DIR=pool_dir, FERROKERNEL_POOL_IDLE_SECS="120")
    env.pop("FERROKERNEL_POOL", None)
    return env


def start_kernel(prefix: pathlib.Path, name: str, env: dict):
    kernels = prefix / "share" / "jupyter" / "kernels"
    manager = KernelManager(
        kernel_name=name, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return manager, client


def stop_kernel(manager, client) -> None:
    client.stop_channels()
    manager.shutdown_kernel(now=False)


def execute(client, code: str) -> tuple:
    """Runs `code`; its execute_reply content and its iopub messages."""
    outputs = []
    reply = client.execute_interactive(
        code, timeout=FIRST_CELL, output_hook=outputs.append, allow_stdin=False
    )
    return reply["content"], outputs


def result_text(outputs: list) -> str:
    for message in outputs:
        if message["msg_type"] == "execute_result":
            return message["content"]["data"]["text/plain"]
    return ""


def pool_status(env: dict):
    status = ferrokernel(env, "pool", "status", "--json", timeout=30)
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`ferrokernel install` from the normal shell into a temporary prefix, with
    the engine pool it starts in a private directory (stopped afterwards)."""
    prefix = tmp_path_factory.mktemp("pinned")
    pool_dir = private_dir()
    env = normal_env(pool_dir)
    install = ferrokernel(env, "install", "--prefix", str(prefix), "--name", PINNED_NAME)
    try:
        assert install.returncode == 0, install.stdout + install.stderr
        yield prefix, env, install.stdout
    finally:
        ferrokernel(env, "pool", "stop", timeout=30)
        shutil.rmtree(pool_dir, ignore_errors=True)


def test_install_pins_the_toolchain_it_used_and_says_so(installed):
    prefix, _, printed = installed
    spec = json.loads((prefix / "share/jupyter/kernels" / PINNED_NAME / "kernel.json").read_text())
    cargo_dir = os.path.dirname(shutil.which("cargo"))
    pinned = spec["env"]["FERROKERNEL_TOOLCHAIN_PATH"].split(":")
    assert cargo_dir in pinned, spec["env"]
    assert "--no-pool" not in spec["argv"]
    assert "Pinned in the kernelspec" in printed and cargo_dir in printed, printed
    assert "Started the engine pool" in printed, printed


def test_the_first_kernel_after_install_gets_the_pools_warm_engine(installed):
    prefix, env, _ = installed
    deadline = time.monotonic() + 180
    while True:
        status = pool_status(env)
        assert status is not None, "install started no engine pool"
        spare = status["spare"]
        if spare and spare["ready"]:
            break
        assert time.monotonic() < deadline, f"the spare never became ready: {status}"
        time.sleep(1)
    manager, client = start_kernel(prefix, PINNED_NAME, env)
    try:
        reply, outputs = execute(client, "multiprocessing::cpu_count() > 0")
        assert reply["status"] == "ok", reply
        assert result_text(outputs) == "true"
        # A spare made for another environment would have been dropped for a new host.
        assert alive(spare["pid"]), "the kernel did not get the spare install warmed"
        assert pool_status(env)["engines_in_use"] == 1
    finally:
        stop_kernel(manager, client)
        ferrokernel(env, "pool", "stop", timeout=30)


def test_a_kernel_launched_with_a_bare_environment_runs_its_first_cell(installed, tmp_path):
    prefix, _, _ = installed
    pool_dir = private_dir()
    # Its own engine: the test is about the toolchain, not the pool.
    env = bare_env(tmp_path / "elsewhere", pool_dir) | {"FERROKERNEL_POOL": "0"}
    manager, client = start_kernel(prefix, PINNED_NAME, env)
    try:
        reply, outputs = execute(client, 'let v = vec![1, 2, 3];\nprintln!("sum {}", v.iter().sum::<i32>());')
        assert reply["status"] == "ok", (reply, outputs)
        printed = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
        assert "sum 6" in printed, outputs
    finally:
        stop_kernel(manager, client)
        shutil.rmtree(pool_dir, ignore_errors=True)


def test_without_a_toolchain_install_fails_and_the_first_cell_names_cargo(tmp_path):
    pool_dir = private_dir()
    env = bare_env(tmp_path / "home", pool_dir)
    prefix = tmp_path / "bare"
    failed = ferrokernel(env, "install", "--prefix", str(prefix), "--name", BARE_NAME)
    assert failed.returncode != 0
    assert "`cargo`" in failed.stderr and "rustup" in failed.stderr, failed.stderr
    assert not (prefix / "share/jupyter/kernels" / BARE_NAME).exists(), "a kernelspec was written"

    anyway = ferrokernel(
        env, "install", "--prefix", str(prefix), "--name", BARE_NAME,
        "--no-pin-toolchain", "--no-warm", "--no-pool",
    )
    assert anyway.returncode == 0, anyway.stdout + anyway.stderr
    assert "`cargo`" in anyway.stdout, "install says that this shell has no toolchain"

    manager, client = start_kernel(prefix, BARE_NAME, env)
    try:
        info = client.kernel_info(reply=True, timeout=30)
        assert info["content"]["implementation"] == "ferrokernel"
        reply, outputs = execute(client, "1 + 1")
        assert reply["status"] == "error"
        assert reply["ename"] == "EngineUnavailable"
        assert "`cargo`" in reply["evalue"] and BARE_PATH in reply["evalue"], reply["evalue"]
        errors = [m for m in outputs if m["msg_type"] == "error"]
        assert errors and "`cargo`" in errors[0]["content"]["evalue"]
        completed = client.complete("let x = 1", 9, reply=True, timeout=30)
        assert completed["content"]["status"] == "ok"
    finally:
        stop_kernel(manager, client)
        shutil.rmtree(pool_dir, ignore_errors=True)


def doctor_env(tmp_path: pathlib.Path, jupyter_path: list) -> dict:
    """The normal environment, with Jupyter's search confined to `jupyter_path`
    and empty user and environment directories."""
    env = normal_env(private_dir())
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "venv").mkdir(exist_ok=True)
    env.update(
        JUPYTER_PATH=":".join(str(p) for p in jupyter_path),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        VIRTUAL_ENV=str(tmp_path / "venv"),
    )
    return env


def test_doctor_passes_on_a_good_set_up(installed, tmp_path):
    prefix, _, _ = installed
    env = doctor_env(tmp_path, [prefix / "share/jupyter"])
    try:
        doctor = ferrokernel(env, "doctor", timeout=120)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        lines = doctor.stdout.splitlines()
        for name in ("toolchain", "cache", "kernelspec", "linker", "engine pool"):
            assert any(line.startswith(f"✓ {name}") for line in lines), doctor.stdout
        assert any(PINNED_NAME in line and "toolchain pinned" in line for line in lines)
        report = json.loads(ferrokernel(env, "doctor", "--json", timeout=120).stdout)
        assert report["ok"] is True
        assert {c["name"] for c in report["checks"]} >= {"toolchain", "rust-src", "prelude"}
    finally:
        shutil.rmtree(env["FERROKERNEL_POOL_DIR"], ignore_errors=True)


def test_doctor_names_a_kernelspec_with_a_missing_binary_and_an_unwritable_cache(
    installed, tmp_path
):
    prefix, _, _ = installed
    stale = tmp_path / "stale" / "share" / "jupyter"
    spec_dir = stale / "kernels" / "fk-stale"
    spec_dir.mkdir(parents=True)
    spec = json.loads((prefix / "share/jupyter/kernels" / PINNED_NAME / "kernel.json").read_text())
    gone = str(tmp_path / "removed" / "ferrokernel")
    spec["argv"][0] = gone
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    # A regular file where a directory should be: unwritable even for root.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    env = doctor_env(tmp_path, [prefix / "share/jupyter", stale])
    env["FERROKERNEL_CACHE_DIR"] = str(blocker / "cache")
    try:
        doctor = ferrokernel(env, "doctor", timeout=120)
        assert doctor.returncode != 0, doctor.stdout
        lines = doctor.stdout.splitlines()
        broken = [line for line in lines if line.startswith("✗")]
        assert any("kernelspec" in l and "fk-stale" in l and gone in l for l in broken), doctor.stdout
        assert any(l.startswith("✗ cache") and str(blocker) in l for l in broken), doctor.stdout
        fixes = [l.strip() for l in lines if l.strip().startswith("fix:")]
        assert len(fixes) >= len(broken), doctor.stdout
        assert "broken: cache, kernelspec" in doctor.stderr, doctor.stderr
        report = json.loads(ferrokernel(env, "doctor", "--json", timeout=120).stdout)
        assert report["ok"] is False
        assert {c["name"] for c in report["checks"] if c["status"] == "broken"} == {
            "cache",
            "kernelspec",
        }
    finally:
        shutil.rmtree(env["FERROKERNEL_POOL_DIR"], ignore_errors=True)
