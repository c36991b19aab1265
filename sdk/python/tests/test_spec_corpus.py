"""Runs every case of the shared conformance corpus (shared/spec/*.json), each as a named subTest."""

from __future__ import annotations

import re
import unittest
from dataclasses import fields
from typing import Any

from experimentation import (
    InMemoryStickyBucketStore,
    choose_variation,
    eval_condition,
    evaluate_experiment,
    evaluate_flag,
    get_bucket_ranges,
    hash_value,
    in_namespace,
    padded_version_string,
    resolve_split_url,
)

from .spec_loader import js_equal, read_spec

MUST_BE_ABSENT = ("errorCode", "ruleId", "bucket", "prerequisite")
CASE_COUNTS: dict[str, int] = {}


def snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


def as_camel_dict(obj: Any) -> dict[str, Any]:
    """A result dataclass as the spec's camelCase object, without the absent (None) fields."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        if v is None or f.name in ("trace", "error_message"):
            continue
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), f.name)
        out[camel] = as_camel_dict(v) if hasattr(v, "__dataclass_fields__") else v
    return out


def subset_mismatches(expected: dict[str, Any], actual: dict[str, Any], prefix: str = "") -> list[str]:
    problems = []
    for key, want in expected.items():
        if key not in actual and want is not None:
            problems.append(f"{prefix}{key}: missing, expected {want!r}")
        elif not js_equal(actual.get(key), want):
            problems.append(f"{prefix}{key}: got {actual.get(key)!r}, expected {want!r}")
    return problems


def to_context(raw: Any) -> tuple[Any, InMemoryStickyBucketStore | None]:
    if not isinstance(raw, dict) or "stickyAssignments" not in raw:
        return raw, None
    store = InMemoryStickyBucketStore(raw["stickyAssignments"])
    context = {k: v for k, v in raw.items() if k != "stickyAssignments"}
    context["sticky_buckets"] = store
    return context, store


class SpecCorpusTest(unittest.TestCase):
    def run_cases(self, file: str, check: Any) -> None:
        spec = read_spec(file)
        self.assertTrue(spec.get("description"), f"{file} has a description")
        names = [c["name"] for c in spec["cases"]]
        self.assertEqual(len(names), len(set(names)), f"{file}: case names are unique")
        for case in spec["cases"]:
            with self.subTest(f"{file}: {case['name']}"):
                check(case)
        CASE_COUNTS[file] = len(spec["cases"])

    def test_hash(self) -> None:
        def check(c: dict[str, Any]) -> None:
            got = hash_value(c["seed"], c["value"], c["version"])
            self.assertTrue(js_equal(got, c["expected"]), f"got {got!r}, expected {c['expected']!r}")
        self.run_cases("hash.json", check)

    def test_bucket_ranges(self) -> None:
        def check(c: dict[str, Any]) -> None:
            got = [list(r) for r in get_bucket_ranges(c["numVariations"], c["coverage"], c["weights"])]
            self.assertTrue(js_equal(got, c["expected"]), f"got {got!r}, expected {c['expected']!r}")
        self.run_cases("bucket-ranges.json", check)

    def test_choose_variation(self) -> None:
        def check(c: dict[str, Any]) -> None:
            self.assertEqual(choose_variation(c["hash"], c["ranges"]), c["expected"])
        self.run_cases("choose-variation.json", check)

    def test_namespaces(self) -> None:
        def check(c: dict[str, Any]) -> None:
            self.assertIs(in_namespace(c["unitId"], c["namespace"]), c["expected"])
        self.run_cases("namespaces.json", check)

    def test_version_strings(self) -> None:
        def check(c: dict[str, Any]) -> None:
            self.assertEqual(padded_version_string(c["input"]), c["expected"])
        self.run_cases("version-strings.json", check)

    def test_conditions(self) -> None:
        def check(c: dict[str, Any]) -> None:
            got = eval_condition(c["attributes"], c["condition"], c.get("savedGroups"))
            self.assertIs(got, c["expected"])
        self.run_cases("conditions.json", check)

    def test_evaluate_flag(self) -> None:
        spec = read_spec("evaluate-flag.json")
        rulesets = spec["rulesets"]
        self.assertGreaterEqual(len(spec["cases"]), 100)

        def check(c: dict[str, Any]) -> None:
            ruleset = rulesets[c["ruleset"]] if "ruleset" in c else c["rulesetInline"]
            context, store = to_context(c["context"])
            options = c.get("options", {})
            result = evaluate_flag(ruleset, c["flag"], context, default=options.get("defaultValue"))
            actual = as_camel_dict(result)
            expected = dict(c["expected"])
            experiment = expected.pop("experiment", None)
            problems = subset_mismatches(expected, actual)
            problems += [f"{k}: should be absent, got {actual[k]!r}" for k in MUST_BE_ABSENT if k not in expected and k in actual]
            if experiment is not None:
                problems += subset_mismatches(experiment, actual.get("experiment", {}), "experiment.")
            if store is not None and "expectedStickyAssignments" in c:
                if store.snapshot() != c["expectedStickyAssignments"]:
                    problems.append(f"sticky store: got {store.snapshot()!r}, expected {c['expectedStickyAssignments']!r}")
            self.assertEqual(problems, [])
        self.run_cases("evaluate-flag.json", check)

    def test_experiments(self) -> None:
        rulesets = read_spec("evaluate-flag.json")["rulesets"]

        def check(c: dict[str, Any]) -> None:
            context, _ = to_context(c["context"])
            ruleset = rulesets[c["ruleset"]]
            evaluate = resolve_split_url if c.get("splitUrl") else evaluate_experiment
            actual = as_camel_dict(evaluate(ruleset, c["experiment"], context))
            problems = subset_mismatches(c["expected"], actual)
            if "errorCode" not in c["expected"] and "errorCode" in actual:
                problems.append(f"unexpected error {actual['errorCode']}")
            self.assertEqual(problems, [])
        self.run_cases("experiments.json", check)

    @classmethod
    def tearDownClass(cls) -> None:
        if CASE_COUNTS:
            summary = ", ".join(f"{k} {v}" for k, v in CASE_COUNTS.items())
            print(f"\nspec corpus: {sum(CASE_COUNTS.values())} cases ({summary})")


if __name__ == "__main__":
    unittest.main()


class ExplainCorpusTest(unittest.TestCase):
    """shared/spec/explain.json: xp's explanations, word for word as the TypeScript engine gives them."""

    def test_every_case_gives_the_same_trace(self) -> None:
        spec = read_spec("explain.json")
        self.assertGreaterEqual(len(spec["cases"]), 5)
        for case in spec["cases"]:
            with self.subTest(case["name"]):
                result = evaluate_flag(spec["rulesets"][case["ruleset"]], case["flag"], case["context"], explain=True)
                trace = [{k: v for k, v in (("ruleId", s.rule_id), ("outcome", s.outcome), ("detail", s.detail)) if v is not None} for s in result.trace or ()]
                self.assertTrue(js_equal({"value": result.value, "reason": result.reason, "trace": trace}, case["expected"]), f"{trace} != {case['expected']['trace']}")
