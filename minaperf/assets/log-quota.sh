#!/bin/sh
# Sidecar of an internal log fetcher shard: bound each node's output without breaking tracing.
#
# The fetcher writes per-node directories $OUTPUT_DIR/<pk[-8:]>-<host>-<port>/ and never prunes
# them. What may be done to each file follows from how upstream holds it
# (o1-labs/mina-internal-trace-consumer@46be56f, "ITC" below):
#   * *internal-trace.jsonl: the fetcher opens each once per worker with create+write+truncate,
#     no O_APPEND (internal-log-fetcher/src/utils.rs:20-24), keeps the handle for the worker's
#     life (src/mina_server.rs:16-18,96-123) and writes at its own offset
#     (mina_server.rs:50-51). The node's consumer tails internal-trace.jsonl and, once it is
#     gone, retries opening it every 20 s forever (src/trace_file_processor.ml:72-78,172-180).
#     Deleting such a file frees nothing while it is open and stops that node's traces;
#     truncating it leaves the writer's offset (a sparse file) and the tailer's read position
#     behind the end. So an open file is NEVER deleted or truncated: trace files of live
#     workers are bounded by sizing the volume (minaperf/services.py), not here.
#   * consumer-stdout.log / consumer-stderr.log: opened with O_APPEND by the fetcher for the
#     consumer (src/trace_consumer/worker.rs:36-46) and never rotated; the consumer logs every
#     line it processes at Debug (trace_file_processor.ml:112). Truncated IN PLACE once larger
#     than LOG_MAX_BYTES: an O_APPEND writer's next write lands at the new end, so nothing
#     breaks and the space comes back at once.
#   * files no process holds open (directories of a node's earlier address, leftovers of a
#     finished worker): deleted oldest first (by mtime, ties by path) while the node's
#     directory is above QUOTA_BYTES.
# "Open" means: some process's /proc/<pid>/fd/* resolves to the file. The pod shares one PID
# namespace (shareProcessNamespace) so this sidecar sees the fetcher's and consumers' fds. If a
# pass sees no open file under OUTPUT_DIR at all while node directories exist, it deletes
# nothing (it may simply not see the fetcher) and says so.
#
# Every pass writes $OUTPUT_DIR/quota-status.txt (atomically) and logs one summary line:
#   log-quota: nodes=<n> used_bytes=<b> open_bytes=<b> reclaimed_bytes=<b> truncated_bytes=<b>
#              volume_used_bytes=<b> volume_size_bytes=<b> volume_used_pct=<p>
# plus one line per node that lost files or had a log truncated, and a WARNING per node whose
# open files alone exceed the quota and when the volume is at least WARN_PCT full.
#
# Usage: log-quota.sh [--once]      (--once: one pass, then exit; used by the tests)
# Environment:
#   OUTPUT_DIR     required: the fetcher's output directory (-o)
#   QUOTA_BYTES    required: per-node quota in bytes (positive integer)
#   LOG_MAX_BYTES  size above which a consumer-*.log is truncated in place (default QUOTA/8)
#   INTERVAL       seconds between passes (default 60)
#   WARN_PCT       volume usage that triggers a warning (default 80)
#   PROC_DIR       where to look for open files (default /proc)
#
# POSIX sh; needs only find, stat -c, sort, grep, readlink, df, rm, mv and sleep (busybox
# applets), and writes nowhere but OUTPUT_DIR (the container's root filesystem is read-only).
set -eu

log() { printf 'log-quota: %s\n' "$*"; }
fail() {
	printf 'log-quota: %s\n' "$*" >&2
	exit 2
}

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
warn_pct=${WARN_PCT:-80}
proc_dir=${PROC_DIR:-/proc}
positive() {
	case $2 in '' | *[!0-9]*) fail "$1 must be a positive integer, got '$2'" ;; esac
	[ "$2" -gt 0 ] || fail "$1 must be positive"
}
positive QUOTA_BYTES "$QUOTA_BYTES"
positive INTERVAL "$interval"
positive WARN_PCT "$warn_pct"
log_max=${LOG_MAX_BYTES:-$((QUOTA_BYTES / 8 + 1))}
positive LOG_MAX_BYTES "$log_max"

# open_files OUT: every path under OUTPUT_DIR that a visible process holds open, one per line.
open_files() {
	for fd in "$proc_dir"/[0-9]*/fd/*; do
		target=$(readlink "$fd" 2>/dev/null) || continue
		case $target in "$root"/*) printf '%s\n' "${target% (deleted)}" ;; esac
	done | sort -u >"$1"
}

is_open() { grep -Fxq -- "$1" "$open_list"; }

# prune_node DIR NAME: one pass over one node's subtree; appends its status line.
prune_node() {
	dir=$1
	node=$2
	truncated=0
	# Consumer logs: truncate in place (O_APPEND writers, ITC worker.rs:36-46).
	for f in "$dir"/consumer-*.log; do
		[ -f "$f" ] && [ ! -L "$f" ] || continue
		size=$(stat -c %s "$f")
		if [ "$size" -gt "$log_max" ]; then
			: >"$f"
			truncated=$((truncated + size))
		fi
	done
	listing=$(find "$dir" -type f -exec stat -c '%Y %s %n' {} + 2>/dev/null | sort -k1,1n -k3) || true
	total=0
	open_bytes=0
	files=0
	if [ -n "$listing" ]; then
		while read -r _mtime size path; do
			total=$((total + size))
			files=$((files + 1))
			if is_open "$path"; then open_bytes=$((open_bytes + size)); fi
		done <<EOF
$listing
EOF
	fi
	removed=0
	removed_bytes=0
	if [ "$total" -gt "$QUOTA_BYTES" ] && [ "$can_delete" = true ]; then
		while read -r _mtime size path; do
			[ "$total" -gt "$QUOTA_BYTES" ] || break
			is_open "$path" && continue
			if rm -f -- "$path"; then
				total=$((total - size))
				removed=$((removed + 1))
				removed_bytes=$((removed_bytes + size))
			fi
		done <<EOF
$listing
EOF
	fi
	if [ "$removed" -gt 0 ] || [ "$truncated" -gt 0 ]; then
		log "node=$node removed_files=$removed removed_bytes=$removed_bytes truncated_bytes=$truncated remaining_bytes=$total quota=$QUOTA_BYTES"
	fi
	if [ "$open_bytes" -gt "$QUOTA_BYTES" ]; then
		log "WARNING: node=$node open files hold $open_bytes bytes > quota $QUOTA_BYTES; they are freed only when the fetcher respawns this node's worker"
	fi
	printf 'node=%s used_bytes=%s open_bytes=%s files=%s\n' "$node" "$total" "$open_bytes" "$((files - removed))" >>"$status_tmp"
	sum_used=$((sum_used + total))
	sum_open=$((sum_open + open_bytes))
	sum_reclaimed=$((sum_reclaimed + removed_bytes))
	sum_truncated=$((sum_truncated + truncated))
	nodes=$((nodes + 1))
}

prune_all() {
	[ -d "$OUTPUT_DIR" ] || {
		log "WARNING: $OUTPUT_DIR does not exist yet"
		return 0
	}
	root=$(cd "$OUTPUT_DIR" && pwd -P)
	# Scratch files live on the output volume: the container's root filesystem is read-only.
	open_list=$root/.open-files.tmp
	status_tmp=$root/.quota-status.tmp
	: >"$status_tmp"
	open_files "$open_list"
	can_delete=true
	has_dirs=false
	for d in "$root"/*/; do [ -d "$d" ] && has_dirs=true && break; done
	if [ "$has_dirs" = true ] && [ ! -s "$open_list" ]; then
		can_delete=false
		log "WARNING: no open file under $root is visible in $proc_dir (is the PID namespace shared?); deleting nothing"
	fi
	nodes=0 sum_used=0 sum_open=0 sum_reclaimed=0 sum_truncated=0
	for d in "$root"/*/ "$root"/.[!.]*/; do
		[ -d "$d" ] || continue
		[ ! -L "${d%/}" ] || continue
		d=${d%/}
		prune_node "$d" "${d##*/}"
	done
	rm -f -- "$open_list"
	# df -P: 1024-byte blocks; columns: filesystem, size, used, available, capacity, mount.
	# shellcheck disable=SC2046 # split the df line into its fields on purpose
	set -- $(df -P "$root" | sed -n 2p)
	vol_size=$(($2 * 1024))
	vol_used=$(($3 * 1024))
	pct=0
	[ "$vol_size" -gt 0 ] && pct=$((vol_used * 100 / vol_size))
	summary="nodes=$nodes used_bytes=$sum_used open_bytes=$sum_open reclaimed_bytes=$sum_reclaimed truncated_bytes=$sum_truncated volume_used_bytes=$vol_used volume_size_bytes=$vol_size volume_used_pct=$pct"
	printf 'summary %s\n' "$summary" >>"$status_tmp"
	mv -f -- "$status_tmp" "$root/quota-status.txt"
	log "$summary"
	if [ "$pct" -ge "$warn_pct" ]; then
		log "WARNING: volume $pct% full (warning at $warn_pct%); traces stop when it fills"
	fi
}

if [ "$once" = true ]; then
	prune_all
	exit 0
fi

trap 'exit 0' TERM INT
log "every ${interval}s: consumer logs above ${log_max} bytes truncated in place; closed files pruned to ${QUOTA_BYTES} bytes per node; open files never touched"
while :; do
	prune_all
	sleep "$interval" &
	wait $! || true
done
