#!/usr/bin/env bash
# A one-node Slurm cluster on this machine for the cluster tests: munge,
# slurmctld and slurmd from Debian's packages (install/setup.sh installs
# them), started by hand (no systemd), state under one directory.
#
#   bash tests/cluster/slurm.sh up      start it; prints the SLURM_CONF to export
#   bash tests/cluster/slurm.sh down    stop it and remove its state
#
# Needs root. The node is this machine's short hostname, with its CPUs.
set -euo pipefail

base=${FERROKERNEL_SLURM_DIR:-/tmp/ferrokernel-slurm}
conf=$base/slurm.conf
node=$(hostname -s)

wait_gone() { # pids...: up to 5 s, then SIGKILL
    for _ in $(seq 50); do
        local alive=()
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        ((${#alive[@]})) || return 0
        sleep 0.1
    done
    kill -9 "$@" 2>/dev/null || true
}

slurm_down() {
    export SLURM_CONF=$conf
    local daemons
    daemons=$(cat "$base/slurmctld.pid" "$base/slurmd.pid" 2>/dev/null || true)
    if [[ -n $daemons ]]; then
        scancel --user=root 2>/dev/null || true
        scontrol shutdown 2>/dev/null || kill $daemons 2>/dev/null || true
        # shellcheck disable=SC2086
        wait_gone $daemons
    fi
    local munged
    munged=$(cat /run/munge/munged.pid 2>/dev/null || true)
    if [[ -n $munged ]]; then
        kill "$munged" 2>/dev/null || true
        wait_gone "$munged"
    fi
    rm -rf "$base" /run/munge
}

slurm_up() {
    slurm_down
    mkdir -p "$base"/{ctld,spool,log}
    # Debian's munge package makes the key; make one if it is missing.
    if [[ ! -s /etc/munge/munge.key ]]; then
        /usr/sbin/mungekey -c -f -k /etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    cat >"$conf" <<CONF
ClusterName=ferrokernel-test
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$base/ctld
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/slurmctld.pid
SlurmdPidFile=$base/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$conf
    slurmctld -D >"$base/log/slurmctld.out" 2>&1 &
    slurmd -D >"$base/log/slurmd.out" 2>&1 &
    for _ in $(seq 100); do
        [[ $(sinfo -h -n "$node" -o %t 2>/dev/null) == idle ]] && break
        sleep 0.2
    done
    [[ $(sinfo -h -n "$node" -o %t) == idle ]] || {
        echo "slurm: the node did not become idle; logs in $base/log" >&2
        return 1
    }
    echo "SLURM_CONF=$conf"
}

case ${1:-} in
    up) slurm_up ;;
    down) slurm_down ;;
    *) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
