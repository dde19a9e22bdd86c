#!/bin/sh
# Sidecar of the internal log fetcher: keep each node's output below a size quota.
#
# The fetcher writes per-node files under $OUTPUT_DIR/<node>/... and never prunes them.
# Every INTERVAL seconds this trims each node's subtree to at most QUOTA_BYTES (sum of
# the apparent sizes of its regular files) by deleting its oldest files first (by
# mtime, ties broken by path). The newest file of a node is never deleted: it is the
# one being written. Per node that lost files it logs one line:
#   log-quota: node=<node> removed_files=<n> removed_bytes=<b> remaining_bytes=<r> quota=<q>
# and a warning when the newest file alone is above the quota.
#
# Usage: log-quota.sh [--once]      (--once: one pass, then exit; used by the tests)
# Environment:
#   OUTPUT_DIR   required: the fetcher's output directory (-o)
#   QUOTA_BYTES  required: per-node quota in bytes (positive integer)
#   INTERVAL     seconds between passes (default 60)
#
# POSIX sh; needs only find, stat -c, sort, rm and sleep (busybox applets suffice).
# A file deleted while a process still holds it open frees its space only when that
# process closes it.
set -eu

log() { printf 'log-quota: %s\n' "$*"; }

once=false
case ${1:-} in
--once) once=true ;;
'') ;;
*)
	printf 'usage: %s [--once]\n' "$0" >&2
	exit 2
	;;
esac

: "${OUTPUT_DIR:?OUTPUT_DIR must be set}"
: "${QUOTA_BYTES:?QUOTA_BYTES must be set}"
interval=${INTERVAL:-60}
case $QUOTA_BYTES in '' | *[!0-9]*)
	printf 'log-quota: QUOTA_BYTES must be a positive integer, got %s\n' "$QUOTA_BYTES" >&2
	exit 2
	;;
esac
case $interval in '' | *[!0-9]*)
	printf 'log-quota: INTERVAL must be a positive integer, got %s\n' "$interval" >&2
	exit 2
	;;
esac
[ "$QUOTA_BYTES" -gt 0 ] || {
	printf 'log-quota: QUOTA_BYTES must be positive\n' >&2
	exit 2
}

# prune_node DIR NAME: one pass over one node's subtree.
prune_node() {
	dir=$1
	node=$2
	listing=$(find "$dir" -type f -exec stat -c '%Y %s %n' {} + 2>/dev/null | sort -k1,1n -k3) || true
	[ -n "$listing" ] || return 0
	total=0
	files=0
	while read -r _mtime size _path; do
		total=$((total + size))
		files=$((files + 1))
	done <<EOF
$listing
EOF
	[ "$total" -gt "$QUOTA_BYTES" ] || return 0

	removed=0
	removed_bytes=0
	i=0
	# Oldest first; the last line (the newest file) is never a candidate.
	while read -r _mtime size path; do
		i=$((i + 1))
		[ "$i" -lt "$files" ] || break
		[ "$total" -gt "$QUOTA_BYTES" ] || break
		if rm -f -- "$path"; then
			total=$((total - size))
			removed=$((removed + 1))
			removed_bytes=$((removed_bytes + size))
		fi
	done <<EOF
$listing
EOF
	if [ "$removed" -gt 0 ]; then
		log "node=$node removed_files=$removed removed_bytes=$removed_bytes remaining_bytes=$total quota=$QUOTA_BYTES"
	fi
	if [ "$total" -gt "$QUOTA_BYTES" ]; then
		log "WARNING: node=$node newest file alone exceeds the quota: remaining_bytes=$total quota=$QUOTA_BYTES"
	fi
}

prune_all() {
	[ -d "$OUTPUT_DIR" ] || {
		log "WARNING: $OUTPUT_DIR does not exist yet"
		return 0
	}
	for d in "$OUTPUT_DIR"/*/ "$OUTPUT_DIR"/.[!.]*/; do
		[ -d "$d" ] || continue
		[ ! -L "${d%/}" ] || continue
		d=${d%/}
		prune_node "$d" "${d##*/}"
	done
}

if [ "$once" = true ]; then
	prune_all
	exit 0
fi

trap 'exit 0' TERM INT
log "pruning $OUTPUT_DIR every ${interval}s to ${QUOTA_BYTES} bytes per node"
while :; do
	prune_all
	sleep "$interval" &
	wait $! || true
done
