"""Evaluations per second of the Python SDK, for `npm run bench`.

    python3 sdk/python/bench.py            # table
    python3 sdk/python/bench.py --json     # one JSON object per scenario
"""

from __future__ import annotations

import json
import logging
import sys
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
    if "--json" in sys.argv:
        for row in rows:
            print(json.dumps(row))
        return
    print(f"Python SDK (experimentation, CPython {sys.version.split()[0]}) — evaluations per second")
    print(f"{'scenario':<16} {'evaluate_flag':>14} {'client.get_value':>17}")
    for row in rows:
        print(f"{row['scenario']:<16} {row['evaluate_flag_per_s']:>14,} {row['client_get_value_per_s']:>17,}")


if __name__ == "__main__":
    main()
