#!/bin/bash
# snark-worker-status.sh - publish this VM's snark worker state as GCE guest attributes.
#
# Installed by the startup script as /usr/local/bin/mina-worker-status and run every 30 s by
# mina-worker-status.timer. `python -m scripts.experiment wait` reads what it publishes
# (minaperf/orchestrator/workers.py) with `gcloud compute instances get-guest-attributes`.
#
# Guest attributes (namespace mina-workers; the VM needs metadata enable-guest-attributes=TRUE):
#   configured   WORKER_PROCESSES: how many worker processes this VM should run
#   running      how many of mina-snark-worker@1..N are active
#   connected    how many of those got an answer from the coordinator: the last RPC outcome
#                their current run logged was a success
#   version      the installed MINA_PACKAGE version
#   updated      unix time of this report
#
# "Connected" follows the worker's own log lines (MinaProtocol/mina
# src/lib/snark_worker/functor.ml): every get_work RPC ends in "No jobs available. Napping ..."
# or a received spec ("... received from $address ..."), every submit in "Submitted completed
# SNARK work ..."; a failed RPC logs "Error getting work: ..." / "Error submitting work ...".
# A worker dials the coordinator per RPC (Rpc.Connection.with_client), so there is no socket to
# look at; the log is the only witness.
#
# Environment: WORKER_PROCESSES (required), MINA_PACKAGE (required),
#   GUEST_ATTRIBUTES_URL (default: the metadata server's guest-attributes/mina-workers).

set -euo pipefail

: "${WORKER_PROCESSES:?WORKER_PROCESSES must be set}"
: "${MINA_PACKAGE:?MINA_PACKAGE must be set}"
case "$WORKER_PROCESSES" in
    '' | *[!0-9]*)
        echo "mina-worker-status: WORKER_PROCESSES must be a number, got '$WORKER_PROCESSES'" >&2
        exit 2
        ;;
esac
attributes_url=${GUEST_ATTRIBUTES_URL:-http://metadata.google.internal/computeMetadata/v1/instance/guest-attributes/mina-workers}

readonly SUCCESS='No jobs available|received from|Submitted completed SNARK work'
readonly FAILURE='Error getting work|Error submitting work|Error using the RPC call'

# last_outcome UNIT: "ok", "failed" or "" (nothing logged yet) for the unit's current run.
last_outcome() {
    local invocation last
    invocation=$(systemctl show --property=InvocationID --value "$1" 2>/dev/null || true)
    [ -n "$invocation" ] || return 0
    last=$(journalctl --no-pager --output=cat "_SYSTEMD_INVOCATION_ID=$invocation" 2>/dev/null \
        | grep -E -o "$SUCCESS|$FAILURE" | tail -n 1 || true)
    if [ -z "$last" ]; then
        return 0
    elif printf '%s' "$last" | grep -E -q "^($SUCCESS)\$"; then
        printf ok
    else
        printf failed
    fi
}

running=0
connected=0
for ((i = 1; i <= WORKER_PROCESSES; i++)); do
    unit="mina-snark-worker@$i.service"
    systemctl is-active --quiet "$unit" || continue
    running=$((running + 1))
    if [ "$(last_outcome "$unit")" = ok ]; then
        connected=$((connected + 1))
    fi
done
version=$(dpkg-query -W -f='${Version}' "$MINA_PACKAGE" 2>/dev/null || true)

publish() {
    curl --silent --show-error --fail --max-time 5 -X PUT \
        -H 'Metadata-Flavor: Google' --data "$2" "$attributes_url/$1"
}

publish configured "$WORKER_PROCESSES"
publish running "$running"
publish connected "$connected"
publish version "${version:-none}"
publish updated "$(date +%s)"
