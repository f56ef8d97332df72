#!/usr/bin/env bash
# Runs every test suite of ferrokernel, after bringing the set-up up to date:
#
#   cargo        cargo test --release --workspace --locked
#   conformance  Jupyter's jupyter_kernel_test against the installed kernelspec
#   cli          ferrokernel run / test through the command line (tests/notebooks)
#   nbval        pytest --nbval over notebooks/, with notebooks/sanitize.cfg
#   fk-test      ferrokernel test notebooks/
#   e2e          JupyterLab in headless Chromium: Run All, interrupt, restart
#
# Every suite runs under a timeout, so the script never hangs. It prints a
# summary table at the end and exits non-zero if any suite failed.
#
#   bash tests/run-all.sh              all suites
#   bash tests/run-all.sh e2e cargo    only the named suites
#
# Honours CARGO_TARGET_DIR (default <repo>/target).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

target_dir=${CARGO_TARGET_DIR:-$repo/target}
binary=$target_dir/release/ferrokernel
venv=$repo/.venv

all_suites=(cargo conformance cli nbval fk-test e2e)
selected=("$@")
((${#selected[@]})) || selected=("${all_suites[@]}")
for name in "${selected[@]}"; do
    [[ " ${all_suites[*]} " == *" $name "* ]] || {
        echo "run-all: unknown suite $name (known: ${all_suites[*]})" >&2
        exit 2
    }
done

wants() { [[ " ${selected[*]} " == *" $1 "* ]]; }

# Kernels launched by the suites (and the set-up's install) share an engine
# pool of this run's own, which is stopped at the end: nothing outlives the run.
FERROKERNEL_POOL_DIR=$(mktemp -d -t ferrokernel-pool.XXXXXX)
export FERROKERNEL_POOL_DIR
stop_pool() {
    [[ -x $binary ]] && "$binary" pool stop >/dev/null 2>&1
    rm -rf "$FERROKERNEL_POOL_DIR"
}
trap stop_pool EXIT

printf '==> Set-up (install/setup.sh)\n'
if ! bash install/setup.sh; then
    echo "run-all: set-up failed; no suite was run" >&2
    exit 1
fi

names=()
results=()
durations=()
failed=0

record() { # name result seconds
    names+=("$1")
    results+=("$2")
    durations+=("$3")
}

# suite NAME SECONDS COMMAND...: runs COMMAND under a timeout and records the result.
# `timeout` signals the command's whole process group, so stray children die too.
suite() {
    local name=$1 limit=$2
    shift 2
    printf '\n==> [%s] %s (timeout %ss)\n' "$name" "$*" "$limit"
    local start=$SECONDS status=0
    # In the background so that Ctrl-C/TERM reach the trap below at once.
    timeout --kill-after=30 "$limit" "$@" &
    running=$!
    wait "$running" || status=$?
    running=
    local took=$((SECONDS - start))
    case $status in
        0) record "$name" pass "$took" ;;
        124 | 137) record "$name" "TIMEOUT (${limit}s)" "$took"; failed=1 ;;
        *) record "$name" "FAIL (exit $status)" "$took"; failed=1 ;;
    esac
}

# timeout runs the suite in its own process group, out of reach of the terminal's
# Ctrl-C: pass INT/TERM on to it (timeout relays them to the whole group).
running=
stop() {
    [[ -n $running ]] && kill -TERM "$running" 2>/dev/null && wait "$running" 2>/dev/null
    echo "run-all: interrupted" >&2
    exit 130
}
trap stop INT TERM


if wants cargo; then
    # Release profile, so it reuses the release build made by the set-up.
    suite cargo 2400 cargo test --release --workspace --locked
fi

if wants conformance; then
    suite conformance 900 "$venv/bin/pytest" -v -rs -p no:cacheprovider tests/conformance
fi

if wants cli; then
    suite cli 900 env FERROKERNEL_BIN="$binary" "$venv/bin/pytest" -v -p no:cacheprovider tests/notebooks
fi

if wants nbval; then
    # The kernelspec named in each notebook (ferrokernel) is found in .venv.
    suite nbval 1800 "$venv/bin/pytest" -v -p no:cacheprovider --nbval \
        --nbval-cell-timeout=600 --nbval-sanitize-with notebooks/sanitize.cfg notebooks/
fi

if wants fk-test; then
    suite fk-test 1800 "$binary" test --timeout 600 notebooks/
fi

if wants e2e; then
    suite e2e 1200 node tests/e2e/run.mjs
fi

printf '\n==> Summary\n'
printf '    %-12s %-34s %8s\n' suite result seconds
printf '    %-12s %-34s %8s\n' ------------ ---------------------------------- --------
for i in "${!names[@]}"; do
    printf '    %-12s %-34s %8s\n' "${names[$i]}" "${results[$i]}" "${durations[$i]}"
done
if ((failed)); then
    printf '\nrun-all: some suites FAILED\n'
    exit 1
fi
printf '\nrun-all: all suites passed\n'
