#!/bin/sh
# mina-node.sh - entrypoint helper for Mina daemon containers of an ITN experiment.
#
# Runs inside the Mina daemon image (Ubuntu jammy). Written in POSIX sh so it does not depend
# on bash features; it needs coreutils (stat, cp, cmp, mkdir, chmod, tr, sed).
#
# Subcommands
#   install-keys SRC DEST  Copy every key file from SRC (a read-only Secret volume) into DEST.
#                          Entries whose name starts with ".." (the "..data" symlink machinery
#                          Kubernetes puts in Secret volumes) are skipped; the other entries are
#                          resolved through their symlinks and copied as regular files.
#                          DEST ends up mode 0700 and every file 0600 (the daemon refuses keys
#                          otherwise). Idempotent: unchanged files are not rewritten.
#   start                  Remove the image's built-in network config, check the environment
#                          and the key permissions, then exec `$MINA_BIN daemon ...`.
#   ready                  Readiness probe: exit 0 only when the node's sync status is SYNCED.
#   alive                  Liveness probe: exit 0 whenever the daemon answers at all (any sync
#                          status, including CONNECTING/LISTENING/OFFLINE/BOOTSTRAP/CATCHUP);
#                          exit 1 only when it does not answer.
#
# Environment contract of `start` (set by the Pulumi MinaNode component):
#   NODE_ROLE              seed | block-producer | plain | snark-coordinator      (required)
#   RUNTIME_CONFIG         runtime config file, e.g. /config/daemon.json          (required)
#                          -> --config-file
#   CONFIG_DIR             daemon state directory, e.g. /root/.mina-config        (required)
#                          -> --config-directory
#   KEYS_DIR               directory (mode 0700) holding `node-key` (Mina key file) and
#                          `libp2p-key` (libp2p key file), both without group/other bits
#                          (required)
#   POD_IP                 -> --external-ip                                        (required)
#   CLIENT_PORT            -> --client-port                                        (required)
#   REST_PORT              -> --rest-port                                          (required)
#   EXTERNAL_PORT          -> --external-port                                      (required)
#   ITN_GRAPHQL_PORT       -> --itn-graphql-port                                   (required)
#   ITN_KEYS               comma-separated base64 Ed25519 public keys -> --itn-keys (required)
#   UPTIME_URL             -> --uptime-url, with --uptime-submitter-key $KEYS_DIR/node-key
#                          (required)
#   SEED_PEER              seed multiaddr -> --peer        (required for every role but seed;
#                          set on seeds after the first, so they join the first seed)
#   SNARK_COORDINATOR_KEY  B62 public key -> --run-snark-coordinator
#                          (required for snark-coordinator)
#   SNARK_WORKER_FEE       -> --snark-worker-fee   (snark-coordinator only; optional)
#   WORK_SELECTION         seq | rand -> --work-selection (snark-coordinator only; optional)
#   LOG_LEVEL              -> --log-level       (default Info)
#   FILE_LOG_LEVEL         -> --file-log-level  (default Info)
#   MINA_BIN               daemon executable (default: mina)
#   BUILTIN_CONFIG_GLOB_DIR  where the image keeps config_*.json (default /var/lib/coda)
# Always passed: --log-json --insecure-rest-server --internal-tracing
#                --libp2p-keypair $KEYS_DIR/libp2p-key
# Role flags: seed -> --seed; block-producer -> --block-producer-key $KEYS_DIR/node-key.
#
# Passwords reach the daemon only through its environment, never through arguments:
#   MINA_LIBP2P_PASS (every role), UPTIME_PRIVKEY_PASS (every role),
#   MINA_PRIVKEY_PASS (block-producer). They must be set; an empty value is a valid password.
# ITN_FEATURES=1 is exported to the daemon; MINA_CLIENT_TRUSTLIST is passed through unchanged.
#
# Probes (ready/alive) use PROBE_VIA = auto | graphql | client (default auto: GraphQL through
# curl on 127.0.0.1:$REST_PORT when curl exists, otherwise `$MINA_BIN client status --json`
# on --daemon-port $CLIENT_PORT). PROBE_TIMEOUT (seconds, default 20) bounds each query.
# With the client, a non-zero exit still counts as "answered" for `alive` when the output holds
# a sync status, mentions bootstrap/catchup, or the exit code is in ALIVE_EXIT_CODES (default
# "15", which the MinaFoundation chart's liveness check also accepts); an output saying the
# daemon is unreachable ("Unable to connect", "not running", "Connection refused") never does.
#
# Exit codes: 64 = refused to start (configuration or key permission problem);
#             otherwise the daemon's own exit code (the script execs it).

set -eu

readonly EX_CONFIG=64
PROG=mina-node

log() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

refuse() {
    log "refusing to start: $*"
    exit "$EX_CONFIG"
}

# --- helpers -------------------------------------------------------------------------------

# value_of NAME: print the value of the variable NAME (empty when unset). NAME is always a
# literal variable name from this script, never user input.
value_of() {
    eval "printf '%s' \"\${$1:-}\""
}

# is_set NAME: succeed when the variable NAME is set, even to an empty value.
is_set() {
    eval "[ \"\${$1+set}\" = set ]"
}

# require_var NAME: refuse unless NAME is set to a non-empty value.
require_var() {
    if [ -z "$(value_of "$1")" ]; then
        refuse "environment variable $1 is required (role ${NODE_ROLE:-unset})"
    fi
}

# require_set NAME: refuse unless NAME is set (an empty value is allowed; used for passwords,
# whose values are never printed).
require_set() {
    if ! is_set "$1"; then
        refuse "environment variable $1 (a password) must be set for role $NODE_ROLE"
    fi
}

require_port() {
    require_var "$1"
    _port=$(value_of "$1")
    case "$_port" in
        *[!0-9]*) refuse "$1 must be a port number, got '$_port'" ;;
    esac
    if [ "$_port" -lt 1 ] || [ "$_port" -gt 65535 ]; then
        refuse "$1 must be between 1 and 65535, got $_port"
    fi
}

# octal_mode PATH: print the permission bits of PATH in octal (e.g. 700).
octal_mode() {
    stat -L -c '%a' "$1"
}

check_key_permissions() {
    if [ ! -d "$KEYS_DIR" ]; then
        refuse "KEYS_DIR $KEYS_DIR is not a directory"
    fi
    dir_mode=$(octal_mode "$KEYS_DIR")
    if [ "$((0$dir_mode & 0777))" -ne "$((0700))" ]; then
        refuse "KEYS_DIR $KEYS_DIR has mode $dir_mode; the daemon requires exactly 0700"
    fi
    for key in node-key libp2p-key; do
        path="$KEYS_DIR/$key"
        if [ ! -f "$path" ] || [ ! -r "$path" ]; then
            refuse "key file $path is missing or unreadable"
        fi
        file_mode=$(octal_mode "$path")
        if [ "$((0$file_mode & 077))" -ne 0 ]; then
            refuse "key file $path has mode $file_mode; group/other permissions must be 0"
        fi
    done
}

remove_builtin_config() {
    dir="${BUILTIN_CONFIG_GLOB_DIR:-/var/lib/coda}"
    for f in "$dir"/config_*.json; do
        # With no match the pattern stays literal; -e filters that case out.
        if [ -e "$f" ] || [ -L "$f" ]; then
            rm -f -- "$f"
            log "removed built-in network config $f"
        fi
    done
}

# A node keeps its chain on a persistent volume across restarts. When the runtime config changes
# (a new genesis timestamp or ledger), that chain belongs to another network: start afresh.
reset_state_on_new_runtime_config() {
    stamp="$CONFIG_DIR/.runtime-config.sha256"
    digest=$(sha256sum "$RUNTIME_CONFIG" | cut -d ' ' -f 1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$digest" ]; then
        log "runtime config changed (new genesis or ledger): clearing chain state in $CONFIG_DIR"
        find "$CONFIG_DIR" -mindepth 1 -maxdepth 1 ! -name lost+found -exec rm -rf -- {} +
    fi
    mkdir -p "$CONFIG_DIR"
    printf '%s\n' "$digest" >"$stamp"
}

# --- install-keys --------------------------------------------------------------------------

install_keys() {
    if [ "$#" -ne 2 ]; then
        log "usage: $0 install-keys SRC DEST"
        exit "$EX_CONFIG"
    fi
    src=$1
    dest=$2
    if [ ! -d "$src" ]; then
        log "install-keys: source $src is not a directory"
        exit "$EX_CONFIG"
    fi
    umask 077
    mkdir -p -- "$dest"
    chmod 0700 -- "$dest"
    copied=0
    for entry in "$src"/* "$src"/.[!.]*; do
        name=${entry##*/}
        case "$name" in
            '*' | '.[!.]*') continue ;; # unmatched glob
            ..*) continue ;;           # ..data and ..<timestamp> entries of Secret volumes
        esac
        if [ ! -f "$entry" ]; then
            # directories (or dangling links) are not key files
            continue
        fi
        target="$dest/$name"
        if [ -f "$target" ] && [ ! -L "$target" ] && cmp -s -- "$entry" "$target"; then
            if [ "$(octal_mode "$target")" != 600 ]; then
                chmod 0600 -- "$target"
            fi
            continue
        fi
        tmp="$dest/.$name.tmp.$$"
        # cp follows the symlink chain of the Secret volume and writes a regular file.
        cp -- "$entry" "$tmp"
        chmod 0600 -- "$tmp"
        mv -f -- "$tmp" "$target"
        copied=$((copied + 1))
    done
    log "install-keys: $copied file(s) updated in $dest"
}

# --- start ---------------------------------------------------------------------------------

start() {
    require_var NODE_ROLE
    case "$NODE_ROLE" in
        seed | block-producer | plain | snark-coordinator) ;;
        *) refuse "unknown NODE_ROLE '$NODE_ROLE' (seed, block-producer, plain, snark-coordinator)" ;;
    esac

    for var in RUNTIME_CONFIG CONFIG_DIR KEYS_DIR POD_IP ITN_KEYS UPTIME_URL; do
        require_var "$var"
    done
    for var in CLIENT_PORT REST_PORT EXTERNAL_PORT ITN_GRAPHQL_PORT; do
        require_port "$var"
    done
    if [ "$NODE_ROLE" != seed ]; then
        require_var SEED_PEER
    fi
    if [ "$NODE_ROLE" = snark-coordinator ]; then
        require_var SNARK_COORDINATOR_KEY
        case "${WORK_SELECTION:-}" in
            '' | seq | rand) ;;
            *) refuse "WORK_SELECTION must be seq or rand, got '$WORK_SELECTION'" ;;
        esac
    fi

    require_set MINA_LIBP2P_PASS
    require_set UPTIME_PRIVKEY_PASS
    if [ "$NODE_ROLE" = block-producer ]; then
        require_set MINA_PRIVKEY_PASS
    fi

    if [ ! -f "$RUNTIME_CONFIG" ] || [ ! -r "$RUNTIME_CONFIG" ]; then
        refuse "RUNTIME_CONFIG $RUNTIME_CONFIG is not a readable file"
    fi
    check_key_permissions
    remove_builtin_config
    reset_state_on_new_runtime_config

    set -- daemon \
        --config-file "$RUNTIME_CONFIG" \
        --config-directory "$CONFIG_DIR" \
        --external-ip "$POD_IP" \
        --client-port "$CLIENT_PORT" \
        --rest-port "$REST_PORT" \
        --external-port "$EXTERNAL_PORT" \
        --itn-graphql-port "$ITN_GRAPHQL_PORT" \
        --itn-keys "$ITN_KEYS" \
        --libp2p-keypair "$KEYS_DIR/libp2p-key" \
        --uptime-url "$UPTIME_URL" \
        --uptime-submitter-key "$KEYS_DIR/node-key" \
        --log-json \
        --log-level "${LOG_LEVEL:-Info}" \
        --file-log-level "${FILE_LOG_LEVEL:-Info}" \
        --insecure-rest-server \
        --internal-tracing

    case "$NODE_ROLE" in
        seed)
            set -- "$@" --seed
            # Seeds after the first join the first one; the first has no SEED_PEER.
            if [ -n "${SEED_PEER:-}" ]; then
                set -- "$@" --peer "$SEED_PEER"
            fi
            ;;
        block-producer)
            set -- "$@" --peer "$SEED_PEER" --block-producer-key "$KEYS_DIR/node-key"
            ;;
        plain)
            set -- "$@" --peer "$SEED_PEER"
            ;;
        snark-coordinator)
            set -- "$@" --peer "$SEED_PEER" --run-snark-coordinator "$SNARK_COORDINATOR_KEY"
            if [ -n "${SNARK_WORKER_FEE:-}" ]; then
                set -- "$@" --snark-worker-fee "$SNARK_WORKER_FEE"
            fi
            if [ -n "${WORK_SELECTION:-}" ]; then
                set -- "$@" --work-selection "$WORK_SELECTION"
            fi
            ;;
    esac

    ITN_FEATURES=1
    export ITN_FEATURES
    # The arguments hold paths and public values only; passwords stay in the environment.
    log "starting ${NODE_ROLE}: ${MINA_BIN:-mina} $*"
    exec "${MINA_BIN:-mina}" "$@"
}

# --- probes --------------------------------------------------------------------------------

# with_timeout CMD...: run CMD bounded by PROBE_TIMEOUT when coreutils timeout exists.
with_timeout() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "${PROBE_TIMEOUT:-20}" "$@"
    else
        "$@"
    fi
}

# json_string_field NAME: read JSON on stdin, print the string value of the first "NAME" key
# (whitespace anywhere in the document is tolerated; no jq needed).
json_string_field() {
    tr -d ' \t\r\n' | sed -n "s/.*\"$1\":\"\\([A-Za-z_]*\\)\".*/\\1/p"
}

upper() {
    tr '[:lower:]' '[:upper:]'
}

# query_status: print the daemon's sync status in upper case (SYNCED, BOOTSTRAP, ...) and
# return 0 when the daemon answered; return 1 when it did not answer at all.
query_status() {
    via=${PROBE_VIA:-auto}
    if [ "$via" = auto ]; then
        if command -v curl >/dev/null 2>&1; then via=graphql; else via=client; fi
    fi
    case "$via" in
        graphql) query_status_graphql ;;
        client) query_status_client ;;
        *)
            log "unknown PROBE_VIA '$via' (auto, graphql, client)"
            return 1
            ;;
    esac
}

query_status_graphql() {
    port=${REST_PORT:-3085}
    if ! body=$(curl --silent --show-error --fail --max-time "${PROBE_TIMEOUT:-20}" \
        -H 'Content-Type: application/json' \
        --data '{"query":"{ syncStatus }"}' \
        "http://127.0.0.1:$port/graphql"); then
        log "GraphQL on 127.0.0.1:$port did not answer"
        return 1
    fi
    status=$(printf '%s' "$body" | json_string_field syncStatus | upper)
    if [ -z "$status" ]; then
        log "GraphQL answered without a syncStatus: $body"
        # An answer without a status still proves the daemon's HTTP server is up.
        printf 'UNKNOWN\n'
        return 0
    fi
    printf '%s\n' "$status"
}

query_status_client() {
    port=${CLIENT_PORT:-8301}
    rc=0
    out=$(with_timeout "${MINA_BIN:-mina}" client status --json --daemon-port "$port" 2>&1) || rc=$?
    status=$(printf '%s' "$out" | json_string_field sync_status | upper)
    if [ -n "$status" ]; then
        printf '%s\n' "$status"
        return 0
    fi
    if [ "$rc" -eq 0 ]; then
        printf 'UNKNOWN\n'
        return 0
    fi
    case "$(printf '%s' "$out" | upper)" in
        *"UNABLE TO CONNECT"* | *"NOT RUNNING"* | *"CONNECTION REFUSED"*)
            log "mina client status: daemon unreachable (exit $rc): $out"
            return 1
            ;;
    esac
    # The MinaFoundation chart's liveness check also accepts exit code 15 from
    # `mina client status --json`; ALIVE_EXIT_CODES keeps that behaviour configurable.
    for code in ${ALIVE_EXIT_CODES-15}; do
        if [ "$rc" = "$code" ]; then
            printf 'UNKNOWN\n'
            return 0
        fi
    done
    # Some client versions answer with an error text instead of JSON while the node is
    # still bootstrapping or catching up; the daemon did answer then.
    case "$(printf '%s' "$out" | upper)" in
        *BOOTSTRAP* | *CATCHUP* | *CATCH-UP*)
            printf 'BOOTSTRAP\n'
            return 0
            ;;
    esac
    log "mina client status failed (exit $rc): $out"
    return 1
}

ready() {
    if ! status=$(query_status); then
        exit 1
    fi
    if [ "$status" = SYNCED ]; then
        exit 0
    fi
    log "not ready: sync status $status"
    exit 1
}

alive() {
    if query_status >/dev/null; then
        exit 0
    fi
    log "daemon does not answer"
    exit 1
}

# --- main ----------------------------------------------------------------------------------

if [ "$#" -lt 1 ]; then
    log "usage: $0 install-keys SRC DEST | start | ready | alive"
    exit "$EX_CONFIG"
fi
cmd=$1
shift
case "$cmd" in
    install-keys) install_keys "$@" ;;
    start) start ;;
    ready) ready ;;
    alive) alive ;;
    *)
        log "unknown subcommand '$cmd' (install-keys, start, ready, alive)"
        exit "$EX_CONFIG"
        ;;
esac
