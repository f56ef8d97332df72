#!/usr/bin/env bash
# Runs the project's notebooks headless, top to bottom, through `ferrokernel run`,
# and writes each notebook with its fresh outputs to out/notebooks/ (git-ignored),
# so the checkout stays clean. Brings the set-up up to date first
# (install/setup.sh; fast when nothing changed).
#
#   bash install/run-notebooks.sh                     every notebooks/*.ipynb
#   bash install/run-notebooks.sh notebooks/a.ipynb   only these
#   bash install/run-notebooks.sh --inplace           rewrite the shipped notebooks
#                                                     (for whoever maintains them)
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
# Fresh outputs go to a git-ignored folder unless told otherwise.
output_dir=out/notebooks
if [[ " ${options[*]-} " != *" -o "* && " ${options[*]-} " != *" --output "* && " ${options[*]-} " != *" --inplace "* ]]; then
    mkdir -p "$output_dir"
    options+=(--output "$output_dir")
fi

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
if [[ " ${options[*]} " == *" --inplace "* ]]; then
    echo "==> Done: ${#notebooks[@]} notebook(s) ran; their outputs were written back into them."
elif [[ " ${options[*]} " == *" --output $output_dir "* ]]; then
    echo "==> Done: ${#notebooks[@]} notebook(s) ran; with their outputs in $repo/$output_dir/"
else
    echo "==> Done: ${#notebooks[@]} notebook(s) ran; outputs written where -o/--output said."
fi
