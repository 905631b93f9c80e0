#!/usr/bin/env bash
# A real single-node Slurm cluster on loopback, for tests and for trying the jobs/ scripts.
#
#   scripts/slurm-cluster.sh start    install (if needed), configure, start; waits until the node is idle
#   scripts/slurm-cluster.sh stop     cancel every job, stop the daemons by PID, check nothing is left
#   scripts/slurm-cluster.sh status   daemons, node and queue; exit 0 when the cluster is up
#
# No systemd: munged, slurmctld and slurmd run in the foreground (-F/-D) under setsid, and their PIDs
# are read from their own pid files. Config and state live under $PAIS_SLURM_DIR (default
# /tmp/pais-slurm); /etc/slurm/slurm.conf is a symlink to that config so plain `sbatch` finds it.
# Two partitions: `debug` (default) and `urgent` (PriorityTier=2, preempts debug jobs by requeue).
# The node offers PAIS_SLURM_CPUS CPUs (default: 4 or nproc, whichever is larger), more than the
# machine has if needed (SlurmdParameters=config_overrides), so 3- and 4-rank jobs can run on 2 cores.
# Recipe and pitfalls: /work/shared/docs/slurm-local.md (Slurm 22.05.8, munge 0.5.15, Debian 12).
set -euo pipefail

state_dir=${PAIS_SLURM_DIR:-/tmp/pais-slurm}
cpus=${PAIS_SLURM_CPUS:-$(( $(nproc) > 4 ? $(nproc) : 4 ))}
cluster_name=paislocal
host=$(hostname -s)
conf=$state_dir/etc/slurm.conf
run=$state_dir/run
logs=$state_dir/log
munge_pid_file=/run/munge/munged.pid
packages=(slurmctld slurmd slurm-client munge)

say() { echo "slurm-cluster: $*"; }
die() { echo "slurm-cluster: error: $*" >&2; exit 1; }

# pid_alive FILE COMM: prints the PID recorded in FILE when that process is alive and named COMM.
pid_alive() {
  local file=$1 comm=$2 pid
  [ -r "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  echo "$pid"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s; fails after SECONDS.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "slurm-cluster: timed out after ${seconds}s waiting for $what" >&2; return 1; }
    sleep 0.2
  done
}

install_packages() {
  local missing=() package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  # Package scripts must not start untracked daemons through sysvinit: refuse service starts
  # during the install with a temporary policy-rc.d (only if the image has none of its own).
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT   # removed even if the install is interrupted
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local status=0
  export DEBIAN_FRONTEND=noninteractive
  local apt_install=(apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 "${missing[@]}")
  if ! "${apt_install[@]}" >"$logs/apt.log" 2>&1; then   # stale package lists: refresh once, retry
    apt-get update -qq >>"$logs/apt.log" 2>&1 && "${apt_install[@]}" >>"$logs/apt.log" 2>&1 || status=$?
  fi
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  [ "$status" -eq 0 ] || { tail -20 "$logs/apt.log" >&2; die "apt-get install failed (log: $logs/apt.log)"; }
}

ensure_munge_key() {
  local key=/etc/munge/munge.key
  if [ ! -s "$key" ]; then
    say "creating $key"
    mungekey --create --keyfile="$key"
  fi
  chown munge:munge "$key" && chmod 0400 "$key"
}

# Writes slurm.conf to stdout. Everything listens on 127.0.0.1; state and logs stay in state_dir.
render_config() {
  cat <<EOF
# Written by scripts/slurm-cluster.sh; regenerated at every start. Single node, loopback only.
ClusterName=$cluster_name
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=10
MailProg=/bin/true
StateSaveLocation=$state_dir/ctld
SlurmdSpoolDir=$state_dir/slurmd
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd, so no sacct: finished jobs are listed one per line here.
JobCompType=jobcomp/filetxt
JobCompLoc=$logs/jobcomp.txt
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Debian's Open MPI has only the PMIx client, so plain srun must use pmix.
MpiDefault=pmix
# Lets the node offer more CPUs than the machine has cores.
SlurmdParameters=config_overrides
ReturnToService=2
# Keep finished jobs visible to scontrol for 10 minutes.
MinJobAge=600
JobRequeue=1
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MessageTimeout=10
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus State=UNKNOWN
# Preemption: jobs in urgent requeue running debug jobs; the victim gets its --signal at once
# and GraceTime seconds to checkpoint before Slurm kills and requeues it.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE OverSubscribe=NO PriorityTier=1 GraceTime=15 State=UP
PartitionName=urgent Nodes=$host Default=NO MaxTime=INFINITE OverSubscribe=NO PriorityTier=2 PreemptMode=OFF State=UP
EOF
}

# Points /etc/slurm/slurm.conf at our config, unless someone else's config is there.
link_system_config() {
  local system=/etc/slurm/slurm.conf
  mkdir -p /etc/slurm
  if [ -e "$system" ] && [ ! -L "$system" ] && ! grep -q "^# Written by scripts/slurm-cluster.sh" "$system"; then
    say "warning: $system is not ours; leaving it. Use SLURM_CONF=$conf with sbatch/srun/sinfo."
    return 0
  fi
  ln -sfn "$conf" "$system"
}

node_idle() { sinfo -h -n "$host" -o '%t' 2>/dev/null | grep -Eq '^(idle|mix|alloc)'; }

start_munged() {
  pid_alive "$munge_pid_file" munged >/dev/null && return 0
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  # --force: start over a stale socket or lock left by a killed munged.
  setsid setpriv --reuid=munge --regid=munge --init-groups \
    munged -F --force </dev/null >>"$logs/munged.out" 2>&1 &
  wait_for 10 "munged's pid file" pid_alive "$munge_pid_file" munged || die "munged did not start; see $logs/munged.out"
  wait_for 10 "a munge credential round trip" bash -c 'munge -n | unmunge'
  touch "$run/munged.ours"   # we started it, so stop may end it
}

# start_daemon NAME: starts slurmctld or slurmd in the foreground under setsid.
start_daemon() {
  local name=$1
  pid_alive "$run/$name.pid" "$name" >/dev/null && return 0
  rm -f "$run/$name.pid"
  setsid "$name" -D -f "$conf" </dev/null >>"$logs/$name.out" 2>&1 &
  wait_for 15 "$name's pid file" pid_alive "$run/$name.pid" "$name" || die "$name did not start; see $logs/$name.log"
}

# stop_pids NAME=PID...: SIGTERM to all at once (each daemon takes 1-2 s to exit), wait up to
# 10 s, then SIGKILL whatever is still there.
stop_pids() {
  local pair pid deadline=$((SECONDS + 10)) alive
  for pair in "$@"; do kill -TERM "${pair#*=}" 2>/dev/null || true; done
  while :; do
    alive=""
    for pair in "$@"; do [ -d "/proc/${pair#*=}" ] && alive+=" $pair"; done
    if [ -z "$alive" ] || [ "$SECONDS" -ge "$deadline" ]; then break; fi
    sleep 0.2
  done
  for pair in $alive; do
    say "${pair%=*} (${pair#*=}) ignored SIGTERM; sending SIGKILL"
    kill -KILL "${pair#*=}" 2>/dev/null || true
  done
}

stop_slurm_daemons() {
  local name pid pairs=()
  for name in slurmd slurmctld; do
    if pid=$(pid_alive "$run/$name.pid" "$name"); then pairs+=("$name=$pid"); fi
  done
  [ ${#pairs[@]} -eq 0 ] || stop_pids "${pairs[@]}"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "start needs root: munged and the Slurm daemons run as root"
  mkdir -p "$state_dir/etc" "$state_dir/ctld" "$state_dir/slurmd" "$run" "$logs"
  install_packages
  ensure_munge_key
  render_config >"$conf.new"
  if [ -f "$conf" ] && cmp -s "$conf" "$conf.new"; then
    rm -f "$conf.new"
  else
    mv "$conf.new" "$conf"
    if pid_alive "$run/slurmctld.pid" slurmctld >/dev/null || pid_alive "$run/slurmd.pid" slurmd >/dev/null; then
      say "configuration changed: restarting slurmctld and slurmd (a changed CPU count requeues running jobs)"
      stop_slurm_daemons
    fi
  fi
  link_system_config
  export SLURM_CONF=$conf
  start_munged
  start_daemon slurmctld
  start_daemon slurmd
  if ! wait_for 30 "node $host to be idle in sinfo" node_idle; then
    sinfo -N -l >&2 || true
    die "the node did not come up; logs in $logs"
  fi
  say "up: node $host, $cpus CPUs, partitions debug (default) and urgent; state in $state_dir"
}

# Processes of jobs that outlived them (proctrack/linuxproc does not track re-parented children):
# found by this cluster's name in their environment, never by process name.
leaked_job_pids() {
  local environ pid
  for environ in /proc/[0-9]*/environ; do
    pid=${environ#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    tr '\0' '\n' 2>/dev/null <"$environ" | grep -qx "SLURM_CLUSTER_NAME=$cluster_name" && echo "$pid"
  done
  return 0
}

# Any process still running one of the Slurm daemon binaries (a check only; nothing is killed by name).
slurm_binaries_running() {
  local exe pid
  for exe in /proc/[0-9]*/exe; do
    case $(readlink "$exe" 2>/dev/null) in
      */slurmctld | */slurmd | */slurmstepd) pid=${exe#/proc/}; echo "${pid%/exe}" ;;
    esac
  done
  return 0
}

stop() {
  [ "$(id -u)" -eq 0 ] || die "stop needs root"
  export SLURM_CONF=$conf
  if pid_alive "$run/slurmctld.pid" slurmctld >/dev/null; then
    local jobs
    jobs=$(squeue -h -o '%i' 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      say "cancelling jobs: $jobs"
      # shellcheck disable=SC2086  # job ids are plain numbers/underscores from squeue
      scancel $jobs 2>/dev/null || true
      # shellcheck disable=SC2016  # the inner shell expands it, on every poll
      wait_for 20 "cancelled jobs to leave the node" bash -c '[ -z "$(squeue -h -t R,CG -o %i)" ]' || true
    fi
  fi
  stop_slurm_daemons
  local pid
  for pid in $(leaked_job_pids); do
    say "killing leftover job process $pid ($(cat "/proc/$pid/comm" 2>/dev/null))"
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -e "$run/munged.ours" ] && pid=$(pid_alive "$munge_pid_file" munged); then
    stop_pids "munged=$pid"
  fi
  rm -f "$run/munged.ours"
  sleep 0.2
  local left=()
  mapfile -t left < <(slurm_binaries_running; leaked_job_pids)
  if [ ${#left[@]} -gt 0 ]; then
    echo "slurm-cluster: error: still running after stop: ${left[*]}" >&2
    ps -o pid,ppid,comm,args -p "$(IFS=,; echo "${left[*]}")" >&2 || true
    exit 1
  fi
  say "stopped; no Slurm daemon or job process left"
}

status() {
  export SLURM_CONF=$conf
  local name file pid up=0
  for name in munged slurmctld slurmd; do
    file=$run/$name.pid
    [ "$name" = munged ] && file=$munge_pid_file
    if pid=$(pid_alive "$file" "$name"); then echo "$name: running (pid $pid)"; else echo "$name: not running"; up=1; fi
  done
  if [ "$up" -eq 0 ]; then
    sinfo
    squeue
  fi
  return "$up"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status   (state in \$PAIS_SLURM_DIR, default /tmp/pais-slurm)" >&2; exit 2 ;;
esac
