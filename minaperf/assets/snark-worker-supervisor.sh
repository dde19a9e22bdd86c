#!/bin/bash
# snark-worker-supervisor.sh - runs a fixed number of Mina snark worker processes in one pod.
#
# Entrypoint of the snark worker pods on the `kubernetes` platform (the Mina daemon image,
# which has bash). It starts exactly WORKER_PROCESSES processes of
#   $MINA_BIN internal snark-worker --daemon-address $COORDINATOR_ADDRESS \
#       --proof-level $PROOF_LEVEL --shutdown-on-disconnect false \
#       --config-directory $WORKER_STATE_DIR/<n>
# each with RAYON_NUM_THREADS=$WORKER_THREADS, restarts any process that exits (logging which
# one and its exit code, with a per-worker exponential backoff), and on SIGTERM/SIGINT stops
# all workers (SIGTERM, then SIGKILL after STOP_GRACE_SECONDS) and exits 0.
#
# Environment:
#   COORDINATOR_ADDRESS   host:port of the coordinator's client port              (required)
#   WORKER_PROCESSES      number of worker processes, 1..256                      (required)
#   WORKER_THREADS        RAYON_NUM_THREADS per worker (default: nproc / processes, >= 1)
#   PROOF_LEVEL           full | check | none (default full)
#   WORKER_STATE_DIR      parent of the per-worker config directories (default /var/lib/mina-worker)
#   MINA_BIN              mina executable (default mina)
#   RESTART_BACKOFF_SECONDS      first restart delay (default 2); doubles per quick failure
#   RESTART_BACKOFF_MAX_SECONDS  cap of the restart delay (default 60)
#   STOP_GRACE_SECONDS    how long to wait for workers after SIGTERM (default 20)
#   POLL_INTERVAL         seconds between checks of the workers (default 1; fractions allowed)
# Exit codes: 0 after a requested stop, 64 on a configuration error.

set -u

readonly EX_CONFIG=64

log() {
    printf '%s snark-worker-supervisor: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

config_error() {
    log "configuration error: $*"
    exit "$EX_CONFIG"
}

is_uint() {
    case "$1" in
        '' | *[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

COORDINATOR_ADDRESS=${COORDINATOR_ADDRESS:-}
WORKER_PROCESSES=${WORKER_PROCESSES:-}
PROOF_LEVEL=${PROOF_LEVEL:-full}
WORKER_STATE_DIR=${WORKER_STATE_DIR:-/var/lib/mina-worker}
MINA_BIN=${MINA_BIN:-mina}
RESTART_BACKOFF_SECONDS=${RESTART_BACKOFF_SECONDS:-2}
RESTART_BACKOFF_MAX_SECONDS=${RESTART_BACKOFF_MAX_SECONDS:-60}
STOP_GRACE_SECONDS=${STOP_GRACE_SECONDS:-20}
POLL_INTERVAL=${POLL_INTERVAL:-1}

case "$COORDINATOR_ADDRESS" in
    '') config_error "COORDINATOR_ADDRESS is required (host:port)" ;;
    *:*) ;;
    *) config_error "COORDINATOR_ADDRESS must be host:port, got '$COORDINATOR_ADDRESS'" ;;
esac
if ! is_uint "$WORKER_PROCESSES" || [ "$WORKER_PROCESSES" -lt 1 ] \
    || [ "$WORKER_PROCESSES" -gt 256 ]; then
    config_error "WORKER_PROCESSES must be an integer in 1..256, got '$WORKER_PROCESSES'"
fi
case "$PROOF_LEVEL" in
    full | check | none) ;;
    *) config_error "PROOF_LEVEL must be full, check or none, got '$PROOF_LEVEL'" ;;
esac
if [ -z "${WORKER_THREADS:-}" ]; then
    cpus=$(nproc 2>/dev/null || echo 1)
    is_uint "$cpus" || cpus=1
    WORKER_THREADS=$((cpus / WORKER_PROCESSES))
    [ "$WORKER_THREADS" -ge 1 ] || WORKER_THREADS=1
fi
if ! is_uint "$WORKER_THREADS" || [ "$WORKER_THREADS" -lt 1 ]; then
    config_error "WORKER_THREADS must be a positive integer, got '$WORKER_THREADS'"
fi
for v in RESTART_BACKOFF_SECONDS RESTART_BACKOFF_MAX_SECONDS STOP_GRACE_SECONDS; do
    is_uint "${!v}" || config_error "$v must be a non-negative integer, got '${!v}'"
done

declare -a pid=()        # pid of worker n ("" while it waits for a restart)
declare -a started_at=() # $SECONDS when worker n was started
declare -a restart_at=() # $SECONDS after which worker n may be restarted
declare -a backoff=()    # next restart delay of worker n
stopping=0

start_worker() {
    local n=$1
    local dir="$WORKER_STATE_DIR/$n"
    if ! mkdir -p -- "$dir"; then
        log "worker $n: cannot create $dir; retrying later"
        restart_at[n]=$((SECONDS + backoff[n]))
        return
    fi
    RAYON_NUM_THREADS=$WORKER_THREADS "$MINA_BIN" internal snark-worker \
        --daemon-address "$COORDINATOR_ADDRESS" \
        --proof-level "$PROOF_LEVEL" \
        --shutdown-on-disconnect false \
        --config-directory "$dir" &
    pid[n]=$!
    started_at[n]=$SECONDS
    log "worker $n started (pid ${pid[n]}, RAYON_NUM_THREADS=$WORKER_THREADS)"
}

# reap_worker N: called when worker N's process is gone; log its exit code, schedule restart.
reap_worker() {
    local n=$1 rc=0
    wait "${pid[n]}" 2>/dev/null || rc=$?
    local ran=$((SECONDS - started_at[n]))
    if [ "$ran" -ge "$RESTART_BACKOFF_MAX_SECONDS" ]; then
        backoff[n]=$RESTART_BACKOFF_SECONDS # it ran for a while: not a crash loop
    fi
    log "worker $n (pid ${pid[n]}) exited with code $rc after ${ran}s; restarting in ${backoff[n]}s"
    pid[n]=""
    restart_at[n]=$((SECONDS + backoff[n]))
    local next=$((backoff[n] * 2))
    [ "$next" -ge 1 ] || next=1
    [ "$next" -le "$RESTART_BACKOFF_MAX_SECONDS" ] || next=$RESTART_BACKOFF_MAX_SECONDS
    backoff[n]=$next
}

stop_all() {
    local n p deadline alive
    log "stopping ${WORKER_PROCESSES} worker(s)"
    for ((n = 1; n <= WORKER_PROCESSES; n++)); do
        p=${pid[n]:-}
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done
    deadline=$((SECONDS + STOP_GRACE_SECONDS))
    while :; do
        alive=0
        for ((n = 1; n <= WORKER_PROCESSES; n++)); do
            p=${pid[n]:-}
            if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
                alive=$((alive + 1))
            fi
        done
        [ "$alive" -eq 0 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$alive worker(s) still running after ${STOP_GRACE_SECONDS}s; sending SIGKILL"
            for ((n = 1; n <= WORKER_PROCESSES; n++)); do
                p=${pid[n]:-}
                [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
            done
            break
        fi
        sleep 0.1
    done
    wait 2>/dev/null
    log "all workers stopped"
}

# On SIGTERM/SIGINT: note the request and cut the current poll sleep short.
sleep_pid=""
trap 'stopping=1; if [ -n "$sleep_pid" ]; then kill "$sleep_pid" 2>/dev/null; fi' TERM INT

log "starting $WORKER_PROCESSES worker(s) for $COORDINATOR_ADDRESS (proof level $PROOF_LEVEL)"
for ((n = 1; n <= WORKER_PROCESSES; n++)); do
    backoff[n]=$RESTART_BACKOFF_SECONDS
    restart_at[n]=0
    start_worker "$n"
done

while [ "$stopping" -eq 0 ]; do
    sleep "$POLL_INTERVAL" &
    sleep_pid=$!
    wait "$sleep_pid" 2>/dev/null
    sleep_pid=""
    [ "$stopping" -eq 0 ] || break
    for ((n = 1; n <= WORKER_PROCESSES; n++)); do
        p=${pid[n]:-}
        if [ -n "$p" ]; then
            kill -0 "$p" 2>/dev/null || reap_worker "$n"
        fi
        if [ -z "${pid[n]:-}" ] && [ "$SECONDS" -ge "${restart_at[n]}" ]; then
            start_worker "$n"
        fi
    done
done

stop_all
exit 0
