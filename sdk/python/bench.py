"""Evaluations per second of the Python SDK, for `npm run bench`.

    python3 sdk/python/bench.py            # table
    python3 sdk/python/bench.py --json     # one JSON object per scenario
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from experimentation import Client, compile_ruleset, evaluate_flag  # noqa: E402

BOOL = [{"key": "off", "value": False}, {"key": "on", "value": True}]
RULESET: dict[str, Any] = {
    "schemaVersion": 1,
    "environment": "bench",
    "version": 1,
    "experiments": {
        "checkout": {"hashAttribute": "id", "seed": "checkout", "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
                     "variations": [{"key": "control"}, {"key": "treatment"}]},
    },
    "flags": {
        "static": {"variations": BOOL, "default": 1, "off": 0},
        "one-condition": {"variations": BOOL, "default": 0, "off": 0,
                          "rules": [{"id": "us", "type": "force", "condition": {"country": "US"}, "variation": 1}]},
        "ten-conditions": {"variations": BOOL, "default": 0, "off": 0, "rules": [{"id": "all", "type": "force", "variation": 1, "condition": {
            "country": {"$in": ["US", "CA", "GB"]}, "plan": {"$ne": "free"}, "age": {"$gte": 18, "$lt": 65},
            "appVersion": {"$vgte": "2.3.0"}, "email": {"$regex": "^[a-z.]+@"}, "tags": {"$elemMatch": {"$eq": "early"}},
            "device.os": {"$in": ["ios", "android"]}, "$or": [{"seats": {"$gt": 5}}, {"vip": True}],
            "beta": {"$exists": True}, "locale": {"$nin": ["fr-FR"]}}}]},
        "rollout": {"variations": BOOL, "default": 0, "off": 0,
                    "rules": [{"id": "ramp", "type": "rollout", "variation": 1, "coverage": 0.5, "hashAttribute": "id", "seed": "rollout", "hashVersion": 2}]},
        "experiment": {"variations": BOOL, "default": 0, "off": 0,
                       "rules": [{"id": "exp", "type": "experiment", "experiment": "checkout", "variations": [0, 1]}]},
    },
}
ATTRIBUTES = {"country": "US", "plan": "pro", "age": 30, "appVersion": "2.3.1", "email": "jo.doe@x.io", "tags": ["early"],
              "device": {"os": "ios"}, "seats": 10, "beta": False, "locale": "en-US"}
SCENARIOS = [("static flag", "static"), ("one condition", "one-condition"), ("ten conditions", "ten-conditions"),
             ("rollout 50%", "rollout"), ("experiment", "experiment")]
USERS = [f"user-{i}" for i in range(1000)]


def rate(fn: Callable[[int], object], seconds: float = 0.4) -> float:
    """Calls fn(i) repeatedly for about `seconds` and returns calls per second (best of three)."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while True:
            for i in range(500):
                fn(i)
            n += 500
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, n / elapsed)
    return best


def large_ruleset(n: int, seed: str = "") -> dict[str, Any]:
    """`n` flags as a real environment has them: saved groups, several conditions per flag (shared
    segments), a percentage rollout, an experiment on every tenth flag."""
    groups = {f"seg-{g}": [f"user-{g}-{i}" for i in range(1000)] for g in range(5)}
    experiments: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    for i in range(n):
        key = f"flag-{i}"
        rules: list[dict[str, Any]] = [
            {"id": "staff", "type": "force", "condition": {"email": {"$regex": "@shop\\.example$"}}, "variation": 1},
            {"id": "seg", "type": "force", "condition": {"id": {"$inGroup": f"seg-{i % 5}"}, "country": {"$in": ["US", "CA", "GB"]}}, "variation": 1},
            {"id": "vip", "type": "force", "variation": 1, "condition": {
                "plan": {"$ne": "free"}, "age": {"$gte": 18, "$lt": 65}, "appVersion": {"$vgte": "2.3.0"}, "device.os": "ios", "cartValue": {"$gt": 500}}},
        ]
        if i % 10 == 0:
            experiments[f"exp-{i}"] = {"hashAttribute": "id", "seed": f"exp-{i}", "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
                                       "variations": [{"key": "control"}, {"key": "treatment"}]}
            rules.append({"id": "exp", "type": "experiment", "experiment": f"exp-{i}", "variations": [0, 1]})
        rules.append({"id": "ramp", "type": "rollout", "hashAttribute": "id", "seed": key + seed, "hashVersion": 2, "coverage": (i % 100) / 100, "variation": 1})
        flags[key] = {"variations": BOOL, "default": 0, "off": 0, "rules": rules}
    return {"schemaVersion": 1, "environment": "bench", "version": 1, "savedGroups": groups, "experiments": experiments, "flags": flags}


def compile_costs(n: int = 2000) -> dict[str, Any]:
    """Applying a ruleset of `n` flags as a refresh does (parse the JSON text, compile): the time for a new
    ruleset and for one where a single flag changed, and the longest an evaluation in another thread
    waited meanwhile (the best of three rounds each)."""
    first, changed, stall = [], [], []
    previous = compile_ruleset(large_ruleset(n))
    for round_ in range(3):
        text = json.dumps(large_ruleset(n, f"-{round_}"))  # every flag differs from the last ruleset compiled
        edited = json.loads(text)
        edited["flags"]["flag-3"]["default"] = 1
        edited_text = json.dumps(edited)
        worst, stop = [0.0], threading.Event()

        def evaluate() -> None:
            context = {"attributes": {"id": "x", "country": "US"}}
            while not stop.is_set():
                t = time.perf_counter()
                evaluate_flag(previous, "flag-5", context)
                worst[0] = max(worst[0], time.perf_counter() - t)
        thread = threading.Thread(target=evaluate)
        thread.start()
        time.sleep(0.05)
        worst[0] = 0.0
        t0 = time.perf_counter()
        compile_ruleset(json.loads(text))
        t1 = time.perf_counter()
        compile_ruleset(json.loads(edited_text))
        t2 = time.perf_counter()
        stop.set()
        thread.join()
        first.append(t1 - t0)
        changed.append(t2 - t1)
        stall.append(worst[0])
    return {"scenario": f"apply {n:,} flags", "bytes": len(text), "new_ms": round(min(first) * 1000),
            "one_flag_changed_ms": round(min(changed) * 1000), "max_wait_other_thread_ms": round(min(stall) * 1000, 1)}


def main() -> None:
    logging.getLogger("experimentation").setLevel(logging.CRITICAL)
    compiled = compile_ruleset(RULESET)
    contexts = [{"attributes": {**ATTRIBUTES, "id": u}} for u in USERS]
    users = [{"id": u, "attributes": ATTRIBUTES} for u in USERS]
    rows = []
    with Client("bench-key", "http://127.0.0.1:9", bootstrap=RULESET, streaming=False, poll_interval=0,
                wait_for_ruleset=False, timeout=0.1, log_exposures=False) as client:
        for label, key in SCENARIOS:
            def direct_call(i: int, key: str = key) -> object:
                return evaluate_flag(compiled, key, contexts[i % 1000])

            def client_call(i: int, key: str = key) -> object:
                return client.get_value(key, users[i % 1000], False)
            direct = rate(direct_call)
            via_client = rate(client_call)
            assert evaluate_flag(compiled, key, contexts[0]).error_code is None
            rows.append({"scenario": label, "evaluate_flag_per_s": round(direct), "client_get_value_per_s": round(via_client)})
    costs = compile_costs()
    if "--json" in sys.argv:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps(costs))
        return
    print(f"Python SDK (experimentation, CPython {sys.version.split()[0]}) — evaluations per second")
    print(f"{'scenario':<16} {'evaluate_flag':>14} {'client.get_value':>17}")
    for row in rows:
        print(f"{row['scenario']:<16} {row['evaluate_flag_per_s']:>14,} {row['client_get_value_per_s']:>17,}")
    print(f"{costs['scenario']} ({costs['bytes'] / 1e6:.2f} MB of JSON, parsed and compiled, as a refresh does):"
          f" {costs['new_ms']} ms new, {costs['one_flag_changed_ms']} ms with one flag changed;"
          f" an evaluation in another thread waited at most {costs['max_wait_other_thread_ms']} ms")


if __name__ == "__main__":
    main()
