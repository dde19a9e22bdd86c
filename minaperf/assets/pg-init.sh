#!/bin/sh
# initdb hook for the official postgres image: mount it executable (ConfigMap
# defaultMode 0555) as /docker-entrypoint-initdb.d/10-minaperf-schema.sh. The image
# runs it only on the first start, when PGDATA is empty, against a temporary server
# that listens on the Unix socket only.
#
# Environment:
#   SCHEMA_DIR          directory holding the files fetched by pg-fetch-schema.sh
#   SCHEMA_SHA256_FILE  the same pin list ("<64 hex>  <NAME>" per line)
#   POSTGRES_USER       set by the image (default postgres)
#   POSTGRES_DB         set by the image (default $POSTGRES_USER)
#   PGHOST, PGPORT      leave unset in the pod (psql then uses the image's socket and the
#                       temporary server's port); tests point them at their own server
#
# Every pinned file is verified again (defence in depth) before the first one is applied.
# The files are then applied in lexical (C locale) order, each with
# `psql -v ON_ERROR_STOP=1 --single-transaction`. Only the files named in the pin list
# are applied; anything else in SCHEMA_DIR is ignored. Exits non-zero, naming the file,
# on any missing file, mismatch or SQL error, which makes the image's entrypoint fail.
#
# The body runs in a subshell so that the script also behaves if the image sources it
# (a non-executable *.sh in initdb.d is sourced): its options and exits stay inside.
main() (
	set -euf

	log() { printf 'pg-init: %s\n' "$*" >&2; }
	die() {
		log "ERROR: $*"
		exit 1
	}

	: "${SCHEMA_DIR:?SCHEMA_DIR must be set}"
	: "${SCHEMA_SHA256_FILE:?SCHEMA_SHA256_FILE must be set}"
	user=${POSTGRES_USER:-postgres}
	db=${POSTGRES_DB:-$user}

	[ -r "$SCHEMA_SHA256_FILE" ] || die "pin list $SCHEMA_SHA256_FILE is not readable"

	names=''
	while IFS= read -r line || [ -n "$line" ]; do
		case $line in '' | '#'*) continue ;; esac
		# shellcheck disable=SC2086 # split "<hash>  <name>" on blanks on purpose
		set -- $line
		[ "$#" -eq 2 ] || die "malformed pin line: $line"
		want=$(printf '%s' "$1" | tr 'A-F' 'a-f')
		name=${2#\*}
		case $name in
		'' | . | .. | *[!A-Za-z0-9._-]*) die "unsafe file name in pin list: $name" ;;
		esac
		case $want in
		*[!0-9a-f]*) die "pin for $name is not a hex SHA-256: $want" ;;
		esac
		[ "${#want}" -eq 64 ] || die "pin for $name is not a 64-digit SHA-256: $want"
		[ -f "$SCHEMA_DIR/$name" ] || die "pinned schema file $name is missing from $SCHEMA_DIR"
		got=$(sha256sum <"$SCHEMA_DIR/$name" | cut -d ' ' -f 1)
		[ "$got" = "$want" ] || die "checksum mismatch for $name: pinned $want, found $got"
		names="$names
$name"
	done <"$SCHEMA_SHA256_FILE"
	[ -n "$names" ] || die "pin list $SCHEMA_SHA256_FILE lists no files"

	ordered=$(printf '%s\n' "$names" | LC_ALL=C sort | sed '/^$/d')
	log "verified: $(printf '%s' "$ordered" | tr '\n' ' ')"
	for name in $ordered; do
		log "applying $name to database $db"
		psql -X -q -v ON_ERROR_STOP=1 --no-password --single-transaction \
			--username "$user" --dbname "$db" -f "$SCHEMA_DIR/$name" ||
			die "applying $name failed; the data directory is now initialised without the full schema"
	done
	log "schema applied"
)

main
