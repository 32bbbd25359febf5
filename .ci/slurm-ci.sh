#!/usr/bin/env bash
# A one-node Slurm "cluster" for tests/test_slurm.py, on Debian 12 as root, without systemd.
# Usage: .ci/slurm-ci.sh up | down
#   up:   installs slurm-wlm and munge (Debian packages) when missing, writes /etc/slurm/slurm.conf for this
#         host with two partitions on the same node, `cpu` (default) and `gpu` (no GPU: routing only), and
#         starts munged, slurmctld and slurmd.
#   down: cancels leftover jobs and stops the three daemons by the pids in their pid files.
# No accounting database: `sacct` does not work, so Snakemake must poll with `--slurm-status-command squeue`
# (finished jobs stay visible to squeue for MinJobAge seconds).
# It never reconfigures a real cluster: `up` exits with 3 where a slurm.conf it did not write exists, and with 4
# where slurmctld already runs.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by scopecal's .ci/slurm-ci.sh"
PIDFILES=(/run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid)

up() {
  if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    echo "$CONF exists and was not written by this script: not touching a real Slurm installation" >&2
    exit 3
  fi
  if [ -s /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null; then
    echo "slurmctld is already running: run '$0 down' first" >&2
    exit 4
  fi
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends skips ~30 plugin packages; without systemd the postinst starts no daemon
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  fi

  # munge (Debian's postinst normally creates the key)
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged  # daemonizes, pid in /run/munge/munged.pid
  munge -n | unmunge >/dev/null

  # one node named after this host, reached at 127.0.0.1 (no name resolution needed)
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$((mem > 21000 ? 20000 : mem * 9 / 10))  # above what slurmd detects, the node is drained
  install -d /etc/slurm
  cat >"$CONF" <<EOF
$MARK
ClusterName=ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
# finished jobs stay visible to 'squeue --states=all' this long (Snakemake's squeue polling needs it)
MinJobAge=300
SlurmctldDebug=info
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdDebug=info
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
  install -d -o slurm -g slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm

  slurmctld  # both daemonize and write their pid files
  slurmd
  for _ in $(seq 1 60); do
    sinfo -h -N -o %T 2>/dev/null | grep -qx idle && break
    sleep 0.5
  done
  sinfo
}

down() {
  scancel --user="$(id -un)" 2>/dev/null || true
  local f p
  for f in "${PIDFILES[@]}"; do
    [ -s "$f" ] || continue
    p=$(cat "$f")
    if kill "$p" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    fi
    # slurmctld cannot delete its root-owned pid file after dropping to SlurmUser, and a stale one
    # makes a later package removal fail
    rm -f "$f"
  done
}

"${1:?usage: $0 up|down}"
