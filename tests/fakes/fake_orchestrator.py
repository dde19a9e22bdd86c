#!/usr/bin/env python3
"""Stand-in for the Go ITN orchestrator, speaking its documented protocol (perf-services §1).

`fake_orchestrator.py <config.json> < script`. Exit codes as at HEAD: no argument → 1,
unreadable config → 2, bad JSON / bad key → 3, not exactly one of onlineURL/aws → 11; a failing
step ends the run silently with 0. Logs go to stderr in go-log's tab-separated form (and are
appended to the config's logFile); outputs are JSON lines on stdout.

A failing step ends the run silently with exit 0, as upstream (o1-labs/mina-perf-testing@7da1f2c
orchestrator/src/itn_orchestrator/main.go:48 discards RunActions' error). Switches (env):
FAIL_AT_STEP=N (fail that step, exit 0), CRASH_AT_STEP=N (Go-style panic, exit 2),
HANG_AT_STEP=N (sleep until killed), FAKE_PARTICIPANTS=a:1,b:2 (nodes discovery already knows;
otherwise /v1/online from onlineURL, then each node's ITN auth), FAKE_MINUTE_SEC (seconds per
upstream minute of retry pauses, default 0.01), STOP_RECORD_FILE (append one JSON line per
stop), FAKE_STOP_FAIL=1, FAKE_INVOCATIONS_FILE (append one line per start),
FAKE_SCHEDULER_FILE (the daemons' handle table, default ./.fake-scheduler.json),
FAKE_FORGET_FIRST=1 (the first node forgets its handle),
FAKE_CLOCK_OFFSET_SEC (shift this process's clock), FAKE_FUND_FAIL=1 (fund-keys fails: WARN only),
FAKE_STOP_DELAY_SEC (each stop step waits that long first), LIBRARY_ERROR_AT_STEP=N (an ERROR line
from a library at that step; the run goes on),
FAKE_FAIL_ONLY_IN=TEXT (the three step switches apply only when the config path contains TEXT:
one run of many fails).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import math
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2i
import nacl.secret
import nacl.signing
import nacl.utils


class StepError(Exception):
    pass


class GoPanicError(Exception):
    """A runtime panic: Go prints it and exits 2."""


# The `actions` map (orchestrator.go:285-290 looks the name up; an unknown one ends the run
# before its step marker, and main.go:48 drops the error: exit 0, nothing printed).
ACTIONS = frozenset(
    {
        "load-keys", "discovery", "payments", "zkapp-txs", "stop", "stop-daemon", "restart",
        "wait", "fund-keys", "rotate-balance", "join", "except", "sample", "slots-won",
        "slots-covered-check", "allocate-slots", "isolate", "reset-gating",
        "set-zkapp-soft-limit",
    }
)  # fmt: skip
# Go integer fields of each action's params struct (payments.go:10-19, zkapp.go:11-27,
# misc.go:22-26, fund.go:15-22, keyloader.go:62-66, discovery.go:29-34, slots_allocation.go:12-21):
# encoding/json takes only an integer literal in the type's range there.
INT_PARAMS: dict[str, dict[str, str]] = {
    "wait": {"min": "int", "sec": "int", "slot": "int"},
    "payments": {"durationMin": "int", "maxFee": "uint64", "minFee": "uint64", "amount": "uint64"},
    "zkapp-txs": {
        "durationMin": "int", "maxFee": "uint64", "minFee": "uint64", "zkapps": "int",
        "queueSize": "int", "gap": "int", "minBalanceChange": "uint64",
        "maxBalanceChange": "uint64", "deploymentFee": "uint64",
    },
    "fund-keys": {"amount": "uint64", "fee": "uint64", "num": "int"},
    "load-keys": {"limit": "int"},
    "discovery": {"limit": "int"},
    "allocate-slots": {"minSlots": "int", "maxSlots": "int"},
}  # fmt: skip
GO_RANGES = {"int": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1)}
GO_KINDS = {list: "array", int: "number", float: "number", bool: "bool"}  # encoding/json names
GO_SPACE = " \t\r\n"  # encoding/json's whitespace; a form feed or NBSP is a syntax error


def _refuse_constant(name: str) -> None:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _go_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} overflows float64")
    return value


def _merge_pairs(pairs: list[tuple[str, object]]) -> dict:
    """A key given twice: Go decodes both values into the same map or struct, so two objects
    merge (the later keys win) and a bad key of the first is still there."""
    merged: dict = {}
    for key, value in pairs:
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def check_ints(action: str, params: dict) -> None:
    for name, kind in INT_PARAMS.get(action, {}).items():
        value = params.get(name)
        low, high = GO_RANGES[kind]
        if value is not None and (type(value) is not int or not low <= value <= high):
            raise StepError(f"json: cannot unmarshal {json.dumps(value)} into Go {kind} ({name})")


LOG_FILE: Path | None = None


def now() -> datetime:
    """This process's clock; FAKE_CLOCK_OFFSET_SEC shifts it (a run that started long ago)."""
    return datetime.now(UTC) + timedelta(seconds=float(os.environ.get("FAKE_CLOCK_OFFSET_SEC", 0)))


def log(level: str, message: str) -> None:
    stamp = now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = f"{stamp}\t{level}\titn orchestrator\t{message}\n"
    sys.stderr.write(line)
    sys.stderr.flush()
    if LOG_FILE is not None:
        with LOG_FILE.open("a") as sink:
            sink.write(line)


def output(step: int, name: str, value: Any, multi: bool, cache: dict, sensitive: bool = False):
    entry = cache.setdefault(step, {}).get(name)
    if entry is not None and not (multi and entry["multi"]):
        raise StepError(f"Error outputting multiple values for {name} on step {step}")
    if entry is None:
        cache[step][name] = {"multi": multi, "values": [value]}
    else:
        entry["values"].append(value)
    if sensitive:
        return
    line: dict[str, Any] = {
        "time": now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "step": step,
        "name": name,
    }
    if multi:
        line["multi"] = True
    line["value"] = value
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def load_output_file(path: str) -> dict:
    cache: dict = {}
    for raw in Path(path).read_text().splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        entry = cache.setdefault(line["step"], {}).get(line["name"])
        if entry is None:
            cache[line["step"]][line["name"]] = {
                "multi": bool(line.get("multi")),
                "values": [line["value"]],
            }
        elif line.get("multi") and entry["multi"]:
            entry["values"].append(line["value"])
        else:
            raise StepError(f"wrong output file {path}")
    return cache


def resolve(value: Any, step: int, caches: dict) -> Any:
    if not isinstance(value, dict):
        return value  # only JSON objects are references; arrays of objects are literals
    if value.get("type") != "output":
        raise StepError(f"unknown type {value.get('type', '')} needed for step {step}")
    ref_step, name, file = value.get("step", 0), value.get("name", ""), value.get("file", "")
    if ref_step < 0 and file:
        raise StepError(f"use of negative step with file is prohibited, needed for step {step}")
    if file not in caches:
        try:
            caches[file] = load_output_file(file)
        except (OSError, ValueError) as error:
            raise StepError(f"failed to read output file {file}: {error}") from error
    if ref_step < 0:
        ref_step += step
    entry = caches[file].get(ref_step, {}).get(name)
    if entry is None:
        if "onEmpty" in value:
            return value["onEmpty"]
        raise StepError(f"couldn't find output {name} (step {ref_step}) needed for step {step}")
    return list(entry["values"]) if entry["multi"] else entry["values"][0]


# --- Discovery: the uptime backend, then the ITN `auth` of each node (discovery.go) -------------

AUTH_QUERY = (  # orchestrator/genqlient.graphql:1-9
    "query auth() {\n    auth {\n        serverUuid\n        signerSequenceNumber\n"
    "        libp2pPort\n        peerId\n        isBlockProducer\n    }\n}\n"
)
NODE_DATA: dict[str, dict] = {}  # config.NodeData: nodes authenticated earlier in this run


def minute() -> float:
    """Seconds the fake sleeps for one of upstream's minutes (FAKE_MINUTE_SEC, default 0.01)."""
    return float(os.environ.get("FAKE_MINUTE_SEC") or 0.01)


def config_field(config: dict, name: str) -> Any:
    """A config key as encoding/json matches it: without case."""
    return next((v for k, v in config.items() if k.lower() == name.lower()), None)


def _go_uint16(value: Any, name: str) -> int:
    """itn_json_types.UnmarshalUint16 (json_types/types.go:34-44): only a string token, parsed
    by strconv.ParseUint(…, 10, 16)."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: not a string token")
    if not value.isascii() or not value.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{value}": invalid syntax')
    if int(value) > 0xFFFF:
        raise ValueError(f'strconv.ParseUint: parsing "{value}": value out of range')
    return int(value)


def _submission(entry: Any) -> tuple[str, int, str]:
    """One MiniMetaToBeSaved (data.go:13-17): a uint16 port, string address and submitter."""
    if not isinstance(entry, dict):
        raise ValueError("json: cannot unmarshal into Go value of type MiniMetaToBeSaved")
    port, addr, submitter = (
        config_field(entry, name) for name in ("graphql_control_port", "remote_addr", "submitter")
    )
    if port is not None and (type(port) is not int or not 0 <= port <= 0xFFFF):
        raise ValueError(
            f"json: cannot unmarshal {json.dumps(port)} into Go struct field "
            "MiniMetaToBeSaved.graphql_control_port of type uint16"
        )
    for name, text in (("remote_addr", addr), ("submitter", submitter)):
        if text is not None and not isinstance(text, str):
            raise ValueError(
                f"json: cannot unmarshal {json.dumps(text)} into Go struct field "
                f"MiniMetaToBeSaved.{name} of type string"
            )
    return addr or "", port or 0, submitter or ""


def submissions(config: dict) -> list[tuple[str, int, str]]:
    """retryGetURL (discovery.go:49-77): 5 attempts a minute apart; a status is no error (only
    the body counts), `null` is no submission. Its loop declares a new `err` (discovery.go:52),
    so when every attempt fails it returns no submissions and no error."""
    for attempt in range(1, 6):
        try:
            try:
                with urllib.request.urlopen(config_field(config, "onlineURL"), timeout=10) as got:  # noqa: S310
                    body = got.read()
            except urllib.error.HTTPError as error:
                body = error.read()
            contents = json.loads(body, parse_constant=_refuse_constant) or []
            if not isinstance(contents, list):
                raise ValueError("json: cannot unmarshal into Go value of type []MiniMetaToBeSaved")
            return [_submission(entry) for entry in contents]
        except (OSError, ValueError) as error:
            log("WARN", f"Attempt {attempt} failed: {error}\n")
            if attempt < 5:
                log("WARN", "Retrying in 1m0s...\n")
                time.sleep(minute())
    return []


def node_address(config: dict, remote_addr: str, port: int) -> str:
    """config.nodeAddress (discovery.go:96-105): ports from 10000 pick a URL override."""
    overrides = config_field(config, "UrlOverrides") or []
    if port >= 10000 and len(overrides) > port // 10000 - 1:
        return overrides[port // 10000 - 1].replace("{}", str(port % 10000)) + ":80"
    return f"{remote_addr}:{port}"


def authenticate(config: dict, address: str) -> dict:
    """NewGqlClient (graphql.go:105-127): the `auth` query signed with the config's key
    (Authenticator.Do, graphql.go:65-74); the answer's UInt16 fields are JSON strings."""
    seed = base64.b64decode(config_field(config, "key") or "")
    if not seed:  # SetupConfig takes a missing key as a nil ed25519.PrivateKey
        raise GoPanicError("ed25519: bad private key length: 0")
    body = json.dumps({"query": AUTH_QUERY, "operationName": "auth"}).encode()
    signing = nacl.signing.SigningKey(seed[:32])
    public = base64.b64encode(bytes(signing.verify_key)).decode()
    signature = base64.b64encode(signing.sign(body).signature).decode()
    request = urllib.request.Request(
        f"http://{address}/graphql",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Signature {public} {signature}",
        },
    )
    try:
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                payload = json.load(answer)
        except urllib.error.HTTPError as error:  # genqlient: any status but 200 is an error
            text = error.read().decode(errors="replace")
            raise ValueError(f"returned error {error.code} {error.reason}: {text}") from None
        if payload.get("errors"):
            raise ValueError(f"input:1: {payload['errors'][0].get('message')}")
        auth = payload["data"]["auth"]
        entry = {
            "serverUuid": str(auth["serverUuid"]),
            "seqno": _go_uint16(auth["signerSequenceNumber"], "signerSequenceNumber"),
            "libp2pPort": _go_uint16(auth["libp2pPort"], "libp2pPort"),
            "isBlockProducer": auth.get("isBlockProducer") is True,
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise StepError(f"failed to authorize client {address}: {error}") from None
    return entry


def discover_once(config: dict, params: dict, step: int, cache: dict) -> str | None:
    """discoverParticipantsDo (discovery.go:107-179); the failure's text, or None. A node known
    from an earlier discovery is not authenticated again (:158-159); FAKE_PARTICIPANTS lists
    such nodes (not block producers) and stands for the uptime backend."""
    listed = os.environ.get("FAKE_PARTICIPANTS")
    if listed is not None:
        for address in filter(None, listed.split(",")):
            NODE_DATA.setdefault(address, {"isBlockProducer": False})
        found = [(a, "") for a in filter(None, listed.split(","))]
    else:
        found = [
            (node_address(config, addr, port), submitter)
            for addr, port, submitter in submissions(config)
        ]
    count, seen, new = 0, set(), {}
    for address, submitter in found:
        if address in seen:
            continue
        seen.add(address)
        entry = NODE_DATA.get(address)
        if entry is None:
            try:
                entry = new[address] = authenticate(config, address)
            except StepError as error:
                log("WARN", f"Error on auth for {address} ({submitter}): {error}")
                continue
        if entry["isBlockProducer"] and params.get("noBPs"):
            continue
        if not entry["isBlockProducer"] and params.get("onlyBPs"):
            continue
        limit = params.get("limit") or 0
        if limit <= 0 or count < limit:
            output(step, "participant", address, True, cache)
        count += 1
    NODE_DATA.update(new)
    if count < (params.get("limit") or 0) and params.get("exactly"):
        return "failed to discover the exact number of nodes"
    return "didn't find any participants" if count == 0 else None


def discover(config: dict, params: dict, step: int, cache: dict) -> None:
    """DiscoverParticipants (discovery.go:181-199): three tries; after the first two a WARN and
    a pause of 10, then 20 minutes (scaled by FAKE_MINUTE_SEC); the third's error ends the step."""
    for pause in (10, 20, 40):
        failure = discover_once(config, params, step, cache)
        if failure is None:
            return
        if pause <= 20:
            log("WARN", f"Failed to discover participants, retrying in {pause} minutes: {failure}")
            time.sleep(pause * minute())
    raise StepError(failure)


def _table_path() -> Path:
    return Path(os.environ.get("FAKE_SCHEDULER_FILE") or ".fake-scheduler.json")


def scheduler_table() -> dict:
    """The daemons' schedule handles (mina_graphql.ml `scheduler_tbl`), shared by every run."""
    path = _table_path()
    return json.loads(path.read_text()) if path.exists() else {}


def save_table(table: dict) -> None:
    _table_path().write_text(json.dumps(table))


def stop_receipts(receipts: list) -> None:
    """stop.go:12-26: try every receipt, log each success, fail with the joined errors. The daemon
    forgets a handle once its durationMin is over or once stopped (mina_graphql.ml
    schedule_payments: `Uuid.Table.remove scheduler_tbl uuid`), and then answers
    `Could not find scheduled transactions with handle …` (stop_scheduled_transactions)."""
    table = scheduler_table()
    errors = []
    for receipt in receipts:
        handle, address = receipt.get("handle"), receipt.get("address")
        entry = table.get(handle)
        if os.environ.get("FAKE_STOP_FAIL"):
            errors.append(
                f"error stoping transactions at {handle} on {address}: connection refused"
            )
        elif entry is None or entry["address"] != address or entry["expires"] <= now().timestamp():
            # each daemon holds its own table: another node has never heard of this handle
            if entry is not None and entry["address"] == address:
                del table[handle]  # its duration ran out: the daemon forgot it
            errors.append(
                f"error stoping transactions at {handle} on {address}: "
                f"Could not find scheduled transactions with handle {handle}"
            )
        else:
            del table[handle]
            log(
                "INFO",
                f"stopped scheduled transactions at {handle} on {address}: "
                f"Requesting stop of scheduled transactions with handle {handle}",
            )
    save_table(table)
    if errors:
        raise StepError("\n".join(errors))


def _go_int(value: float) -> int:
    """int(float64) on amd64: NaN, ±Inf and values past int64 become math.MinInt64."""
    if value != value or not -(2.0**63) <= value < 2.0**63:
        return -(2**63)
    return int(value)


def select_nodes(tps: float, min_tps: float, nodes: list) -> tuple[float, list]:
    """selectNodes (misc.go:206-216): floor(tps/minTps) nodes (shuffled there, in order here)
    at tps/that each, or every node at tps/len(nodes). A negative count is a slice panic."""
    if min_tps == 0:
        ratio = float("nan") if tps == 0 else math.copysign(float("inf"), tps)
    else:
        ratio = tps / min_tps
    kept = _go_int(math.floor(ratio) if math.isfinite(ratio) else ratio)
    if kept >= len(nodes):
        return (tps / len(nodes) if nodes else math.inf), nodes
    if kept < 0:
        raise GoPanicError(f"runtime error: slice bounds out of range [:{kept}]")
    return (tps / math.floor(ratio) if kept else math.inf), nodes[:kept]


def daemon_refusal(params: dict, fee_payers: list) -> str | None:
    """What every daemon answers to schedule_payments / schedule_zkapp_commands
    (mina_graphql.ml): fees out of order, or no sender."""
    if params.get("maxFee", 0) < params.get("minFee", 0):
        return "Maximum fee less than mininum fee"
    return None if fee_payers else "Empty list of senders"


def schedule(step: int, action: str, params: dict, cache: dict) -> None:
    """SchedulePayments (payments.go:64-108) and SendZkappCommands (zkapp.go:119-169): fee
    payers split evenly over the selected nodes; a refused node is a WARN and its share moves
    on; when the last node failed, one successful node takes the rest; the last error ends
    the step. Each receipt is output as `receipt` and `participant` (payments.go:117-120)."""
    what = "payment" if action == "payments" else "zkapp"
    if action == "zkapp-txs":
        if not params.get("zkapps") and not params.get("gap"):  # zkapp.go:120-122
            raise StepError("either zkappsToDeploy or gap parameters should be specified")
        if not params.get("nodes"):  # zkapp.go:123-125
            raise StepError("no nodes specified")
    total = float(params.get("tps") or 0)
    tps, nodes = select_nodes(total, float(params.get("minTps") or 0), params.get("nodes") or [])
    if not nodes:
        raise GoPanicError("runtime error: integer divide by zero")  # payments.go:66
    remaining = list(params.get("feePayers") or [])
    per_node, remaining_tps = len(remaining) // len(nodes), total
    successful: list[str] = []
    error: str | None = None
    forget_first = bool(os.environ.get("FAKE_FORGET_FIRST"))  # e.g. that daemon restarted

    def attempt(node: str, tps: float, fee_payers: list) -> str | None:
        refusal = daemon_refusal(params, fee_payers)
        if refusal is not None:
            return refusal
        handle, table = str(uuid.uuid4()), scheduler_table()
        if not (forget_first and not successful):
            expires = now().timestamp() + float(params.get("durationMin") or 0) * 60
            table[handle] = {"address": node, "expires": expires}  # known to `node` only
        save_table(table)
        log(
            "INFO",
            f"scheduled {what} batch {len(successful)} with tps {tps:f} for {node}: {handle}",
        )
        output(step, "receipt", {"address": node, "handle": handle}, True, cache)
        output(step, "participant", node, True, cache)
        return None

    for index, node in enumerate(nodes):
        error = attempt(node, tps, remaining[:per_node])
        if error is not None:
            kind = "payments" if action == "payments" else "zkapp txs"
            log("WARN", f"error scheduling {kind} for {node}: {error}")
            left = len(nodes) - index - 1
            if left > 0:
                tps, per_node = remaining_tps / left, len(remaining) // left
            continue
        successful.append(node)
        remaining, remaining_tps = remaining[per_node:], remaining_tps - tps
    if error is not None:
        for node in successful:  # payments.go:92-106: a second batch on one node
            second = attempt(node, tps, remaining)
            if second is None:
                return
            kind = "payments" if action == "payments" else "zkapp txs"
            log("WARN", f"error scheduling second batch of {kind} for {node}: {second}")
        raise StepError(error)


# --- Key files: the daemon's secret box as keyloader.go reads it --------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BOX_VERSION = 0x02  # keyloader.go:26
PRIVATE_KEY_VERSION = 0x5A  # keyloader.go:120, an `EK…` string
# What the fake's `fund-keys` encrypts with: the cheapest argon2i cost libsodium accepts (the CLI
# uses the daemon's 128 MiB / 6 passes; the cost is time, scaled down like the retries).
FUND_PWDIFF = (8192, 3)


def _checksum(raw: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]


def b58check_decode(text: str) -> tuple[bytes, int]:
    """btcutil base58.CheckDecode: (payload, version); a bad character decodes to nothing."""
    number = 0
    for char in text:
        digit = _B58.find(char)
        if digit < 0:
            number, text = 0, ""
            break
        number = number * 58 + digit
    raw = b"\0" * (len(text) - len(text.lstrip("1")))
    raw += number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    if len(raw) < 5:
        raise ValueError("invalid format: version and/or checksum bytes missing")
    if _checksum(raw[:-4]) != raw[-4:]:
        raise ValueError("checksum error")
    return raw[1:-4], raw[0]


def b58check_encode(version: int, payload: bytes) -> str:
    raw = bytes([version]) + payload
    raw += _checksum(raw)
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def _box_fields(data: bytes) -> dict[str, Any]:
    """`json.Unmarshal(bs, &box)` with its error ignored (keyloader.go:86-87): text that is not
    JSON leaves every field empty; otherwise fields fill in document order (names match without
    case) until one's UnmarshalJSON fails — a base58check value of another version or a pwdiff
    that is not two uint32 (keyloader.go:19-51) — and the fields after it stay empty."""
    try:
        pairs = json.loads(
            data,
            object_pairs_hook=list,
            parse_constant=_refuse_constant,
            parse_float=_go_float,
        )
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    box: dict[str, Any] = {}
    for key, value in pairs if isinstance(pairs, list) else []:
        name = key.lower() if isinstance(key, str) else ""
        if name in ("box_primitive", "pw_primitive"):
            if isinstance(value, str):  # a type mismatch is saved and decoding goes on
                box[name] = value
        elif name in ("nonce", "pwsalt", "ciphertext"):
            if not isinstance(value, str):
                break  # "not a string token"
            try:
                payload, version = b58check_decode(value)
            except ValueError:
                break
            if version != BOX_VERSION:
                break  # "wrong version byte"
            box[name] = payload
        elif name == "pwdiff":
            if not (
                isinstance(value, list)
                and len(value) == 2
                and all(type(v) is int and 0 <= v < 2**32 for v in value)
            ):
                break  # []uint32 fails to decode, or "wrong limits format"
            box[name] = tuple(value)
    return box


def decode_private_key(data: bytes, password: bytes) -> bytes:
    """DecodePrivateKey (keyloader.go:85-101): argon2.Key(password, salt, ops, mem/1024 KiB, 1
    thread, 32 bytes), then secretbox.Open with the nonce copied into 24 bytes."""
    box = _box_fields(data)
    if box.get("box_primitive") != "xsalsa20poly1305" or box.get("pw_primitive") != "argon2i":
        raise StepError("unknown primitive type")  # keyloader.go:88-89
    mem, ops = box.get("pwdiff", (0, 0))
    if ops < 1:  # golang.org/x/crypto argon2.go deriveKey: "number of rounds too small"
        raise GoPanicError("argon2: number of rounds too small")
    memlimit = max(mem // 1024, 8) * 1024  # argon2.go: memory at least 8 KiB per thread
    salt = box.get("pwsalt", b"")
    try:
        key = nacl.pwhash.argon2i.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            password,
            salt,
            opslimit=ops,
            memlimit=memlimit,
        )
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as error:
        # Go derives keys libsodium refuses (opslimit < 3, a salt not of 16 bytes): the fake
        # cannot, and says so instead of guessing upstream's outcome.
        raise StepError(
            f"fake orchestrator: libsodium refuses this argon2i input: {error}"
        ) from error
    nonce = (box.get("nonce", b"") + bytes(24))[:24]
    try:
        return nacl.secret.SecretBox(key).decrypt(box.get("ciphertext", b""), nonce)
    except (nacl.exceptions.CryptoError, ValueError) as error:
        raise StepError("failed to unseal key") from error  # keyloader.go:96-98


def encrypt_private_key(secret: bytes, password: bytes) -> str:
    """A key file as `mina advanced itn-create-accounts` writes one (the daemon's secret box)."""
    salt = nacl.utils.random(nacl.pwhash.argon2i.SALTBYTES)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    mem, ops = FUND_PWDIFF
    key = nacl.pwhash.argon2i.kdf(32, password, salt, opslimit=ops, memlimit=mem)
    sealed = nacl.secret.SecretBox(key).encrypt(secret, nonce).ciphertext
    return json.dumps(
        {
            "box_primitive": "xsalsa20poly1305",
            "pw_primitive": "argon2i",
            "nonce": b58check_encode(BOX_VERSION, nonce),
            "pwsalt": b58check_encode(BOX_VERSION, salt),
            "pwdiff": list(FUND_PWDIFF),
            "ciphertext": b58check_encode(BOX_VERSION, sealed),
        }
    )


def password_from(params: dict) -> bytes:
    """`passwordEnv` names the variable; unset or absent, the password is empty
    (keyloader.go:104-110, fund.go:78-81)."""
    name = params.get("passwordEnv") or ""
    return os.environ.get(name, "").encode() if name else b""


def load_keys(step: int, params: dict, cache: dict) -> None:
    """LoadPrivateKeyFiles (keyloader.go:103-127): every entry of `dir` but `*.pub`, in name
    order (listKeyfiles, misc.go:246-260), decrypted in turn; the first failure ends the step.
    Each key is output as an `EK…` string, multi and sensitive (never printed)."""
    password = password_from(params)
    directory = params.get("dir") or ""
    try:
        if not directory:
            raise FileNotFoundError  # os.ReadDir("") (misc.go:248)
        names = sorted(os.listdir(directory))
    except OSError as error:
        reason = (error.strerror or "no such file or directory").lower()
        raise StepError(f"open {directory}: {reason}") from None
    limit = params.get("limit") or 0
    for i, name in enumerate(n for n in names if not n.endswith(".pub")):
        path = f"{directory}{os.sep}{name}"
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise StepError(f"failed to read keyfile {path}: {error.strerror}") from None
        try:
            secret = decode_private_key(data, password)
        except StepError as error:  # errors.Join (keyloader.go:78-81)
            raise StepError(f"{error}\nfailed decoding private key from file {path}") from None
        output(step, "key", b58check_encode(PRIVATE_KEY_VERSION, secret), True, cache, True)
        if limit > 0 and i + 1 >= limit:
            break


# --- allocate-slots: Karmarkar-Karp over the slots each IP won (slots_allocation.go) -----------


def _join_slots(a: list[int], b: list[int]) -> list[int]:
    """joinSlots (slots_allocation.go:165-193): merge two ascending lists, dropping a value equal
    to the last one kept (unsorted input merges as it comes)."""
    merged: list[int] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if merged and a[i] == merged[-1]:
            i += 1
        elif merged and b[j] == merged[-1]:
            j += 1
        elif a[i] <= b[j]:
            merged.append(a[i])
            i += 1
        else:
            merged.append(b[j])
            j += 1
    for rest in (a[i:], b[j:]):
        for value in rest:
            if not merged or value != merged[-1]:
                merged.append(value)
    return merged


Entry = tuple[list[int], list[str]]  # slotEntry: (slots, ips)


def _merge_tuples(x: list[Entry], y: list[Entry]) -> tuple[list[Entry], int]:
    """mergeSlotTuplesDo (slots_allocation.go:48-63): pairwise union, sorted by slot count."""
    entries = sorted(
        ((_join_slots(a[0], b[0]), a[1] + b[1]) for a, b in zip(x, y, strict=True)),
        key=lambda e: len(e[0]),
    )
    return entries, len(entries[-1][0]) - len(entries[0][0])


def _next_permutation(entries: list[Entry]) -> bool:
    """NextPermutation (misc.go:58-80) ordered by slot count, in place."""
    n = len(entries) - 1
    if n < 1:
        return False
    j = n - 1
    while len(entries[j][0]) >= len(entries[j + 1][0]):
        if j == 0:
            return False
        j -= 1
    last = n
    while len(entries[j][0]) >= len(entries[last][0]):
        last -= 1
    entries[j], entries[last] = entries[last], entries[j]
    entries[j + 1 :] = entries[j + 1 :][::-1]
    return True


def _merge_with(x: list[Entry], y: list[Entry]) -> tuple[list[Entry], int]:
    """slotTuple.mergeWith (slots_allocation.go:65-89): up to 5 groups, the best pairing over
    every permutation of y; more, y reversed."""
    if len(y) > 5:
        return _merge_tuples(x, y[::-1])
    best = _merge_tuples(x, y)
    while best[1] != 0 and _next_permutation(y):
        candidate = _merge_tuples(x, y)
        if candidate[1] < best[1]:
            best = candidate
    return best


def _partition(ip_slots: dict[str, list[int]], groups: int, end_slot: int) -> list[Entry]:
    """partitionNumSets (slots_allocation.go:132-161): a max-heap on the difference; Go's map
    order is random, so ties may pair differently there."""
    heap: list[tuple[int, int, list[Entry]]] = []
    for ip, slots in ip_slots.items():
        kept = [s for s in slots if s <= end_slot]  # filterLte (misc.go:82-87) on sorted slots
        if not kept:
            continue
        if groups == 0:
            raise GoPanicError("runtime error: index out of range [-1]")  # entries[groups-1]
        entries: list[Entry] = [([], []) for _ in range(groups - 1)] + [(kept, [ip])]
        heapq.heappush(heap, (-len(kept), len(heap), entries))
    if not heap:
        raise GoPanicError("partitionNumSets: empty heap")  # slots_allocation.go:152-154
    order = len(heap)
    while len(heap) > 1:
        _, _, x = heapq.heappop(heap)
        _, _, y = heapq.heappop(heap)
        merged, diff = _merge_with(x, y)
        order += 1
        heapq.heappush(heap, (-diff, order, merged))
    return heap[0][2]


def _int_list(value: Any, name: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise StepError(
            f"json: cannot unmarshal {json.dumps(value)} into Go value of type []int ({name})"
        )
    return value


def allocate_slots(step: int, params: dict, cache: dict) -> None:
    """AllocateSlots (slots_allocation.go:240-283) and its outputs (:287-299): `nextEmptySlot`,
    `lastSlot`, then `group<j>` for each entry of `groups` (single values, not multi)."""
    group_sizes = _int_list(params.get("groups"), "groups")
    if any(n <= 0 for n in group_sizes):
        raise StepError("groups should be positive")  # slots_allocation.go:241-247
    ip_addrs: dict[str, list[str]] = {}
    ip_slots: dict[str, list[int]] = {}
    all_slots: list[int] = []
    for won in params.get("slotsWon") or []:
        if not isinstance(won, dict):
            raise StepError("json: cannot unmarshal into Go value of type SlotsWonOutput")
        slots = _int_list(won.get("slots"), "slots")
        if not slots:
            continue
        address = str(won.get("address") or "")
        if ":" not in address:  # addr[:strings.IndexRune(addr, ':')] (slots_allocation.go:256)
            raise GoPanicError("runtime error: slice bounds out of range [:-1]")
        ip = address[: address.index(":")]
        ip_addrs.setdefault(ip, []).append(address)
        ip_slots[ip] = _join_slots(ip_slots.get(ip, []), slots)
        all_slots = _join_slots(all_slots, slots)
    if not ip_slots:
        raise StepError("no slots won provided")  # slots_allocation.go:261-263
    empty = all_slots[0]  # slots_allocation.go:264-270: one past the first run, or its end
    for slot in all_slots[1:]:
        empty += 1
        if slot > empty:
            break
    output(step, "nextEmptySlot", empty, False, cache)
    ip_slots = {ip: [s for s in slots if s > empty] for ip, slots in ip_slots.items()}  # filterGt
    groups = sum(group_sizes)
    end, last_end = empty + (params.get("minSlots") or 0), empty + (params.get("maxSlots") or 0)
    best, best_end = _partition(ip_slots, groups, end), end  # allocateSlotsDo (:216-231)
    best_diff = len(best[-1][0]) - len(best[0][0])
    while best_diff > 0 and end < last_end:
        end += 1
        entries = _partition(ip_slots, groups, end)
        diff = len(entries[-1][0]) - len(entries[0][0])
        if diff < best_diff:
            best, best_end, best_diff = entries, end, diff
    output(step, "lastSlot", best_end, False, cache)
    log("INFO", f"Split to {groups} groups: {best_diff} difference, last slot {best_end}")
    start = 0
    for j, size in enumerate(group_sizes):  # arrangeGroups (slots_allocation.go:198-212)
        addresses, slots = [], []
        for entry_slots, ips in best[start : start + size]:
            addresses += [a for ip in ips for a in ip_addrs[ip]]
            slots = _join_slots(slots, entry_slots)
        output(step, f"group{j}", addresses, False, cache)
        log("INFO", f"Slots for group {j}: [{' '.join(map(str, slots))}]")
        start += size


def slots_covered_check(params: dict) -> None:
    """SlotsCoveredCheck (slots_won.go:55-78): distinct slots over the span from the lowest to
    the highest. With no slot the span is 0 - MaxInt + 1, the proportion -0: below any positive
    threshold, not below 0."""
    covered: set[int] = set()
    for won in params.get("slotsWon") or []:
        if not isinstance(won, dict):
            raise StepError("json: cannot unmarshal into Go value of type SlotsWonOutput")
        covered.update(_int_list(won.get("slots"), "slots"))
    low, high = min(covered, default=2**63 - 1), max(covered, default=0)
    proportion = len(covered) / (high - low + 1)
    threshold = float(params.get("threshold") or 0)
    if proportion < threshold:
        raise StepError(
            f"proportion {proportion:f} of slots covered by queried nodes is lower than "
            f"threshold {threshold:f}"
        )
    log("INFO", f"Total {proportion * 100:.2f}% of slots are covered")


def run_step(config: dict, step: int, action: str, params: dict, cache: dict) -> None:
    check_ints(action, params)
    if action == "isolate" and any(":" not in n for n in params.get("nodes") or []):
        raise GoPanicError("runtime error: slice bounds out of range [:-1]")  # gating.go:17
    if action == "rotate-balance":  # RotateBalance's checks before any request (rotate.go:38-55)
        keys, mapping = params.get("pubkeys") or [], _int_list(params.get("mapping"), "mapping")
        if len(params.get("servers") or []) != len(keys):
            raise StepError("length of list of rest servers is not equal to number of key files")
        if len(mapping) != len(keys):
            raise StepError("length of mapping is not equal to number of key files")
        if float(params.get("ratio") or 0) < 1e-3:
            raise StepError("ratio too small")
        if any(not 0 <= m < len(keys) for m in mapping):
            raise StepError("wrong index in the mapping")
    if action == "discovery":
        discover(config, params, step, cache)
    elif action == "allocate-slots":
        allocate_slots(step, params, cache)
    elif action in ("payments", "zkapp-txs"):
        schedule(step, action, params, cache)
    elif action == "stop":
        receipts = params.get("receipts") or []
        if not isinstance(receipts, list) or not all(isinstance(r, dict) for r in receipts):
            raise StepError("json: cannot unmarshal receipts")
        time.sleep(float(os.environ.get("FAKE_STOP_DELAY_SEC") or 0))  # a slow daemon
        record = os.environ.get("STOP_RECORD_FILE")
        if record:
            with open(record, "a") as sink:
                sink.write(json.dumps({"step": step, "receipts": receipts}) + "\n")
        stop_receipts(receipts)
    elif action == "wait":
        seconds = float(params.get("min") or 0) * 60 + float(params.get("sec") or 0)
        time.sleep(seconds)
    elif action == "load-keys":
        load_keys(step, params, cache)
    elif action == "join":
        for i in range(1, 10):
            for member in params.get(f"group{i}") or []:
                output(step, "group", member, True, cache)
    elif action == "except":
        excluded = set(params.get("except") or [])
        for member in params.get("group") or []:
            if member not in excluded:
                output(step, "group", member, True, cache)
    elif action == "sample":
        group, start = list(params.get("group") or []), 0
        for i, ratio in enumerate(params.get("ratios") or [], start=1):
            size = int(len(group) * ratio)
            output(step, f"group{i}", group[start : start + size], False, cache)
            start += size
        output(step, "rest", group[start:], False, cache)
    elif action == "slots-won":
        for node in params.get("nodes") or []:
            output(step, "slotsWon", {"address": node, "slots": []}, True, cache)
    elif action == "set-zkapp-soft-limit":
        for node in params.get("nodes") or []:
            output(step, "participant", node, True, cache)
    elif action == "slots-covered-check":
        slots_covered_check(params)
    elif action == "restart" and not config_field(config, "controlExec"):
        raise StepError("no restart exec provided")  # restart.go:19-21
    # fund-keys, stop-daemon, isolate, reset-gating, rotate-balance, …: nothing to print.


def dropped(message: str, code: int) -> int:
    """RunActions' OrchestratorError, which main.go:48 drops: exit 0, nothing printed. With
    FAKE_DROPPED_ERROR_FILE set, the fake writes it there so tests can tell failures apart."""
    record = os.environ.get("FAKE_DROPPED_ERROR_FILE")
    if record:
        Path(record).write_text(json.dumps({"code": code, "message": message}))
    return 0


def env_step(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else None


def main() -> int:
    global LOG_FILE
    if len(sys.argv) < 2:
        sys.stderr.write("No config provided")
        return 1
    invocations = os.environ.get("FAKE_INVOCATIONS_FILE")
    if invocations:
        with open(invocations, "a") as sink:
            sink.write(json.dumps({"argv": sys.argv, "cwd": os.getcwd()}) + "\n")
    try:
        text = Path(sys.argv[1]).read_text()
    except OSError as error:
        sys.stderr.write(f"failed to load config {sys.argv[1]}: {error}")
        return 2
    try:
        config = json.loads(text)
        key = base64.b64decode(config_field(config, "key") or "", validate=True)
        if config_field(config, "key") is not None and len(key) != 32:
            raise ValueError("wrong size of Private key")
    except (ValueError, binascii.Error) as error:
        sys.stderr.write(f"failed to decode config {sys.argv[1]}: {error}")
        return 3
    if (config.get("aws") is None) == (not config.get("onlineURL")):
        sys.stderr.write("Neither aws nor online url configured")
        return 11
    LOG_FILE = Path(config["logFile"]) if config.get("logFile") else None
    log("INFO", "Launching logging: [itn orchestrator]")
    fail_at, crash_at, hang_at = (
        env_step(n) for n in ("FAIL_AT_STEP", "CRASH_AT_STEP", "HANG_AT_STEP")
    )
    stream, pos, step = sys.stdin.read(), 0, 0
    decoder = json.JSONDecoder(
        parse_constant=_refuse_constant, parse_float=_go_float, object_pairs_hook=_merge_pairs
    )
    if os.environ.get("FAKE_FAIL_ONLY_IN", "") not in sys.argv[1]:
        fail_at = crash_at = hang_at = None
    if re.match(r'"stop \d+ scheduled transaction receipt', stream):
        fail_at = crash_at = hang_at = None  # failure switches target experiment runs only
    caches: dict = {"": {}}
    batch: list[dict] = []

    def flush_batch() -> None:
        """main.go:34-46: the marker carries main's `step` (always 0) and len-0; RunActions
        ignores handlePrevAction's error (orchestrator.go:275-277): a failed fund-keys leaves only
        WARN retry lines (misc.go:234-236), never an ERROR."""
        if not batch:
            return
        log("INFO", f"Performing steps fund-keys (0-{len(batch)})")
        for params in batch:
            if os.environ.get("FAKE_FUND_FAIL"):
                log("WARN", "Failed to run fund command, retrying in 1 minutes: exit status 1")
                continue
            prefix, privkeys = params.get("prefix", ""), params.get("privkeys") or []
            password = password_from(params)  # the CLI's MINA_PRIVKEY_PASS (fund.go:70)
            Path(prefix).parent.mkdir(parents=True, exist_ok=True)
            for i in range(len(privkeys)):  # fund.go:50-62: --key-prefix <prefix>-<i>
                share = params["num"] // len(privkeys) + (i < params["num"] % len(privkeys))
                for n in range(share):
                    secret = b"\x01" + nacl.utils.random(31) + b"\x00"  # a scalar below q
                    Path(f"{prefix}-{i}-{n}").write_text(encrypt_private_key(secret, password))
                    Path(f"{prefix}-{i}-{n}.pub").write_text("B62q")
        batch.clear()

    while True:
        while pos < len(stream) and stream[pos] in GO_SPACE:
            pos += 1
        if pos >= len(stream):
            break
        try:
            value, pos = decoder.raw_decode(stream, pos)
        except ValueError as error:  # syntax, NaN, overflow: orchestrator.go:260-266
            return dropped(f"Error decoding command for step {step}: {error}", 5)
        if value is None or isinstance(value, str):
            # a string is a comment, and so is `null`: decoding it into the comment string is
            # a no-op that succeeds (orchestrator.go:120-123); logged and echoed raw (:269-272)
            log("INFO", value or "")
            sys.stderr.write((value or "") + "\n")
            continue
        command = value if isinstance(value, dict) else {}
        action, raw_params = command.get("action", ""), command.get("params") or {}
        if command is not value or not isinstance(action, str) or not isinstance(raw_params, dict):
            return dropped(  # CommandOrComment (orchestrator.go:120-130): not a Command
                f"Error decoding command for step {step}: json: cannot unmarshal "
                f"{GO_KINDS.get(type(value), 'object')} into Go value of type "
                "itn_orchestrator.Command",
                5,
            )
        if action != "fund-keys":
            flush_batch()
        try:  # orchestrator.go:278-284, before the action is looked up
            params = {k: resolve(v, step, caches) for k, v in raw_params.items()}
        except StepError as error:
            return dropped(f"Error resolving params for step {step}: {error}", 6)
        if action not in ACTIONS:  # orchestrator.go:285-290: no marker
            return dropped(f"Unknown action name: {action}", 10)
        if action == "fund-keys":
            base = Path(params.get("prefix", "")).parent
            if base.exists():  # fund.go:146-156 Validate, orchestrator.go:295-300
                return dropped(
                    f"Error validating action 'fund-keys' for step {step}: path '{base}' "
                    "already exists. Please re-generate script using unique experiment name "
                    "or different '-fund-keys-dir' CLI argument value",
                    1,
                )
            batch.append(params)
            step += 1
            continue
        log("INFO", f"Performing step {action} ({step})")
        if step == crash_at:
            sys.stderr.write(
                "panic: runtime error: invalid memory address or nil pointer dereference\n"
                "[signal SIGSEGV: segmentation violation]\n\ngoroutine 1 [running]:\n"
            )
            sys.stderr.flush()
            return 2
        if step == hang_at:
            while True:
                time.sleep(3600)
        if step == fail_at:
            return 0  # a failing step ends the run; main.go:48 discards the error unprinted
        if step == env_step("LIBRARY_ERROR_AT_STEP"):
            # Not the orchestrator's own code (it logs at WARN and goes on, payments.go:76):
            # a library it links logging through go-log at ERROR, and the step carrying on.
            log("ERROR", "graphql: transport failure, response dropped")
        try:
            run_step(config, step, action, params, caches[""])
        except StepError as error:  # orchestrator.go:308-314, dropped: no ERROR line
            return dropped(f"Error running step {step}: {error}", 9)
        except GoPanicError as panic:
            sys.stderr.write(f"panic: {panic}\n\ngoroutine 1 [running]:\n")
            return 2
        step += 1
    if batch:  # main.go:50-56: a trailing batch's error is printed, and exits 1
        flush_batch()
        if os.environ.get("FAKE_FUND_FAIL"):
            sys.stderr.write("Error: Error running previous action: fund failed")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
