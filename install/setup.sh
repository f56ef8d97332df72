#!/usr/bin/env bash
# Sets up a machine to build, run and test ferrokernel: Debian packages, the
# release build, a project-local Python venv with JupyterLab and the test tools,
# the kernelspec installed into that venv, and the browser test's npm packages.
#
# Idempotent: each step checks first and does nothing when already done. Steps
# that are slow to check keep a stamp file holding the hash of their inputs.
#
#   bash install/setup.sh            set up (or bring up to date)
#   bash install/setup.sh --relock   also regenerate install/requirements.lock
#                                    from install/requirements.txt
#
# Honours CARGO_TARGET_DIR (default <repo>/target) and PYTHON (default python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

relock=false
for arg in "$@"; do
    case $arg in
        --relock) relock=true ;;
        -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

target_dir=${CARGO_TARGET_DIR:-$repo/target}
binary=$target_dir/release/ferrokernel
venv=$repo/.venv
python=${PYTHON:-python3}
e2e=$repo/tests/e2e

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Root installs directly; anyone else needs sudo for apt.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# ---------------------------------------------------------------------------
step "Debian packages"
# chromium: the browser test drives Debian's build (playwright cannot download
# its own here). nodejs/npm: the browser test's runner, usually preinstalled.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# fonts so that screenshots show text, not boxes
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
# lldb-dap: the JupyterLab debugger drives it (Debian 12's newest lldb).
compgen -c lldb-dap | grep -q . || missing+=(lldb-19)
# Open MPI's mpirun starts a notebook cluster's workers (and the cluster tests').
command -v mpirun >/dev/null || missing+=(openmpi-bin)
# A one-node Slurm for the cluster tests' srun (tests/cluster/slurm.sh).
command -v slurmctld >/dev/null || missing+=(slurm-wlm)
command -v munged >/dev/null || missing+=(munge)
if ((${#missing[@]})); then
    note "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    note "chromium, node, npm, fonts, lldb-dap, mpirun and slurm are present"
fi

# ---------------------------------------------------------------------------
step "rust-src (completions of std items come from rust-analyzer, which reads it)"
if rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    note "already installed"
elif rustup component add rust-src; then
    note "installed"
else
    note "could not install rust-src; completions of std items will be missing (continuing)"
fi

# ---------------------------------------------------------------------------
step "cargo build --release --locked --workspace (into $target_dir)"
# cargo itself knows whether anything changed; a second run takes a second.
cargo build --release --locked --workspace
note "built $binary"

# ---------------------------------------------------------------------------
step "Python venv at .venv from install/requirements.lock"
if $relock; then
    note "regenerating install/requirements.lock from install/requirements.txt"
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    "$python" -m venv "$scratch/venv"
    "$scratch/venv/bin/pip" install --quiet --upgrade pip
    "$scratch/venv/bin/pip" install --quiet -r install/requirements.txt
    {
        echo "# Generated from install/requirements.txt by install/setup.sh --relock; do not edit."
        "$scratch/venv/bin/pip" freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='
    } >install/requirements.lock
    note "wrote install/requirements.lock ($(grep -c '==' install/requirements.lock) packages)"
fi
# The venv is rebuilt when the lock or the Python interpreter changes.
python_version=$("$python" -c 'import sys; print(sys.version)')
venv_key=$( (cat install/requirements.lock; echo "$python_version") | sha256sum | cut -d' ' -f1)
venv_stamp=$venv/.ferrokernel-requirements.sha256
if [[ -x $venv/bin/python && -f $venv_stamp && $(cat "$venv_stamp") == "$venv_key" ]]; then
    note "up to date"
else
    if [[ -d $venv ]] && ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        note "removing a broken venv"
        rm -rf "$venv"
    fi
    [[ -d $venv ]] || { note "creating .venv with $("$python" --version)"; "$python" -m venv "$venv"; }
    note "installing the pinned packages (this takes a minute or two the first time)"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # --no-deps: the lock is the whole tree, so pip must not pull anything else.
    "$venv/bin/python" -m pip install --quiet --no-deps -r install/requirements.lock
    "$venv/bin/python" -m pip check
    echo "$venv_key" >"$venv_stamp"
    note "installed $(grep -c '==' install/requirements.lock) packages"
fi

# ---------------------------------------------------------------------------
step "kernelspec ferrokernel in .venv"
# Re-installed only when the binary changed (or the kernelspec went missing): the
# install also warms the engine's build cache, which takes 10-30 s.
spec=$venv/share/jupyter/kernels/ferrokernel/kernel.json
kernel_key=$( (echo "$binary"; sha256sum <"$binary") | sha256sum | cut -d' ' -f1)
kernel_stamp=$venv/.ferrokernel-kernelspec.sha256
if [[ -f $spec && -f $kernel_stamp && $(cat "$kernel_stamp") == "$kernel_key" ]]; then
    note "up to date ($spec)"
else
    # FERROKERNEL_POOL=0: no warm engine is started now, to compete with the
    # test builds for the CPU (kernels still use the pool, started on demand).
    FERROKERNEL_POOL=0 VIRTUAL_ENV=$venv "$binary" install --sys-prefix
    echo "$kernel_key" >"$kernel_stamp"
fi
# Read the whole list before searching it: `grep -q` would stop reading early
# and jupyter would fail writing into the closed pipe.
kernelspecs=$("$venv/bin/jupyter" kernelspec list)
grep '^ *ferrokernel ' <<<"$kernelspecs" >/dev/null \
    || { echo "setup: jupyter does not list the ferrokernel kernelspec" >&2; exit 1; }

# ---------------------------------------------------------------------------
step "npm packages of the browser test (tests/e2e)"
# playwright-core only: it downloads no browser; the test uses /usr/bin/chromium.
npm_key=$(hash_of "$e2e/package.json" "$e2e/package-lock.json")
npm_stamp=$e2e/node_modules/.ferrokernel-npm.sha256
if [[ -f $npm_stamp && $(cat "$npm_stamp") == "$npm_key" ]]; then
    note "up to date"
else
    (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$npm_key" >"$npm_stamp"
fi

step "Set-up complete"
note "binary:     $binary"
note "jupyter:    $venv/bin/jupyter (kernelspec ferrokernel)"
note "JupyterLab: $venv/bin/jupyter lab"
