"""Jupyter's own conformance suite (jupyter_kernel_test) against ferrokernel.

Drives the kernel through the kernelspec `ferrokernel` installed into the
project's venv (by `bash install/setup.sh`, which runs `ferrokernel install
--sys-prefix`), exactly as JupyterLab would launch it. Run it as
tests/run-all.sh does:

    .venv/bin/pytest -v -rs -p no:cacheprovider tests/conformance

No JUPYTER_PATH is needed: jupyter_client searches the venv's
share/jupyter/kernels first. conftest.py prints which kernelspec and binary
were picked up, in the report header.

What is tested (see jupyter_kernel_test.KernelTests): kernel_info, stdout and
stderr streams, execute_result, display_data, clear_output, errors,
completion, inspection, is_complete and history (tail, range, search).

What is skipped, and why:
  * test_pager: ferrokernel has no pager. Its execute_reply never carries a
    "page" payload (the dispatcher always sends `payload: []`); help comes
    through inspect_request (Shift+Tab), which test_inspect covers.
  * IopubWelcomeTests: the iopub_welcome message belongs to protocol 5.4
    (JEP 65, an XPUB iopub socket); ferrokernel speaks protocol 5.3 with a
    plain PUB socket, so it never sends one. Enabling the test would make it
    wait forever (it reads iopub without a timeout).

Timeouts: jupyter_kernel_test waits 15 s for a reply (a module constant,
bound as a default argument of execute_helper). ferrokernel answers
kernel_info at once but starts its engine in the background: the first
execute or complete request waits for it (~5 s) and for the prelude to load
(a few seconds more with a warm build cache, minutes with a cold one); every
cell is then compiled by rustc. So setUpClass runs a warm-up cell with a long
timeout, and the per-request timeouts below are raised to values that hold on
a slow CI machine (FERROKERNEL_CONFORMANCE_WARM_UP_TIMEOUT, default 600 s,
and FERROKERNEL_CONFORMANCE_TIMEOUT, default 120 s, change them).
"""

from __future__ import annotations

import os
import subprocess
import time
import unittest
from typing import Any

# Import the module, not the classes: pytest collects every unittest.TestCase
# subclass in the module namespace, and the base classes would run against
# the default python3 kernel.
import jupyter_kernel_test as jkt
from jupyter_client.manager import start_new_kernel

KERNEL_NAME = "ferrokernel"

# Seconds. Overridable from the environment for very slow machines.
#: the first cell: engine start + prelude load (cold cache: builds the prelude)
WARM_UP_TIMEOUT = float(os.environ.get("FERROKERNEL_CONFORMANCE_WARM_UP_TIMEOUT", 600))
#: any later cell, completion or inspection (each cell is compiled by rustc)
REQUEST_TIMEOUT = float(os.environ.get("FERROKERNEL_CONFORMANCE_TIMEOUT", 120))

# test_kernel_info and test_inspect read this module constant at call time.
jkt.TIMEOUT = REQUEST_TIMEOUT


def _have_rust_src() -> bool:
    """Whether the toolchain has the rust-src component (std's source)."""
    try:
        sysroot = subprocess.run(
            ["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return False
    return os.path.isdir(os.path.join(sysroot, "lib", "rustlib", "src", "rust", "library"))


HAVE_RUST_SRC = _have_rust_src()


class FerrokernelTests(jkt.KernelTests):
    kernel_name = KERNEL_NAME

    # test_kernel_info
    language_name = "rust"
    file_extension = ".rs"

    # test_execute_stdout: a stream on stdout containing "hello, world"
    code_hello_world = 'println!("hello, world");'

    # test_execute_stderr: a stream on stderr
    code_stderr = 'eprintln!("hello, stderr");'

    # test_completion: completions come from rust-analyzer, inside the engine;
    # `matches` must be exactly this set. Functions complete with their
    # parameter names, as evcxr gives them.
    completion_samples = [
        # a name defined in the same code
        {"text": "let ferro_value = 1; ferro_v", "matches": ["ferro_value"]},
        # the prelude every cell sees
        {"text": "multiprocessing::cpu_c", "matches": ["cpu_count()"]},
        # Without `matches` only the reply's shape is checked.
        {"text": "let v: Vec<u8> = Vec::ne"},
    ]
    if HAVE_RUST_SRC:
        # std items are known only with the rust-src component (install/setup.sh
        # adds it, but goes on without it when rustup cannot).
        completion_samples.append(
            {"text": "std::collections::Hash", "matches": ["HashMap", "HashSet"]}
        )

    # test_is_complete: the kernel's own lexer (kernel/engine/src/completeness.rs)
    complete_code_samples = [
        "let x = 1;",
        "1 + 2",
        "fn f() {}",
        'println!("}}{{");',  # brackets inside strings do not count
        "let c = '{';",  # nor in char literals
        "// a comment {",  # nor in comments
        'let s = r#"a " { b"#;',  # nor in raw strings
        'fn f<\'a>(x: &\'a str) -> &\'a str { x }',  # lifetimes are not chars
        ':dep rand = { version = "0.8"',  # evcxr commands take their whole line
    ]
    incomplete_code_samples = [
        "fn f() {",
        "if true {\n    let y = 2;",
        "let v = vec![1,\n2,",
        'let s = "abc',
        "/* comment",
        "let x = 1 +",
    ]
    invalid_code_samples = [
        "}",
        "fn f() { )",
        "let v = [1, 2);",
        "())",
    ]

    # test_pager: see the skip below.
    code_page_something = ""

    # test_error: exactly one iopub message, of type error, and status "error"
    code_generate_error = 'panic!("boom")'

    # test_execute_result (and test_history, which runs these cells again)
    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": "6 * 7", "result": "42"},
        {"code": "vec![1, 2, 3]", "result": "[1, 2, 3]"},
        {"code": '"hi".to_uppercase()', "result": '"HI"'},  # Debug format, as evcxr shows it
    ]

    # test_display_data: display functions every cell sees (KERNEL_ITEMS in
    # kernel/engine/src/evcxr_engine/mod.rs)
    code_display_data = [
        {"code": 'display_html("<b>hi</b>");', "mime": "text/html"},
        {"code": 'display_markdown("*hi*");', "mime": "text/markdown"},
        {"code": 'display(&[("image/svg+xml", "<svg xmlns=\\"http://www.w3.org/2000/svg\\"/>")]);',
         "mime": "image/svg+xml"},
        {"code": 'display(&[("application/json", "{\\"a\\": 1}")]);', "mime": "application/json"},
    ]

    # test_history. The pattern is a glob matched against the whole input
    # (like IPython's); it must match exactly one distinct input of
    # code_execute_result, which the test runs repeatedly.
    code_history_pattern = "6 ? 7"
    supported_history_operations = ("tail", "range", "search")

    # test_inspect: rust-analyzer's hover documentation, here of a prelude
    # function (std items need rust-src, see completion_samples)
    code_inspect_sample = "multiprocessing::cpu_count"

    # test_clear_output: clear_output(wait) is defined in every cell
    code_clear_output = "clear_output(false);"

    @classmethod
    def setUpClass(cls) -> None:
        started = time.monotonic()
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, startup_timeout=120)
        try:
            cls._warm_up()
        except BaseException:
            cls.tearDownClass()
            raise
        print(f"ferrokernel started and ran its first cell in {time.monotonic() - started:.1f} s")

    @classmethod
    def _warm_up(cls) -> None:
        """Runs a first cell, not stored in the history, so that the tests do
        not pay for the engine's start-up; then drains iopub."""
        msg_id = cls.kc.execute("1", store_history=False)
        deadline = time.monotonic() + WARM_UP_TIMEOUT
        while True:
            reply = cls.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the warm-up cell failed: {reply['content']}")
        while True:
            msg = cls.kc.get_iopub_msg(timeout=REQUEST_TIMEOUT)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                break

    # Raise the suite's 15 s default for every cell it runs (test_history runs
    # them through history_helper, which calls this with the default).
    def execute_helper(
        self,
        code: str,
        timeout: float = REQUEST_TIMEOUT,
        silent: bool = False,
        store_history: bool = True,
        stop_on_error: bool = True,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return super().execute_helper(
            code,
            timeout=timeout,  # type: ignore[arg-type]
            silent=silent,
            store_history=store_history,
            stop_on_error=stop_on_error,
        )

    # test_completion and test_is_complete wait for their replies without a
    # timeout: a kernel that does not answer would hang the suite.
    def get_non_kernel_info_reply(self, timeout: float | None = None) -> dict[str, Any] | None:
        return super().get_non_kernel_info_reply(
            timeout=REQUEST_TIMEOUT if timeout is None else timeout
        )

    @unittest.skip(
        "ferrokernel has no pager: execute_reply never carries a 'page' payload "
        "(documentation is served by inspect_request, see test_inspect)"
    )
    def test_pager(self) -> None:
        super().test_pager()


@unittest.skip(
    "iopub_welcome is protocol 5.4 (XPUB iopub, JEP 65); ferrokernel implements "
    "protocol 5.3 with a PUB socket and sends no welcome message"
)
class FerrokernelIopubWelcomeTests(jkt.IopubWelcomeTests):
    kernel_name = KERNEL_NAME
    support_iopub_welcome = True
