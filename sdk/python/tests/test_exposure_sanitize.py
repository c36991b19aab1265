"""Exposures as the API takes them, as the JavaScript SDK sends them (sdk/js/src/client.ts `expose`,
`storableUnitId`; sanitize.ts `cleanAttributes`): the API (shared/src/model/event-check.ts) refuses a
whole exposure whose unit id or attributes hold a NUL or an unpaired surrogate, so one bad field must not
cost the unit its exposure, and a unit id the API cannot store is not sent at all. Observed through the
test client, which records exposures through the production path (Client._record_exposure)."""

from __future__ import annotations

import unittest
from typing import Any

from experimentation.testing import FakeClient, create_test_client


class ExposureSanitizeTest(unittest.TestCase):
    def client(self, **kwargs: Any) -> FakeClient:
        client = create_test_client(experiments={"pricing-page": "treatment"}, **kwargs)
        self.addCleanup(client.close)
        return client

    def test_a_unit_id_with_a_nul_is_evaluated_but_not_exposed_warned_once(self) -> None:
        client = self.client()
        with self.assertLogs("experimentation", level="WARNING") as logs:
            self.assertEqual(client.get_variant("pricing-page", "u\x00"), "treatment")
            self.assertEqual(client.get_variant("pricing-page", "v\x00"), "treatment")
        self.assertEqual(client.exposures, [])
        self.assertEqual(len(logs.output), 1, logs.output)
        self.assertIn("holding a NUL character", logs.output[0])
        self.assertIn("exposures and events", logs.output[0])
        # Other units are still exposed.
        client.get_variant("pricing-page", "u1")
        self.assertEqual([e["unitId"] for e in client.exposures], ["u1"])

    def test_a_unit_id_longer_than_256_utf16_units_is_not_exposed(self) -> None:
        client = self.client()
        with self.assertLogs("experimentation", level="WARNING") as logs:
            client.get_variant("pricing-page", "x" * 257)
            # 128 emoji: 256 UTF-16 code units, as the API counts them: stored.
            client.get_variant("pricing-page", "\U0001F600" * 128)
            client.get_variant("pricing-page", "\U0001F600" * 128 + "x")
        self.assertEqual([e["unitId"] for e in client.exposures], ["\U0001F600" * 128])
        self.assertEqual(len(logs.output), 1, logs.output)
        self.assertIn("257 characters long (at most 256)", logs.output[0])

    def test_unpaired_surrogates_in_the_unit_id_become_replacement_characters(self) -> None:
        client = self.client()
        client.get_variant("pricing-page", "u\ud800")
        client.get_variant("pricing-page", {"id": "w\udc00x"})
        self.assertEqual([e["unitId"] for e in client.exposures], ["u\ufffd", "w\ufffdx"])

    def test_attributes_with_a_nul_are_left_out_and_surrogates_fixed(self) -> None:
        client = self.client()
        user = {"id": "u1", "attributes": {"plan": "a\x00", "n\x00ame": "x", "n\ud800": "b\udfff", "tier": "gold", "n": 3}}
        client.get_variant("pricing-page", user)
        [exposure] = client.exposures
        self.assertEqual(exposure["unitId"], "u1")
        self.assertEqual(exposure["attributes"], {"n\ufffd": "b\ufffd", "tier": "gold", "n": 3})

    def test_attributes_all_refused_leave_none(self) -> None:
        client = self.client()
        client.get_variant("pricing-page", {"id": "u1", "attributes": {"plan": "a\x00"}})
        [exposure] = client.exposures
        self.assertNotIn("attributes", exposure)

    def test_a_nul_attribute_counts_towards_the_16_as_in_javascript(self) -> None:
        # exposureAttributes picks the first 16 that fit, then cleanAttributes drops those with a NUL.
        client = self.client()
        attributes = {"bad": "\x00", **{f"a{i}": i for i in range(20)}}
        client.get_variant("pricing-page", {"id": "u1", "attributes": attributes})
        [exposure] = client.exposures
        self.assertEqual(list(exposure["attributes"]), [f"a{i}" for i in range(15)])

    def test_names_made_equal_by_the_fix_keep_the_last_value_in_the_first_place(self) -> None:
        client = self.client()
        client.get_variant("pricing-page", {"id": "u1", "attributes": {"n\ud800": 1, "m": 2, "n\udc00": 3}})
        [exposure] = client.exposures
        self.assertEqual(list(exposure["attributes"].items()), [("n\ufffd", 3), ("m", 2)])

    def test_a_surrogate_pair_given_as_two_code_points_is_one_character(self) -> None:
        client = self.client()
        client.get_variant("pricing-page", {"id": "\ud83d\ude00", "attributes": {"e": "\ud83d\ude00"}})
        [exposure] = client.exposures
        self.assertEqual((exposure["unitId"], exposure["attributes"]), ("\U0001F600", {"e": "\U0001F600"}))


if __name__ == "__main__":
    unittest.main()
