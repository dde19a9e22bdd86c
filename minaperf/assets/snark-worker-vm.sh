#!/bin/bash
# snark-worker-vm.sh - GCE VM startup script for a pool of Mina snark worker processes.
#
# This file is a TEMPLATE: minaperf.worker_script.render_worker_startup_script() replaces the
# settings marker line below with `readonly NAME='value'` lines (validated, shell-quoted):
#   COORDINATOR_HOST, COORDINATOR_PORT   coordinator client port the workers connect to
#   WORKER_PROCESSES                     number of worker processes (systemd instances 1..N)
#   PROOF_LEVEL                          full | check | none
#   MINA_PACKAGE, MINA_VERSION           pinned Debian package, e.g. mina-devnet 4.0.0-6965b50
#   APT_CHANNEL                          repository component, e.g. alpha
#   APT_CODENAME                         distribution codename; empty = VERSION_CODENAME of
#                                        /etc/os-release
#   SIGNING_KEY_FINGERPRINT              40 hex digits the repository signing key must have;
#                                        empty = keep the key first fetched over HTTPS
#   APT_REPO_URL, SIGNING_KEY_URL        the repository and its binary signing key (HTTPS), and
#   KEYRING_PATH                         where the key is kept (`.gpg`: apt reads it as binary);
#                                        all three from minaperf/signing_key.py, the one place
#                                        `python -m scripts.pin` also fetches the key from
#
# What it does (idempotent; GCE runs it on every boot):
#   1. fetches the repository signing key over HTTPS (once; checked against
#      SIGNING_KEY_FINGERPRINT when set) and adds
#      `deb [signed-by=<that key>] $APT_REPO_URL <codename> <channel>` to apt, so
#      apt verifies the repository's signed Release file (no `trusted=yes`, no plain HTTP),
#   2. installs MINA_PACKAGE=MINA_VERSION unless exactly that version is installed
#      (exits non-zero with a clear message when that fails),
#   3. creates the system user mina-worker,
#   4. writes the systemd template unit mina-snark-worker@.service (only when it changed;
#      daemon-reload only then); each instance keeps its proving keys in its CacheDirectory,
#   5. enables and starts instances 1..WORKER_PROCESSES and disables/stops any other instance a
#      previous run enabled; instances are restarted only when the unit or the package changed,
#   6. installs mina-worker-status (service + 30 s timer), which publishes the workers' state as
#      GCE guest attributes for `python -m scripts.experiment wait`.
#
# Paths can be redirected for tests: SANDBOX_ROOT prefixes /etc, /var/lib and /usr/local/bin
# (and skips the root check); APT_RETRIES / APT_RETRY_DELAY tune the apt retries.

set -euo pipefail

# @@MINAPERF_SETTINGS@@

readonly PROG=mina-snark-worker-setup
readonly SERVICE_USER=mina-worker
readonly UNIT_TEMPLATE=mina-snark-worker@.service
readonly STATE_DIR=/var/lib/mina-worker
readonly CACHE_DIR=/var/cache/mina-worker
readonly STATUS_EXEC=/usr/local/bin/mina-worker-status

ROOT=${SANDBOX_ROOT:-}
UNIT_DIR="$ROOT/etc/systemd/system"
APT_SOURCE="$ROOT/etc/apt/sources.list.d/mina.list"
OS_RELEASE="$ROOT/etc/os-release"
APT_RETRIES=${APT_RETRIES:-3}
APT_RETRY_DELAY=${APT_RETRY_DELAY:-15}

log() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

if [ "${MINAPERF_RENDERED:-}" != 1 ]; then
    die "this is the unrendered template; use minaperf.worker_script.render_worker_startup_script"
fi

# --- settings sanity (the renderer validates too; this keeps the unit file safe) -----------

case "$COORDINATOR_HOST" in
    '' | *[!A-Za-z0-9.-]*) die "invalid COORDINATOR_HOST '$COORDINATOR_HOST'" ;;
esac
case "$COORDINATOR_PORT" in
    '' | *[!0-9]*) die "invalid COORDINATOR_PORT '$COORDINATOR_PORT'" ;;
esac
case "$WORKER_PROCESSES" in
    '' | *[!0-9]*) die "invalid WORKER_PROCESSES '$WORKER_PROCESSES'" ;;
esac
if [ "$WORKER_PROCESSES" -lt 1 ] || [ "$WORKER_PROCESSES" -gt 256 ]; then
    die "WORKER_PROCESSES must be in 1..256, got $WORKER_PROCESSES"
fi
case "$PROOF_LEVEL" in
    full | check | none) ;;
    *) die "invalid PROOF_LEVEL '$PROOF_LEVEL'" ;;
esac
case "$SIGNING_KEY_FINGERPRINT" in
    *[!0-9A-F]*) die "invalid SIGNING_KEY_FINGERPRINT '$SIGNING_KEY_FINGERPRINT'" ;;
esac
for url in "$APT_REPO_URL" "$SIGNING_KEY_URL"; do
    case "$url" in
        https://*) ;;
        *) die "invalid URL '$url': the repository and its key are fetched over HTTPS only" ;;
    esac
done
case "$KEYRING_PATH" in
    /etc/apt/keyrings/*.gpg) ;;
    *) die "invalid KEYRING_PATH '$KEYRING_PATH'" ;;
esac
KEYRING="$ROOT$KEYRING_PATH"

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    die "must run as root (GCE runs startup scripts as root)"
fi

# --- helpers -------------------------------------------------------------------------------

# write_if_changed PATH MODE CONTENT: write CONTENT to PATH atomically unless PATH already holds
# exactly CONTENT. Returns 0 when it wrote, 1 when nothing changed (nothing is touched then).
write_if_changed() {
    local path=$1 mode=$2 content=$3 tmp
    if [ -f "$path" ] && [ "$(cat -- "$path" && printf .)" = "$content." ]; then
        return 1
    fi
    mkdir -p -- "$(dirname -- "$path")"
    tmp=$(mktemp "$path.XXXXXX")
    printf '%s' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    mv -f -- "$tmp" "$path"
    log "wrote $path"
    return 0
}

installed_state() {
    dpkg-query -W -f="\${Status} \${Version}" "$MINA_PACKAGE" 2>/dev/null || true
}

# --- 1. apt source -------------------------------------------------------------------------

codename=$APT_CODENAME
if [ -z "$codename" ]; then
    if [ -r "$OS_RELEASE" ]; then
        codename=$(sed -n 's/^VERSION_CODENAME=["'\'']\{0,1\}\([A-Za-z0-9._-]*\).*/\1/p' \
            "$OS_RELEASE" | head -n 1)
    fi
    [ -n "$codename" ] || die "cannot read VERSION_CODENAME from $OS_RELEASE; set apt_codename"
fi
case "$codename" in
    *[!A-Za-z0-9._-]*) die "invalid distribution codename '$codename'" ;;
esac
# key_fingerprint FILE: the fingerprint of the one primary key in FILE, or nothing when FILE
# holds no key, more than one primary key, or a revoked or expired one. The fingerprint is the
# `fpr` record right after the `pub` record of `gpg --with-colons` (gnupg doc/DETAILS: field 2
# validity, field 7 expiry in seconds since the epoch, field 10 the fingerprint);
# minaperf/signing_key.py (`python -m scripts.pin`) reads the listing by the same rule.
key_fingerprint() {
    local listing record validity expires field10 previous="" keys=0 fpr=""
    local pub_validity="" pub_expires=""
    listing=$(gpg --batch --show-keys --with-colons "$1" 2>/dev/null) || return 0
    while IFS=: read -r record validity _ _ _ _ expires _ _ field10 _; do
        case "$record" in
            pub)
                keys=$((keys + 1))
                pub_validity=$validity
                pub_expires=$expires
                ;;
            fpr) if [ "$previous" = pub ]; then fpr=$field10; fi ;;
        esac
        previous=$record
    done <<<"$listing"
    [ "$keys" = 1 ] || return 0
    case "$pub_validity" in *[re]*) return 0 ;; esac
    case "$pub_expires" in *[!0-9]*) return 0 ;; esac
    if [ -n "$pub_expires" ] && [ "$pub_expires" -le "$(date +%s)" ]; then
        return 0
    fi
    printf '%s\n' "$fpr"
}

if [ -n "$SIGNING_KEY_FINGERPRINT" ] && ! command -v gpg >/dev/null 2>&1; then
    # From Debian's own signed archive; needed only to check the fingerprint.
    apt-get -o DPkg::Lock::Timeout=300 update
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y gpg
fi
if [ ! -s "$KEYRING" ] || {
    [ -n "$SIGNING_KEY_FINGERPRINT" ] \
        && [ "$(key_fingerprint "$KEYRING")" != "$SIGNING_KEY_FINGERPRINT" ]
}; then
    mkdir -p -- "$(dirname -- "$KEYRING")"
    chmod 0755 "$(dirname -- "$KEYRING")"
    key_tmp=$(mktemp "$KEYRING.XXXXXX")
    if ! curl --proto '=https' --proto-redir '=https' --tlsv1.2 --fail --silent --show-error \
        --location --retry 3 --max-time 60 --output "$key_tmp" "$SIGNING_KEY_URL"; then
        rm -f -- "$key_tmp"
        die "could not fetch the repository signing key from $SIGNING_KEY_URL"
    fi
    if [ -n "$SIGNING_KEY_FINGERPRINT" ]; then
        fetched=$(key_fingerprint "$key_tmp")
        if [ "$fetched" != "$SIGNING_KEY_FINGERPRINT" ]; then
            rm -f -- "$key_tmp"
            die "the key at $SIGNING_KEY_URL has fingerprint '${fetched:-none: not exactly one unexpired, unrevoked primary key}', expected $SIGNING_KEY_FINGERPRINT; refusing to trust it"
        fi
    fi
    chmod 0644 "$key_tmp"
    mv -f -- "$key_tmp" "$KEYRING"
    log "installed repository signing key $KEYRING_PATH"
fi
apt_line="deb [signed-by=$KEYRING_PATH] $APT_REPO_URL $codename $APT_CHANNEL"
write_if_changed "$APT_SOURCE" 0644 "$apt_line"$'\n' || true

# --- 2. pinned package ---------------------------------------------------------------------

package_changed=0
wanted_state="install ok installed $MINA_VERSION"
current_state=$(installed_state)
if [ "$current_state" = "$wanted_state" ]; then
    log "$MINA_PACKAGE=$MINA_VERSION already installed"
else
    log "installing $MINA_PACKAGE=$MINA_VERSION from '$apt_line' (now: ${current_state:-not installed})"
    export DEBIAN_FRONTEND=noninteractive
    attempt=1
    while :; do
        if apt-get -o DPkg::Lock::Timeout=300 update \
            && apt-get -o DPkg::Lock::Timeout=300 install -y --allow-downgrades \
                "$MINA_PACKAGE=$MINA_VERSION"; then
            break
        fi
        if [ "$attempt" -ge "$APT_RETRIES" ]; then
            die "could not install $MINA_PACKAGE=$MINA_VERSION from '$apt_line' after $attempt attempt(s); see the apt-get output above"
        fi
        log "apt-get failed (attempt $attempt of $APT_RETRIES); retrying in ${APT_RETRY_DELAY}s"
        attempt=$((attempt + 1))
        sleep "$APT_RETRY_DELAY"
    done
    current_state=$(installed_state)
    if [ "$current_state" != "$wanted_state" ]; then
        die "apt-get reported success but $MINA_PACKAGE is '${current_state:-not installed}', expected $MINA_VERSION"
    fi
    package_changed=1
fi

# The Debian package installs the binary as /usr/local/bin/mina.
mina_exec=""
for candidate in /usr/local/bin/mina /usr/bin/mina; do
    if [ -x "$ROOT$candidate" ]; then
        mina_exec=$candidate
        break
    fi
done
if [ -z "$mina_exec" ] && [ -z "$ROOT" ]; then
    mina_exec=$(command -v mina || true)
fi
[ -n "$mina_exec" ] || die "$MINA_PACKAGE is installed but no mina executable was found"

# --- 3. service user -----------------------------------------------------------------------

if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER" \
        || die "could not create user $SERVICE_USER"
    log "created system user $SERVICE_USER"
fi

# --- 4. systemd template unit --------------------------------------------------------------

cpus=$(nproc)
case "$cpus" in
    '' | *[!0-9]*) die "nproc printed '$cpus'" ;;
esac
threads=$((cpus / WORKER_PROCESSES))
[ "$threads" -ge 1 ] || threads=1

unit="[Unit]
Description=Mina snark worker %i (coordinator $COORDINATOR_HOST:$COORDINATOR_PORT)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
User=$SERVICE_USER
StateDirectory=mina-worker/%i
# Proving keys: the worker builds them on first start under \$TMPDIR/coda_cache_dir
# (MinaProtocol/mina src/lib/cache_dir/cache_dir.ml: autogen_path = Filename.temp_dir_name
# ^/ \"coda_cache_dir\"; OCaml reads TMPDIR). A CacheDirectory survives restarts, PrivateTmp
# does not.
CacheDirectory=mina-worker/%i
Environment=TMPDIR=$CACHE_DIR/%i
Environment=RAYON_NUM_THREADS=$threads
ExecStart=$mina_exec internal snark-worker --daemon-address $COORDINATOR_HOST:$COORDINATOR_PORT --proof-level $PROOF_LEVEL --shutdown-on-disconnect false --config-directory $STATE_DIR/%i
Restart=always
RestartSec=10
StandardOutput=journal
StandardError=journal
NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"

unit_changed=0
if write_if_changed "$UNIT_DIR/$UNIT_TEMPLATE" 0644 "$unit"; then
    unit_changed=1
fi

# The status publisher (section 6) is written here so that one daemon-reload covers all units.
status_script=""
IFS= read -r -d '' status_script <<'MINAPERF_STATUS_EOF' || true
# @@MINAPERF_STATUS_SCRIPT@@
MINAPERF_STATUS_EOF
status_unit="[Unit]
Description=Publish the snark workers' state as GCE guest attributes
After=network-online.target

[Service]
Type=oneshot
Environment=WORKER_PROCESSES=$WORKER_PROCESSES
Environment=MINA_PACKAGE=$MINA_PACKAGE
ExecStart=$STATUS_EXEC
"
status_timer="[Unit]
Description=Publish the snark workers' state every 30 s

[Timer]
OnBootSec=30s
OnUnitActiveSec=30s
AccuracySec=5s

[Install]
WantedBy=timers.target
"
status_changed=0
if write_if_changed "$ROOT$STATUS_EXEC" 0755 "$status_script"; then
    status_changed=1
fi
if write_if_changed "$UNIT_DIR/mina-worker-status.service" 0644 "$status_unit"; then
    status_changed=1
fi
if write_if_changed "$UNIT_DIR/mina-worker-status.timer" 0644 "$status_timer"; then
    status_changed=1
fi
if [ "$unit_changed" -eq 1 ] || [ "$status_changed" -eq 1 ]; then
    systemctl daemon-reload
fi

# --- 5. instances --------------------------------------------------------------------------

instance_of() {
    local name=${1#mina-snark-worker@}
    printf '%s' "${name%.service}"
}

# Instances known to systemd or enabled by an earlier run (possibly with a larger count).
known_instances() {
    local link name _rest
    for link in "$UNIT_DIR"/*.wants/mina-snark-worker@*.service; do
        [ -e "$link" ] || [ -L "$link" ] || continue
        instance_of "${link##*/}"
        printf '\n'
    done
    systemctl list-units --all --plain --no-legend --type=service 'mina-snark-worker@*' \
        | while read -r name _rest; do
            case "$name" in
                mina-snark-worker@*.service)
                    instance_of "$name"
                    printf '\n'
                    ;;
            esac
        done
}

is_wanted() {
    case "$1" in
        '' | *[!0-9]* | 0*) return 1 ;;
    esac
    [ "$1" -le "$WORKER_PROCESSES" ]
}

while read -r instance; do
    [ -n "$instance" ] || continue
    if ! is_wanted "$instance"; then
        log "disabling surplus worker instance $instance"
        systemctl disable --now "mina-snark-worker@$instance.service"
    fi
done < <(known_instances | sort -u)

restart=$((unit_changed || package_changed))
for ((i = 1; i <= WORKER_PROCESSES; i++)); do
    name="mina-snark-worker@$i.service"
    if ! systemctl is-enabled --quiet "$name"; then
        systemctl enable "$name"
    fi
    if [ "$restart" -eq 1 ]; then
        systemctl restart "$name"
    elif ! systemctl is-active --quiet "$name"; then
        systemctl start "$name"
    fi
done

# --- 6. status publisher ---------------------------------------------------------------------

if ! systemctl is-enabled --quiet mina-worker-status.timer; then
    systemctl enable mina-worker-status.timer
fi
if [ "$status_changed" -eq 1 ]; then
    systemctl restart mina-worker-status.timer
elif ! systemctl is-active --quiet mina-worker-status.timer; then
    systemctl start mina-worker-status.timer
fi

log "ready: $WORKER_PROCESSES worker(s), RAYON_NUM_THREADS=$threads each, coordinator $COORDINATOR_HOST:$COORDINATOR_PORT"
