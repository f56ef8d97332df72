#!/usr/bin/env bash
# Runs the project's notebooks headless, top to bottom, through `ferrokernel run`,
# and writes each notebook's fresh outputs back into it (--inplace). Brings the
# set-up up to date first (install/setup.sh; fast when nothing changed).
#
#   bash install/run-notebooks.sh                     every notebooks/*.ipynb
#   bash install/run-notebooks.sh notebooks/a.ipynb   only these
#   bash install/run-notebooks.sh --timeout 600 -q    options go to `ferrokernel run`
#
# Honours CARGO_TARGET_DIR (default <repo>/target).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
binary=${CARGO_TARGET_DIR:-$repo/target}/release/ferrokernel

options=()
notebooks=()
while (($#)); do
    case $1 in
        --timeout | -o | --output) options+=("$1" "$2"); shift 2 ;;
        -*) options+=("$1"); shift ;;
        *) notebooks+=("$1"); shift ;;
    esac
done
# Write the outputs into the notebooks unless told to write them elsewhere.
[[ " ${options[*]-} " == *" -o "* || " ${options[*]-} " == *" --output "* ]] || options+=(--inplace)

echo "==> Set-up (install/setup.sh)"
bash install/setup.sh

if ((${#notebooks[@]} == 0)); then
    shopt -s nullglob
    notebooks=(notebooks/*.ipynb)
    shopt -u nullglob
fi
if ((${#notebooks[@]} == 0)); then
    echo "run-notebooks: no notebooks found" >&2
    exit 1
fi
echo "==> ferrokernel run ${options[*]} ${notebooks[*]}"
"$binary" run "${options[@]}" "${notebooks[@]}"
echo "==> Done: ${#notebooks[@]} notebook(s) ran; outputs written."
