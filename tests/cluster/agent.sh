#!/usr/bin/env bash
# Open MPI's rsh agent for the test hosts (OMPI_MCA_plm_rsh_agent): instead of
# `ssh HOST command`, run the command inside HOST's network namespace with a
# hostname of its own (a UTS namespace), so Open MPI sees separate nodes.
set -euo pipefail
host=$1
shift
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0"; exec sh -c "$*"' "$host" "$@"
