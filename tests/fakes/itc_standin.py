"""Stand-ins for the internal log fetcher's file handling and its consumer's tailing.

Run as a separate process (`python -m tests.fakes.itc_standin fetcher|consumer DIR`) so that its
open files are seen in /proc exactly as the real fetcher's and consumer's are. Behaviour copied
from o1-labs/mina-internal-trace-consumer@46be56f (ITC):

fetcher: per node directory, opens `consumer-stdout.log` and `consumer-stderr.log` with
  create+append (internal-log-fetcher/src/trace_consumer/worker.rs:36-46) and
  `internal-trace.jsonl` lazily on the first entry with create+write+TRUNCATE, no append
  (src/utils.rs:13-27, src/mina_server.rs:96-123); keeps every handle for its whole life
  (mina_server.rs:16-18) and writes each entry as one JSON line at its own offset
  (mina_server.rs:50-51). Commands on stdin: `trace N` (N lines), `log N` (N bytes to
  consumer-stdout.log), `quit`. Replies `ok` per command.
consumer: `process --trace-file` tails the trace file: reads whole lines, at EOF stats the path
  and treats a missing file or a new inode as "file changed" and reopens, retrying a failed open
  after a delay forever (src/trace_file_processor.ml:72-99,146-184). Writes the number of lines
  read and the number of reopen events as `lines reopens` to the file named by the third
  argument (outside DIR, so that it is no file of the node's).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

TRACE = "internal-trace.jsonl"  # ITC src/trace_consumer/mod.rs:6


def fetcher(node_dir: Path) -> None:
    node_dir.mkdir(parents=True, exist_ok=True)  # mina_server.rs:23
    append = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    stdout_fd = os.open(node_dir / "consumer-stdout.log", append, 0o644)
    os.open(node_dir / "consumer-stderr.log", append, 0o644)
    trace_fd: int | None = None
    seq = 0
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "quit":
            break
        if cmd == "trace":
            if trace_fd is None:  # utils.rs:20-24: create, write, truncate; no O_APPEND
                trace_fd = os.open(node_dir / TRACE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for _ in range(int(arg)):
                seq += 1
                entry = json.dumps(["Checkpoint", 1_746_628_222.0 + seq, {"id": seq}])
                os.write(trace_fd, entry.encode() + b"\n")
        elif cmd == "log":
            os.write(stdout_fd, b"d" * int(arg))
        print("ok", flush=True)


def consumer(node_dir: Path, progress: Path, retry_seconds: float = 0.2) -> None:
    path = node_dir / TRACE
    lines = reopens = 0

    def report() -> None:
        tmp = progress.with_suffix(".tmp")
        tmp.write_text(f"{lines} {reopens}\n")
        tmp.replace(progress)

    while True:
        try:
            handle = path.open("rb")
            inode = os.fstat(handle.fileno()).st_ino
        except OSError:  # trace_file_processor.ml:172-180: retry the open forever
            report()
            time.sleep(retry_seconds)
            continue
        pending = b""
        with handle:
            while True:
                chunk = handle.readline()
                if chunk.endswith(b"\n"):
                    lines += 1
                    pending = b""
                    continue
                pending += chunk
                report()
                try:  # trace_file_processor.ml:72-78: removed or replaced -> "file changed"
                    changed = os.stat(path).st_ino != inode
                except OSError:
                    changed = True
                if changed:
                    reopens += 1
                    break
                time.sleep(0.05)


if __name__ == "__main__":
    mode, directory = sys.argv[1], Path(sys.argv[2])
    if mode == "fetcher":
        fetcher(directory)
    else:
        consumer(directory, Path(sys.argv[3]))
