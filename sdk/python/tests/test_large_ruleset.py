"""A large generated ruleset evaluated for a few thousand users: the results equal the JavaScript
evaluator's (fixtures/large-ruleset-expected.json, written by fixtures/gen_large_expected.mjs), on the
first compile and on a refresh that reuses the unchanged flags; the type-specialised condition tests
agree with the generic JavaScript-semantics helpers they stand for."""

from __future__ import annotations

import copy
import json
import math
import unittest
from pathlib import Path
from typing import Any

from experimentation import compile_ruleset, eval_condition, evaluate_flag
from experimentation.conditions import js_lower
from experimentation.jsvalue import less_than, strict_equals, to_js_number
from experimentation.version import padded_version_string

FIXTURE = Path(__file__).parent / "fixtures" / "large-ruleset-expected.json"
FLAGS = 24
USERS = 1500
COUNTRIES = ["US", "CA", "GB", "DE", "FR", "IN", "BR"]
# Attribute values of every JSON type, numbers as strings, arrays: what the specialised tests must handle.
ODD = [None, True, False, 0, 1, -1, 17.5, 18, 65, 500, 501, "18", "65.0", " 42 ", "", "abc", "0x1f", "2.3.0", "v2.10.1",
       "2.3.0-beta", "US", "us", "ios", "free", [], [18], ["US", "FR"], ["2", "3"], {"a": 1}, 1e21, -0.0]


def ruleset(flag_count: int = FLAGS) -> dict[str, Any]:
    """Flags sharing segments and conditions (as a real ruleset does), with every common operator."""
    on_off = [{"key": "off", "value": False}, {"key": "on", "value": True}]
    experiments: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    for i in range(flag_count):
        key = f"flag-{i}"
        rules: list[dict[str, Any]] = [
            {"id": "staff", "type": "force", "condition": {"email": {"$regex": "@shop\\.example$"}}, "variation": 1},
            {"id": "seg", "type": "force", "condition": {"id": {"$inGroup": f"seg-{i % 3}"}, "country": {"$in": ["US", "CA", "GB"]}},
             "variation": 1},
            {"id": "vip", "type": "force", "condition": {
                "plan": {"$ne": "free"}, "age": {"$gte": 18, "$lt": 65}, "appVersion": {"$vgte": "2.3.0"},
                "device.os": "ios", "cartValue": {"$gt": 500 - i}}, "variation": 1},
            {"id": "odd", "type": "force", "condition": {"cartValue": {"$lt": 40 + i}, "$or": [
                {"score": {"$lte": i % 7}}, {"score": {"$gt": "m"}}, {"level": {"$eq": "gold"}}, {"level": {"$eq": 3}},
                {"tags": {"$ini": ["BETA", "Early"]}}, {"version": {"$vlt": "1.10.0", "$vne": "0.0.0"}}, {"ratio": i % 2},
                {"ratio": {"$nin": [0.5, "x", None, False, 1]}, "level": {"$ne": "us"}, "score": {"$gte": "2"}}]}, "variation": i % 2},
        ]
        if i % 4 == 0:
            ek = f"exp-{i}"
            experiments[ek] = {"hashAttribute": "id", "seed": ek, "hashVersion": 2, "coverage": 0.8, "weights": [0.5, 0.5],
                               "variations": [{"key": "control"}, {"key": "treatment"}]}
            rules.append({"id": "exp", "type": "experiment", "experiment": ek, "variations": [0, 1]})
        if i % 5 == 1:
            rules.append({"id": "split", "type": "split", "hashAttribute": "id", "seed": key, "hashVersion": 1 + i % 2,
                          "weights": [0.3, 0.7]})
        rules.append({"id": "ramp", "type": "rollout", "hashAttribute": "id", "seed": key, "hashVersion": 2,
                      "coverage": (i % 10) / 10, "variation": 1})
        flags[key] = {"variations": on_off, "default": 0, "off": 0, "rules": rules}
    groups = {f"seg-{g}": [f"u-{j}" for j in range(g, 600, 3 + g)] + [7, 42] for g in range(3)}
    return {"schemaVersion": 1, "environment": "bench", "version": 1, "savedGroups": groups, "experiments": experiments, "flags": flags}


def users(count: int = USERS) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        attributes: dict[str, Any] = {
            "id": f"u-{i}" if i % 11 else i, "email": f"p{i}@{'shop' if i % 97 == 0 else 'mail'}.example",
            "country": COUNTRIES[i % 7], "plan": "pro" if i % 3 else "free", "age": 15 + i % 60 if i % 13 else str(15 + i % 60),
            "appVersion": f"2.{i % 6}.{i % 4}", "device": {"os": "ios" if i % 2 else "android"}, "cartValue": i % 900,
            "score": ODD[i % len(ODD)], "level": ODD[(i * 7) % len(ODD)], "tags": ODD[(i * 5) % len(ODD)],
            "version": ODD[(i * 3) % len(ODD)], "ratio": ODD[(i * 11) % len(ODD)],
        }
        if i % 17 == 0:
            del attributes["age"]
        out.append({"attributes": attributes})
    return out


def _fold(lower: Any, v: Any) -> Any:
    return lower(v) if isinstance(v, str) else v


def outcome(result: Any) -> str:
    return f"{result.variation_key}|{result.reason}|{result.rule_id or ''}|{result.error_code or ''}"


def outcomes(rs: Any, contexts: list[dict[str, Any]]) -> list[str]:
    return [outcome(evaluate_flag(rs, f"flag-{f}", ctx)) for ctx in contexts for f in range(FLAGS)]


def expected() -> list[str]:
    fixture = json.loads(FIXTURE.read_text())
    return [fixture["outcomes"][ord(c) - 48] for c in fixture["sequence"]]


class LargeRulesetTest(unittest.TestCase):
    def test_results_equal_the_javascript_evaluator(self) -> None:
        contexts = users()
        want = expected()
        self.assertEqual(len(want), USERS * FLAGS)
        got = outcomes(ruleset(), contexts)
        mismatches = [(k // FLAGS, k % FLAGS, g, w) for k, (g, w) in enumerate(zip(got, want)) if g != w]
        self.assertEqual(mismatches[:5], [], f"{len(mismatches)} results differ (user, flag, got, expected)")
        self.assertGreater(len(set(got)), 8, "the ruleset exercises many rules")

    def test_a_refresh_reuses_unchanged_flags_and_recompiles_changed_ones(self) -> None:
        first = compile_ruleset(ruleset())
        doc = ruleset()
        doc["version"] = 2
        doc["flags"]["flag-1"]["rules"][2]["condition"]["plan"] = {"$ne": "pro"}  # a condition changes
        doc["experiments"]["exp-4"]["variations"].append({"key": "third"})  # flag-4 now maps too few variations
        doc["experiments"]["exp-4"]["weights"] = [0.3, 0.3, 0.4]
        second = compile_ruleset(doc)
        self.assertIs(second.flags["flag-2"], first.flags["flag-2"])
        self.assertIsNot(second.flags["flag-1"], first.flags["flag-1"])
        self.assertIsNot(second.flags["flag-4"], first.flags["flag-4"])
        self.assertIs(second.flags["flag-8"], first.flags["flag-8"])
        contexts = users(300)
        fresh = copy.deepcopy(doc)
        import experimentation.evaluation as evaluation  # noqa: PLC0415 (the cache the test empties)
        evaluation._last_flags = {}
        self.assertEqual(outcomes(second, contexts), outcomes(compile_ruleset(fresh), contexts))
        self.assertEqual(evaluate_flag(second, "flag-4", {"attributes": {"id": "u-1"}}).error_code, "PARSE_ERROR")
        vip = {"attributes": {"id": "u-5", "plan": "free", "age": 30, "appVersion": "2.4.0", "device": {"os": "ios"}, "cartValue": 900}}
        self.assertNotEqual(evaluate_flag(first, "flag-1", vip).rule_id, "vip")
        self.assertEqual(evaluate_flag(second, "flag-1", vip).rule_id, "vip")

    def test_shared_conditions_keep_their_own_problem_paths(self) -> None:
        doc = ruleset(3)
        bad = {"country": {"$bogus": 1}}
        for i in range(3):
            doc["flags"][f"flag-{i}"]["rules"][0]["condition"] = bad
        compiled = compile_ruleset(doc)
        for i in range(3):
            error = compiled.flags[f"flag-{i}"].error
            self.assertIsNotNone(error)
            self.assertIn(f"flags.flag-{i}.rules[0].condition.country.$bogus", error.message)  # type: ignore[union-attr]

    def test_equal_text_but_different_values_are_not_shared(self) -> None:
        # {True: …} and {"true": …} write the same JSON; Python reads the first key as "True".
        doc = ruleset(2)
        doc["flags"]["flag-0"]["rules"] = [{"id": "a", "type": "force", "variation": 1, "condition": {"true": "x"}}]
        doc["flags"]["flag-1"]["rules"] = [{"id": "a", "type": "force", "variation": 1, "condition": {True: "x"}}]
        ctx = {"attributes": {"true": "x", "True": "y"}}
        self.assertEqual(evaluate_flag(doc, "flag-0", ctx).variation_key, "on")
        self.assertEqual(evaluate_flag(doc, "flag-1", ctx).variation_key, "off")

    def test_specialised_operators_agree_with_the_generic_helpers(self) -> None:
        # 2**53 + 3 is 2**53 + 4 as a double: compared as JavaScript compares it, not as a Python int.
        values = [*ODD, math.nan, math.inf, -math.inf, 2**53 + 1, 2**53 + 3, "\U0001F600", "ÉCOLE", ("US",)]
        operands = [18, 0.5, -1, 2**53, 2**53 + 4, "18", "m", "US", "", True, None]
        generic: dict[str, Any] = {
            "$lt": lambda a, b: less_than(a, b, False), "$lte": lambda a, b: less_than(a, b, True),
            "$gt": lambda a, b: less_than(b, a, False), "$gte": lambda a, b: less_than(b, a, True),
            "$eq": strict_equals, "$ne": lambda a, b: not strict_equals(a, b),
        }
        for op, reference in generic.items():
            for b in operands:
                for a in values:
                    with self.subTest(op=op, operand=b, value=a):
                        self.assertEqual(eval_condition({"x": a}, {"x": {op: b}}), reference(a, b))
        for b in [18, 0.5, -1, 2**53]:
            for a in values:
                with self.subTest(number=b, value=a):
                    self.assertEqual(eval_condition({"x": a}, {"x": b}), to_js_number(a) == float(b))
        lists = [["US", "us", 7], ["école"], ["Us", 18.0], []]
        for op in ("$in", "$nin", "$ini", "$nini"):
            fold = js_lower if op in ("$ini", "$nini") else lambda v: v
            for items in lists:
                for a in values:
                    with self.subTest(op=op, items=items, value=a):
                        found = any(strict_equals(_fold(fold, e), _fold(fold, i))
                                    for e in (a if isinstance(a, (list, tuple)) else [a]) for i in items)
                        self.assertEqual(eval_condition({"x": a}, {"x": {op: items}}), found is (op in ("$in", "$ini")))
        for a in values:
            if isinstance(a, str) or not isinstance(a, (list, tuple, dict)):
                with self.subTest(version=a):
                    for _ in range(2):  # the second time from the remembered padded string
                        self.assertEqual(eval_condition({"x": a}, {"x": {"$veq": "2.3.0"}}),
                                         padded_version_string(a) == padded_version_string("2.3.0"))


if __name__ == "__main__":
    unittest.main()
