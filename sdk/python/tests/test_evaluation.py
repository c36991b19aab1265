"""Evaluation behaviour beyond the shared corpus: regex dialect, coercions, caching, robustness."""

from __future__ import annotations

import copy
import unittest
from typing import Any

from experimentation import (
    ErrorCode,
    EvaluationContext,
    InMemoryStickyBucketStore,
    Reason,
    compile_ruleset,
    eval_condition,
    evaluate_experiment,
    evaluate_flag,
)
from experimentation.jsregex import JsRegexError, compile_js_regex
from experimentation.jsvalue import js_number_to_string, less_than, to_js_number, to_js_string, to_json, utf16_units

from .spec_loader import read_spec


def matches(pattern: str, subject: str, ignore_case: bool = False) -> bool:
    return compile_js_regex(pattern, ignore_case).search(utf16_units(subject)) is not None


class JsValueTest(unittest.TestCase):
    def test_number_to_string_follows_javascript(self) -> None:
        cases = {30: "30", 30.0: "30", 1.5: "1.5", 1e21: "1e+21", 1e-7: "1e-7", 1e-6: "0.000001", -0.0: "0",
                 0.1 + 0.2: "0.30000000000000004", 2**60: "1152921504606847000", 123e-20: "1.23e-18", 1.5e300: "1.5e+300"}
        for number, text in cases.items():
            with self.subTest(number):
                self.assertEqual(js_number_to_string(number), text)

    def test_coercions(self) -> None:
        self.assertEqual(to_js_number(" 0x10 "), 16)
        self.assertNotEqual(to_js_number("-0x10"), to_js_number("-0x10"))  # NaN
        self.assertNotEqual(to_js_number("1_000"), to_js_number("1_000"))
        self.assertEqual(to_js_number("\u00a0 7 \n"), 7)
        self.assertEqual(to_js_number([5]), 5)
        self.assertEqual(to_js_string([1, None, [2, 3]]), "1,,2,3")
        self.assertEqual(to_js_string(True), "true")
        self.assertEqual(to_json({"b": 1, "2": [1.0, None], "1": "é"}), '{"1":"é","2":[1,null],"b":1}')
        self.assertTrue(less_than("\U0001F600", "\uffff", False), "UTF-16 code unit order")
        self.assertTrue(less_than(None, 5, False))
        self.assertFalse(less_than("abc", 5, True))


class RegexDialectTest(unittest.TestCase):
    def test_javascript_semantics(self) -> None:
        self.assertTrue(matches(r"(a)?b\1", "b"), "a backreference to an unmatched group matches empty")
        # A backreference before its group, or inside it, is to a group JavaScript has not set there:
        # it matches empty (as V8 answers for each of these).
        self.assertTrue(matches(r"\1(a)", "ab"))
        self.assertTrue(matches(r"^\k<x>(?<x>a)$", "a"))
        self.assertTrue(matches(r"^(?:\1(a))+$", "aa"), "a quantifier clears its groups at each iteration")
        self.assertTrue(matches(r"^(a\1)$", "a"))
        self.assertFalse(matches(r"^(a\1)$", "aa"))
        self.assertTrue(matches(r"^(a)\1$", "aa"), "after its group closes, a backreference matches what the group did")
        self.assertTrue(matches(r"a{,2}", "a{,2}"), "an invalid brace quantifier is a literal")
        self.assertTrue(matches(r"\cJ", "\n"))
        self.assertTrue(matches(r"[\d-z]", "-"), "a class escape in a range is a union with '-'")
        self.assertTrue(matches(r"(?<y>a)\k<y>", "aa"))
        self.assertTrue(matches(r"\k", "k"), "without named groups \\k is a literal k")
        self.assertTrue(matches(r"\101", "A"), "legacy octal escape")
        self.assertTrue(matches(r"[^]", "\n"))
        self.assertFalse(matches(r"[]", "a"))
        self.assertTrue(matches(r"\bfoo\b", "a foo"))
        self.assertTrue(matches(r"\bcaf\b", "café"), "é is not a word character for \\b")
        self.assertTrue(matches(r"^\uD83D", "\U0001F600"), "a pattern unit matches half a surrogate pair")

    def test_case_insensitive_uses_javascript_canonicalisation(self) -> None:
        self.assertTrue(matches("ABC", "abc", True))
        self.assertTrue(matches("é", "É", True))
        self.assertFalse(matches("s", "\u017f", True), "long s does not fold to s without the u flag")
        self.assertFalse(matches("k", "\u212a", True), "Kelvin sign does not fold to k without the u flag")
        self.assertFalse(matches("[^a-z]", "Q", True))

    def test_rejects_what_javascript_rejects(self) -> None:
        for pattern in ["(", "[a-", "*abc", "?", "a{2,1}", "abc\\", "(?i)abc", "a**", "{2}", "[z-a]", "(?<=a)*", "^*", "(?P<n>a)", ")"]:
            with self.subTest(pattern):
                with self.assertRaises(JsRegexError):
                    compile_js_regex(pattern)

    def test_rejects_valid_javascript_that_python_cannot_express(self) -> None:
        for pattern in [r"(?<=a+)b", r"(?<=a|bc)d", r"(?<=(a)\1)b"]:
            with self.subTest(pattern):
                with self.assertRaises(JsRegexError):
                    compile_js_regex(pattern)
                self.assertFalse(eval_condition({"s": "ab"}, {"s": {"$regex": pattern}}))


class RegexSafetyTest(unittest.TestCase):
    def test_counted_groups_that_backtrack_are_not_run(self) -> None:
        import time

        from experimentation.regex_safety import regex_beyond_linear_engine

        for pattern in [r"^(\w+\s?){10}$", r"^(a|a){26}$", r"^(a?){30}a{30}$", r"((a|a){5}){5}"]:
            with self.subTest(pattern):
                self.assertIsNotNone(regex_beyond_linear_engine(pattern))
                started = time.monotonic()
                # Run, (a|a){26} on this value takes minutes; refused, it is not run and matches nothing.
                self.assertFalse(eval_condition({"s": "a" * 33 + "!"}, {"s": {"$regex": pattern}}))
                self.assertLess(time.monotonic() - started, 1)
        for pattern in [r"(\w\s?){5}", r"(foo|bar){2}", r"(a?){10}", r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$"]:
            with self.subTest(pattern):
                self.assertIsNone(regex_beyond_linear_engine(pattern))
        self.assertTrue(eval_condition({"s": "foobar"}, {"s": {"$regex": "^(foo|bar){2}$"}}))

    def test_backreferences_are_not_run(self) -> None:
        import time

        from experimentation.regex_safety import regex_beyond_linear_engine

        for pattern in [r"(a*)\1*b", r"(a+)\1+$", r"(?<x>a*)\k<x>*b", r"^(a)\1$"]:
            with self.subTest(pattern):
                self.assertIn("a backreference", regex_beyond_linear_engine(pattern) or "")
                started = time.monotonic()
                self.assertFalse(eval_condition({"s": "a" * 5000}, {"s": {"$regex": pattern}}))
                self.assertLess(time.monotonic() - started, 1)
        for pattern in [r"\\1", r"a\0", r"[\1]", r"\k"]:
            with self.subTest(pattern):
                self.assertIsNone(regex_beyond_linear_engine(pattern))


class ConditionExtrasTest(unittest.TestCase):
    def test_case_insensitive_operators(self) -> None:
        self.assertTrue(eval_condition({"c": "us"}, {"c": {"$ini": ["US", "CA"]}}))
        self.assertTrue(eval_condition({"c": ["x", "Ca"]}, {"c": {"$ini": ["US", "CA"]}}))
        self.assertFalse(eval_condition({"c": "us"}, {"c": {"$nini": ["US"]}}))
        self.assertFalse(eval_condition({"c": "us"}, {"c": {"$nini": "US"}}), "a non-array argument is false")
        self.assertTrue(eval_condition({"t": ["A", "b"]}, {"t": {"$alli": ["a", "B"]}}))
        self.assertTrue(eval_condition({"e": "Jo@X.io"}, {"e": {"$regexi": "^jo@x"}}))

    def test_python_values_that_are_not_json_do_not_raise(self) -> None:
        self.assertTrue(eval_condition({"t": ("a", "b")}, {"t": {"$size": 2}}))
        self.assertFalse(eval_condition({"t": object()}, {"t": {"$gt": 1}}))
        self.assertTrue(eval_condition({"t": object()}, {"t": {"$type": "object"}}))


def ruleset() -> dict[str, Any]:
    return copy.deepcopy(read_spec("evaluate-flag.json")["rulesets"]["main"])


class EvaluationTest(unittest.TestCase):
    def test_a_ruleset_is_compiled_once_per_object(self) -> None:
        doc = ruleset()
        self.assertIs(compile_ruleset(doc), compile_ruleset(doc))
        compiled = compile_ruleset(doc)
        self.assertIs(compile_ruleset(compiled), compiled)
        self.assertEqual(evaluate_flag(compiled, "static-on").value, True)

    def test_explain_returns_a_trace(self) -> None:
        result = evaluate_flag(ruleset(), "button-color", {"attributes": {"country": "FR", "id": "user-2"}}, explain=True)
        self.assertEqual(result.rule_id, "beta")
        self.assertEqual([(s.rule_id, s.outcome) for s in result.trace or ()],
                         [("us", "condition-false"), ("acme", "condition-false"), ("beta", "matched")])

    def test_rollout_traces_read_as_the_javascript_engines_do(self) -> None:
        # The details the JavaScript engine (shared/src/eval) gives for the same ruleset and users.
        rulesets = read_spec("evaluate-flag.json")["rulesets"]
        doc = next(r for r in rulesets.values() if "rollout-fallback" in r.get("flags", {}))
        for flag, attributes, detail in (
            ("rollout-fallback", {"userId": "u1"}, "bucket 0.8786 > coverage 0.5"),
            ("rollout-fallback", {"userId": "u3"}, "bucket 0.4937 <= coverage 0.5"),
            ("rollout-full", {"id": "u1"}, "bucket 0.482 <= coverage 1"),
        ):
            with self.subTest(flag=flag, attributes=attributes):
                trace = evaluate_flag(doc, flag, {"attributes": attributes}, explain=True).trace or ()
                self.assertEqual([s.detail for s in trace], [detail])

    def test_an_erroring_prerequisite_serves_nothing(self) -> None:
        doc = ruleset()
        doc["flags"]["child-of-broken"] = {
            "variations": [{"key": "off", "value": False}, {"key": "on", "value": True}], "default": 1, "off": 0,
            "prerequisites": [{"flag": "bad-regex", "variation": "on"}],
        }
        result = evaluate_flag(doc, "child-of-broken", {})
        self.assertEqual((result.reason, result.prerequisite), (Reason.PREREQUISITE_FAILED, "bad-regex"))

    def test_context_dataclass_and_sticky_store(self) -> None:
        store = InMemoryStickyBucketStore()
        context = EvaluationContext(attributes={"id": "user-0"}, sticky_buckets=store)
        first = evaluate_flag(ruleset(), "sticky-exp", context)
        self.assertEqual(store.snapshot(), {"id||user-0": {"exp-sticky__2": "control"}})
        second = evaluate_flag(ruleset(), "sticky-exp", context)
        self.assertEqual(first.value, second.value)
        self.assertTrue(second.experiment is not None and second.experiment.sticky)

    def test_the_trace_says_a_variation_was_kept_from_the_sticky_store(self) -> None:
        # user-0's bucket gives control; the store says treatment: the same words as the TypeScript engine.
        store = InMemoryStickyBucketStore()
        store.set("id", "user-0", {"exp-sticky__2": "treatment"})
        kept = evaluate_flag(ruleset(), "sticky-exp", EvaluationContext(attributes={"id": "user-0"}, sticky_buckets=store), explain=True)
        self.assertEqual(kept.trace[-1].detail, "exp-sticky: treatment (kept from the stored sticky assignment)")
        bucketed = evaluate_flag(ruleset(), "sticky-exp", EvaluationContext(attributes={"id": "user-0"}, sticky_buckets=InMemoryStickyBucketStore()), explain=True)
        self.assertEqual(bucketed.trace[-1].detail, "exp-sticky: control")

    def test_a_failing_sticky_store_does_not_break_evaluation(self) -> None:
        class Broken:
            def get(self, a: str, v: str) -> None:
                raise RuntimeError("down")

            def set(self, a: str, v: str, s: Any) -> None:
                raise RuntimeError("down")

        with self.assertLogs("experimentation", "WARNING"):
            result = evaluate_flag(ruleset(), "sticky-exp", {"attributes": {"id": "user-0"}, "sticky_buckets": Broken()})
        self.assertEqual(result.reason, Reason.SPLIT)

    def test_never_raises_on_hostile_input(self) -> None:
        doc = ruleset()
        doc["flags"]["weird"] = {"variations": [{"key": "a", "value": {1, 2}}], "default": 0.5, "off": 0}
        inputs: list[tuple[Any, Any]] = [
            (doc, {"attributes": {"id": object()}}),
            ({"schemaVersion": 1, "environment": "e", "version": 1, "flags": {1: 2}}, None),
            (object(), None),
            (doc, 42),
            (doc, {"attributes": {"id": float("nan")}}),
        ]
        for rs, context in inputs:
            with self.subTest(repr(context)):
                for key in ("weird", "rollout-full", "checkout-exp"):
                    result = evaluate_flag(rs, key, context, default="d")
                    self.assertIsNotNone(result.reason)
                evaluate_experiment(rs, "exp-ab", context)
        self.assertEqual(evaluate_flag(doc, "weird").error_code, ErrorCode.PARSE_ERROR)
        self.assertEqual(evaluate_flag(doc, "rollout-full", {"attributes": {"id": float("inf")}}).error_code, ErrorCode.TYPE_MISMATCH)


if __name__ == "__main__":
    unittest.main()
