#!/bin/sh
# Fetch the pinned upstream database schema and verify it before anyone can use it.
#
# Runs in an init container of the PostgreSQL pod (any image with POSIX sh, curl and
# sha256sum, e.g. curlimages/curl; busybox applets are enough).
#
# Environment (all required):
#   SCHEMA_BASE_URL     URL of the schema directory at the pinned commit; file NAME is
#                       downloaded from "$SCHEMA_BASE_URL/NAME".
#   SCHEMA_SHA256_FILE  pin list in `sha256sum -c` format: "<64 hex>  <NAME>" per line
#                       (blank lines and lines starting with # are ignored). NAME is a
#                       plain file name: letters, digits, '.', '_' and '-' only.
#   SCHEMA_DIR          existing directory that receives the verified files.
# Optional:
#   FETCH_RETRIES       curl --retry count (default 3)
#   FETCH_TIMEOUT       curl --max-time per file, seconds (default 60)
#
# Files are downloaded into a staging directory inside SCHEMA_DIR and moved into
# SCHEMA_DIR only after every file has been verified. Any download failure, missing
# file or checksum mismatch makes the script exit 1 with a message naming the file;
# a bad pin list or environment exits 2. In both cases no pinned file is left in
# SCHEMA_DIR (copies left there by an earlier run are removed first).
set -euf # -f: no globbing; pin lines are split on blanks below

log() { printf 'pg-fetch-schema: %s\n' "$*" >&2; }
die() {
	code=$1
	shift
	log "ERROR: $*"
	exit "$code"
}

: "${SCHEMA_BASE_URL:?SCHEMA_BASE_URL must be set}"
: "${SCHEMA_SHA256_FILE:?SCHEMA_SHA256_FILE must be set}"
: "${SCHEMA_DIR:?SCHEMA_DIR must be set}"
retries=${FETCH_RETRIES:-3}
timeout=${FETCH_TIMEOUT:-60}

[ -r "$SCHEMA_SHA256_FILE" ] || die 2 "pin list $SCHEMA_SHA256_FILE is not readable"
[ -d "$SCHEMA_DIR" ] || die 2 "target directory $SCHEMA_DIR does not exist"

# Parse and validate the whole pin list before touching anything.
names=''
count=0
while IFS= read -r line || [ -n "$line" ]; do
	case $line in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086 # split "<hash>  <name>" on blanks on purpose
	set -- $line
	[ "$#" -eq 2 ] || die 2 "malformed pin line (want '<sha256>  <name>'): $line"
	hash=$1
	name=${2#\*}
	case $hash in
	*[!0-9a-fA-F]*) die 2 "pin for $name is not a hex SHA-256: $hash" ;;
	esac
	[ "${#hash}" -eq 64 ] || die 2 "pin for $name is not a 64-digit SHA-256: $hash"
	case $name in
	'' | . | .. | *[!A-Za-z0-9._-]*) die 2 "unsafe file name in pin list: $name" ;;
	esac
	case " $names " in
	*" $name "*) die 2 "file listed twice in pin list: $name" ;;
	esac
	names="$names $name"
	count=$((count + 1))
done <"$SCHEMA_SHA256_FILE"
[ "$count" -gt 0 ] || die 2 "pin list $SCHEMA_SHA256_FILE lists no files"

# Drop copies from an earlier run: only files verified by this run may remain.
for name in $names; do
	rm -f "$SCHEMA_DIR/$name"
done

staging=$(mktemp -d "$SCHEMA_DIR/.staging.XXXXXX")
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

base=${SCHEMA_BASE_URL%/}
for name in $names; do
	log "downloading $name"
	if ! curl -fsS --retry "$retries" --max-time "$timeout" -o "$staging/$name" "$base/$name"; then
		die 1 "could not download $name from $base/$name (missing file or network error); refusing"
	fi
done

while IFS= read -r line || [ -n "$line" ]; do
	case $line in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086 # split "<hash>  <name>" on blanks on purpose
	set -- $line
	want=$(printf '%s' "$1" | tr 'A-F' 'a-f')
	name=${2#\*}
	got=$(sha256sum <"$staging/$name" | cut -d ' ' -f 1)
	if [ "$got" != "$want" ]; then
		die 1 "checksum mismatch for $name: pinned $want, downloaded $got; refusing"
	fi
	log "verified $name sha256=$got"
done <"$SCHEMA_SHA256_FILE"

moved=''
for name in $names; do
	if ! mv "$staging/$name" "$SCHEMA_DIR/$name"; then
		for m in $moved; do rm -f "$SCHEMA_DIR/$m"; done
		die 1 "could not move $name into $SCHEMA_DIR"
	fi
	moved="$moved $name"
done
log "all $count schema files verified into $SCHEMA_DIR"
