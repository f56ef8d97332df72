"""Shows, in pytest's header, which ferrokernel the conformance suite launches,
and stops early with a clear message when the kernelspec is not installed."""

from __future__ import annotations

import json
import os

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

KERNEL_NAME = "ferrokernel"


def _spec() -> tuple[str, list[str]] | None:
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return None
    return spec.resource_dir, spec.argv


def pytest_report_header(config: pytest.Config) -> list[str]:
    found = _spec()
    if found is None:
        return [f"kernelspec {KERNEL_NAME}: NOT INSTALLED (run bash install/setup.sh)"]
    resource_dir, argv = found
    from test_ferrokernel import HAVE_RUST_SRC  # noqa: PLC0415 (after the rootdir is on sys.path)

    return [
        f"kernelspec {KERNEL_NAME}: {resource_dir}",
        f"kernel command: {json.dumps(argv)}",
        "rust-src: " + ("installed" if HAVE_RUST_SRC else "MISSING (std completions not tested)"),
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    found = _spec()
    if found is None:
        raise pytest.UsageError(
            f"no kernelspec named {KERNEL_NAME!r} is visible to jupyter_client; "
            "run `bash install/setup.sh` (it installs it into .venv)"
        )
    binary = found[1][0]
    if not os.access(binary, os.X_OK):
        raise pytest.UsageError(
            f"the {KERNEL_NAME} kernelspec points at {binary}, which is not an executable; "
            "run `bash install/setup.sh`"
        )
