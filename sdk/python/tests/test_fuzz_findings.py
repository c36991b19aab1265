"""Findings of the differential fuzzer (this SDK vs the JavaScript engine) that shared/spec cannot hold:
GrowthBook answers `$notInGroup` on a group named like an Object member wrongly, zod measures string
lengths in code points where both engines' validators count UTF-16 units, and JSON has no NaN. The
answers are those of shared/src/eval/__tests__/fuzz-findings.test.ts."""

from __future__ import annotations

import unittest
from datetime import datetime, timezone
from typing import Any

from experimentation import eval_condition, evaluate_flag

BOOL = [{"key": "off", "value": False}, {"key": "on", "value": True}]


def ruleset(flags: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"schemaVersion": 1, "environment": "production", "version": 1, **more, "flags": flags}


def emoji(n: int) -> str:
    return "\U0001F600" * n


class ObjectMemberGroupTest(unittest.TestCase):
    def test_a_group_named_like_an_object_member_is_unknown(self) -> None:
        def answers(groups: dict[str, list[Any]] | None = None) -> list[bool]:
            return [r for name in ["constructor", "toString", "__proto__", "hasOwnProperty"] for r in (
                eval_condition({"id": "u"}, {"id": {"$inGroup": name}}, groups),
                eval_condition({"id": "u"}, {"id": {"$notInGroup": name}}, groups),
            )]
        self.assertEqual(answers(), [False, True] * 4)
        self.assertEqual(answers({"beta": ["u"]}), [False, True] * 4)

    def test_a_group_named_like_an_object_member_is_unknown_in_a_ruleset(self) -> None:
        doc = ruleset({"f": {"variations": BOOL, "default": 0, "off": 0, "rules": [
            {"id": "r", "type": "force", "variation": 1, "condition": {"id": {"$notInGroup": "constructor"}}}]}}, savedGroups={"beta": ["u"]})
        r = evaluate_flag(doc, "f", {"attributes": {"id": "u"}})
        self.assertEqual((r.value, r.reason, r.rule_id), (True, "TARGETING_MATCH", "r"))


class Utf16LengthLimitTest(unittest.TestCase):
    def test_limits_count_utf16_code_units(self) -> None:
        exp_flag = {"variations": BOOL, "default": 0, "off": 0, "rules": [{"id": "exp", "type": "experiment", "experiment": "e", "variations": [0, 1]}]}

        def force(rule_id: str) -> dict[str, Any]:
            return {"variations": BOOL, "default": 0, "off": 0, "rules": [{"id": rule_id, "type": "force", "variation": 1}]}

        def rollout(hash_attribute: str, seed: str) -> dict[str, Any]:
            return {"variations": BOOL, "default": 0, "off": 0, "rules": [
                {"id": "r", "type": "rollout", "variation": 1, "coverage": 1, "hashAttribute": hash_attribute, "seed": seed, "hashVersion": 2}]}

        def exp(**more: Any) -> dict[str, Any]:
            return {"e": {"hashAttribute": "id", "seed": "e", "hashVersion": 2, "coverage": 1, "weights": [0.5, 0.5],
                          "variations": [{"key": "control"}, {"key": "treatment"}], **more}}

        def answer(doc: Any) -> tuple[str, str | None]:
            r = evaluate_flag(doc, "f", {"attributes": {"id": "u"}}, default="safe")
            return (str(r.reason), None if r.error_code is None else str(r.error_code))

        self.assertEqual([
            answer(ruleset({"f": force(emoji(33))})),
            answer(ruleset({"f": force(emoji(32))})),
            answer(ruleset({"f": rollout(emoji(129), "s")})),
            answer(ruleset({"f": rollout("id", emoji(129))})),
            answer(ruleset({"f": rollout("id", emoji(128))})),
            answer(ruleset({"f": exp_flag}, experiments=exp(seed=emoji(129)))),
            answer(ruleset({"f": exp_flag}, experiments=exp(namespace=[emoji(65), 0, 1]))),
            answer(ruleset({"f": exp_flag}, experiments=exp(namespace=[emoji(64), 0, 1]))),
            answer(ruleset({"f": exp_flag}, experiments=exp(variations=[{"key": "control", "url": f"https://a/{emoji(1020)}"}, {"key": "treatment"}]))),
            answer(ruleset({"f": exp_flag}, experiments=exp(holdout="h"), holdouts={"h": {"hashAttribute": "id", "seed": emoji(129), "coverage": 0}})),
        ], [
            ("ERROR", "PARSE_ERROR"),
            ("TARGETING_MATCH", None),
            ("ERROR", "PARSE_ERROR"),
            ("ERROR", "PARSE_ERROR"),
            ("SPLIT", None),
            ("ERROR", "PARSE_ERROR"),
            ("ERROR", "PARSE_ERROR"),
            ("SPLIT", None),
            ("ERROR", "PARSE_ERROR"),
            ("ERROR", "PARSE_ERROR"),
        ])


class NonFiniteNowTest(unittest.TestCase):
    def test_a_now_that_is_not_a_finite_number_is_ignored(self) -> None:
        doc = ruleset({"f": {"variations": BOOL, "default": 0, "off": 0, "rules": [{"id": "early", "type": "force", "variation": 1, "from": 0, "until": 2000}]}})
        nows: list[Any] = [1000, float("nan"), float("inf"), float("-inf"), "1000", datetime.fromtimestamp(1, timezone.utc), 10**400]
        self.assertEqual([evaluate_flag(doc, "f", {"attributes": {}, "now": now}).value for now in nows],
                         [True, False, False, False, False, False, False])


class HugeNumberStringTest(unittest.TestCase):
    def test_a_hex_or_binary_string_past_the_largest_double_is_infinity_as_in_javascript(self) -> None:
        # JavaScript: Number("0x" + "f".repeat(300)) is Infinity; Python's float(int(...)) raised
        # OverflowError, so the flag failed to evaluate (ERROR, default served, an error logged).
        doc = ruleset({"f": {"variations": BOOL, "default": 0, "off": 0, "rules": [{"id": "r", "type": "force", "variation": 1, "condition": {"n": {"$gt": 5}}}]}})
        huge = ["0x" + "f" * 300, "0b" + "1" * 1100, "0o" + "7" * 400, ["0x" + "f" * 300]]
        with self.assertNoLogs("experimentation", level="ERROR"):
            results = [evaluate_flag(doc, "f", {"attributes": {"n": n}}) for n in huge]
        self.assertEqual([(r.value, r.reason) for r in results], [(True, "TARGETING_MATCH")] * len(huge))
        self.assertEqual(evaluate_flag(doc, "f", {"attributes": {"n": "-0x" + "f" * 300}}).reason, "DEFAULT")


if __name__ == "__main__":
    unittest.main()
