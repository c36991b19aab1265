"""Findings of the parity test of the server, the JavaScript SDK and this SDK: a datetime as the
bucketing attribute, case mappings newer than Python's Unicode database, and legacy octal and
identity escapes in regular expressions. Each expectation here is what the JavaScript evaluator
(shared/src/eval) gives for the same input; the shared tests pin the same values."""

from __future__ import annotations

import shutil
import subprocess
import unittest
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from experimentation import ErrorCode, Reason, _jscase, eval_condition, evaluate_experiment, evaluate_flag
from experimentation.conditions import js_lower
from experimentation.regex_safety import regex_beyond_linear_engine

from .spec_loader import read_spec

MAIN = read_spec("evaluate-flag.json")["rulesets"]["main"]
UTC = timezone.utc


class DatetimeHashAttributeTest(unittest.TestCase):
    def test_a_datetime_hash_attribute_buckets_as_the_javascript_sdk_buckets_a_date(self) -> None:
        # The same instants and expectations as the shared test "buckets a Date hash attribute on the same ISO string…".
        dates = [
            datetime(2026, 6, 1, tzinfo=UTC),
            datetime(2026, 6, 1, 2, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2))),
            datetime(2025, 1, 15, 12, 30, tzinfo=UTC),
            datetime(2024, 2, 29),  # naive: UTC
            datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
        ]
        experiments = [evaluate_experiment(MAIN, "exp-company", {"attributes": {"companyId": d, "id": "u"}}) for d in dates]
        splits = [evaluate_flag(MAIN, "split-3", {"attributes": {"id": d}}) for d in dates]

        self.assertEqual([(e.variation_key, e.bucket, e.hash_value) for e in experiments], [
            ("control", 0.2782, "2026-06-01T00:00:00Z"),
            ("control", 0.2782, "2026-06-01T00:00:00Z"),
            ("control", 0.2897, "2025-01-15T12:30:00Z"),
            ("control", 0.4386, "2024-02-29T00:00:00Z"),
            ("treatment", 0.7977, "+010000-01-01T04:00:00Z"),
        ])
        self.assertEqual([(r.reason, r.variation_key, r.bucket) for r in splits], [
            (Reason.SPLIT, "blue", 0.4374),
            (Reason.SPLIT, "blue", 0.4374),
            (Reason.SPLIT, "blue", 0.3504),
            (Reason.SPLIT, "red", 0.8457),
            (Reason.SPLIT, "green", 0.737),
        ])
        self.assertEqual(evaluate_flag(MAIN, "split-3", {"attributes": {"id": datetime(2026, 6, 1, tzinfo=UTC)}}),
                         evaluate_flag(MAIN, "split-3", {"attributes": {"id": "2026-06-01T00:00:00Z"}}))
        self.assertEqual(evaluate_flag(MAIN, "split-3", {"attributes": {"id": [1]}}).error_code, ErrorCode.TYPE_MISMATCH)
        # Conditions read the extended year alike: +010000-… to the second, as JavaScript's toISOString.
        self.assertTrue(eval_condition({"d": dates[4]}, {"d": "+010000-01-01T04:00:00Z"}))


class CaseMappingTest(unittest.TestCase):
    """Letters whose case mapping is newer than Python 3.11's Unicode database (14.0): U+A7CB Ɤ
    (Unicode 16, lower case U+0264 ɤ) and the Garay U+10D50 (Unicode 16, lower case U+10D70)."""

    def check(self, condition: dict[str, Any], value: Any) -> bool:
        return eval_condition({"a": value}, condition)

    def test_ini_nini_and_alli_lower_new_letters_as_javascript_does(self) -> None:
        self.assertTrue(self.check({"a": {"$ini": ["us", "ɤ"]}}, "Ɤ"))
        self.assertTrue(self.check({"a": {"$ini": ["Ɤ"]}}, "ɤ"))
        self.assertTrue(self.check({"a": {"$ini": ["\U00010d70"]}}, "\U00010d50"))
        self.assertTrue(self.check({"a": {"$ini": ["x\U00010d50"]}}, ["X\U00010d70"]))
        self.assertFalse(self.check({"a": {"$nini": ["ɤ"]}}, "Ɤ"))
        self.assertFalse(self.check({"a": {"$nini": ["\U00010d50"]}}, "\U00010d70"))
        self.assertTrue(self.check({"a": {"$alli": ["Ɤ", "\U00010d50"]}}, ["ɤ", "\U00010d70"]))
        # Older letters and special cases are as before: İ lowers to i + U+0307, final sigma, ẞ → ß.
        self.assertTrue(self.check({"a": {"$ini": ["i\u0307stanbul", "ßß", "σας"]}}, "İSTANBUL"))
        self.assertTrue(self.check({"a": {"$ini": ["σας"]}}, "ΣΑΣ"))
        self.assertTrue(self.check({"a": {"$ini": ["ßß"]}}, "ẞß"))
        self.assertFalse(self.check({"a": {"$ini": ["ss"]}}, "ß"))

    def test_js_lower_is_javascript_to_lower_case(self) -> None:
        # The right-hand sides are what node (Unicode 17) prints for "<left>".toLowerCase().
        cases = {"Ɤ": "ɤ", "\U00010d50\U00010d65": "\U00010d70\U00010d85", "\u1c89": "\u1c8a", "\ua7dc": "\u019b",
                 "ABC": "abc", "ÀÉÎ": "àéî", "ΑΣ ΒΣ": "ας βς", "İ": "i\u0307"}
        for text, lowered in cases.items():
            with self.subTest(text):
                self.assertEqual(js_lower(text), lowered)

    def test_regexi_folds_new_bmp_letters_as_v8_does(self) -> None:
        # node: /^ɤ$/i.test("Ɤ") and /^Ɤ$/i.test("ɤ") are true; without the u flag the astral Garay
        # letters are two surrogate code units each, which have no case: /^\u{10D50}$/i.test("\u{10D70}") is false.
        self.assertTrue(self.check({"a": {"$regexi": "^ɤ$"}}, "Ɤ"))
        self.assertTrue(self.check({"a": {"$regexi": "^[Ɤ]$"}}, "ɤ"))
        self.assertTrue(self.check({"a": {"$regexi": "^\\u0264$"}}, "\ua7cb"))
        self.assertFalse(self.check({"a": {"$regex": "^ɤ$"}}, "Ɤ"))
        self.assertFalse(self.check({"a": {"$regexi": "^\U00010d50$"}}, "\U00010d70"))

    def test_the_generated_table_is_the_one_the_generator_writes(self) -> None:
        # Guards against hand edits: regenerate with the command in _jscase's docstring.
        node = shutil.which("node")
        if node is None:
            self.skipTest("node is not installed")
        script = Path(__file__).resolve().parents[1] / "scripts" / "gen_jscase.mjs"
        out = subprocess.run([node, str(script)], capture_output=True, text=True, check=True, timeout=60).stdout
        generated: dict[str, Any] = {}
        exec(compile(out, "generated _jscase", "exec"), generated)  # noqa: S102 (the generator's own output)
        if generated["UNICODE_VERSION"] != _jscase.UNICODE_VERSION:
            self.skipTest(f"this node has Unicode {generated['UNICODE_VERSION']}, the table {_jscase.UNICODE_VERSION}")
        self.assertEqual(generated["LOWER"], _jscase.LOWER)
        self.assertEqual(generated["UPPER_UNIT"], _jscase.UPPER_UNIT)


class RegexEscapeTest(unittest.TestCase):
    """Without the `u` flag (ECMAScript Annex B), `\\N` is a backreference only when the pattern has at
    least N capture groups; otherwise `\\101` is the octal escape for A and `\\8` the digit 8."""

    def test_only_real_backreferences_are_refused(self) -> None:
        # The same patterns as the shared test "counts capture groups: …".
        for pattern in [r"^\101$", r"^\8$", r"^\9$", r"(a)\2", r"(a)\10", r"\(\)\1", r"[(]\1", r"(?:a)\1", r"(?=a)\1",
                        r"(?<=a)\1", r"(?!a)\1", r"\k<x>", r"[(?<n>]\k<n>", "\\" + "1" * 5000]:
            with self.subTest(pattern[:40]):
                self.assertIsNone(regex_beyond_linear_engine(pattern))
        for pattern in [r"(?<n>a)\1", r"(?<n>a)\k<n>", r"[)](a)\1", r"\((a)\)\1", r"(?:(a))\1", r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10"]:
            with self.subTest(pattern):
                self.assertIn("a backreference", regex_beyond_linear_engine(pattern) or "")

    def test_octal_and_identity_escapes_match_what_v8_matches(self) -> None:
        # (pattern, value, what node prints for new RegExp(pattern).test(value)); the same with the i flag.
        cases = [
            (r"^\101$", "A", True), (r"^\101$", "a", False), (r"^\101$", "\\101", False), (r"^\8$", "8", True),
            (r"^\9$", "9", True), (r"^\0$", "\0", True), (r"^\01$", "\x01", True), (r"^\377$", "\xff", True),
            (r"^\400$", " 0", True), (r"^(a)\10$", "a\x08", True), (r"^\18$", "\x018", True),
            (r"^[\101]$", "A", True), (r"^[\8]$", "8", True), (r"^\k<x>$", "k<x>", True), (r"^\2(a)$", "\x02a", True),
            (r"^\(\)\1$", "()\x01", True), (r"^[(]\1$", "(\x01", True), (r"^(?:a)\1$", "a\x01", True),
        ]
        for pattern, value, expected in cases:
            with self.subTest(pattern=pattern, value=value):
                self.assertEqual(eval_condition({"a": value}, {"a": {"$regex": pattern}}), expected)
        self.assertTrue(eval_condition({"a": "a"}, {"a": {"$regexi": r"^\101$"}}))
        flag = {"variations": [{"key": "no", "value": "no"}, {"key": "yes", "value": "yes"}], "default": 0, "off": 0,
                "rules": [{"id": "r", "type": "force", "variation": 1, "condition": {"a": {"$regex": r"^\101$"}}}]}
        doc = dict(MAIN, flags={"f": flag})
        result = evaluate_flag(doc, "f", {"attributes": {"a": "A"}})
        self.assertEqual((result.value, result.reason, result.error_code), ("yes", Reason.TARGETING_MATCH, None))


class DocumentedSurprisesTest(unittest.TestCase):
    """docs/evaluation.md, "What the comparisons do": the same answers as shared/src/eval/__tests__/parity-findings.test.ts."""

    def test_a_boolean_condition_compares_truthiness(self) -> None:
        values: list[Any] = ["false", "0", "no", [], {}, -1, "abc", True, 1, 0, False, "", float("nan"), None]
        self.assertEqual([eval_condition({"a": v}, {"a": True}) for v in values],
                         [True] * 9 + [False] * 5)
        self.assertEqual([eval_condition({"a": v}, {"a": False}) for v in values],
                         [False] * 9 + [True] * 4 + [False])
        self.assertEqual([eval_condition({}, {"a": True}), eval_condition({}, {"a": False})], [False, False])

    def test_a_version_attribute_that_is_not_a_string_or_number_is_version_0(self) -> None:
        older = {"appVersion": {"$vlt": "1.2.3"}}
        zero = {"appVersion": {"$veq": "0"}}
        self.assertTrue(eval_condition({}, older))
        for value in [None, "", True, [], ["2.0.0"], {}]:
            with self.subTest(value=value):
                self.assertEqual((eval_condition({"appVersion": value}, older), eval_condition({"appVersion": value}, zero)), (True, True))
        self.assertEqual([eval_condition({"appVersion": "2.0.0"}, older), eval_condition({"appVersion": 1}, older)], [False, True])

    def test_any_string_is_a_version_unless_a_valid_version_regex_sits_next_to_it(self) -> None:
        newer = {"appVersion": {"$vgt": "1.0.0"}}
        guarded = {"appVersion": {"$regex": r"^\d+\.\d+\.\d+$", "$vgt": "1.0.0"}}
        values = ["DE", "2026-06-01", "v1.2.3", "1.2.3", "0.9.0"]
        self.assertEqual([eval_condition({"appVersion": v}, newer) for v in values], [True, True, True, True, False])
        self.assertEqual([eval_condition({"appVersion": v}, guarded) for v in values], [False, False, False, True, False])

    def test_a_regex_reads_an_attribute_that_is_not_a_string_as_its_text(self) -> None:
        ul = {"email": {"$regex": "ul"}}
        self.assertEqual([eval_condition({}, ul), eval_condition({"email": None}, ul), eval_condition({"email": "a@b.c"}, ul)],
                         [True, True, False])
        self.assertEqual([eval_condition({"email": v}, {"email": {"$regex": "^(42|true|a,b)$"}}) for v in [42, True, ["a", "b"]]],
                         [True, True, True])
        self.assertEqual([eval_condition({}, {"email": {"$regex": ""}}), eval_condition({}, {"email": {"$exists": True, "$regex": ""}})],
                         [True, False])
