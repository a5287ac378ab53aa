"""Publishing platform events end to end against the emulator: a result row per input row, in
order; a row the service refuses, or one too large for any request, fails alone; a request cut
after the service applied it leaves its rows UNKNOWN_OUTCOME and is never sent again."""

from __future__ import annotations

import pyarrow as pa

import sfarrow
from sfarrow.testing import Org

ORDER_FIELDS = [{"name": "Sku__c", "type": "string"}, {"name": "Note__c", "type": "string"}]


def connect(org: Org) -> sfarrow.Connection:
    return sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file)


def received(conn: sfarrow.Connection, n: int) -> pa.Table:
    with conn.subscribe("/event/Order__e", replay="earliest", max_events=n, idle_timeout=5) as s:
        return pa.Table.from_batches(list(s))


def test_a_row_the_service_refuses_fails_alone_and_results_stay_row_aligned():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        rows = [{"Sku__c": "A"}, {"Sku__c": "too big", "Note__c": "x" * 1_500_000}, {"Sku__c": "C"}]
        res = conn.publish("/event/Order__e", rows)
        assert res.num_rows == 3
        assert res["success"].to_pylist() == [True, False, True]
        errors = res["error"].to_pylist()
        assert errors[0] is None and errors[2] is None
        assert errors[1].startswith("PUBLISH:") and "1 MB" in errors[1], errors[1]
        assert res["replay_id"][1].as_py() is None
        keys = res["correlation_key"].to_pylist()
        assert all(keys) and len(set(keys)) == 3
        t = received(conn, 2)
        assert t["Sku__c"].to_pylist() == ["A", "C"]
        assert t["event_id"].to_pylist() == [keys[0], keys[2]]
        assert t["replay_id"].to_pylist() == [res["replay_id"][0].as_py(), res["replay_id"][2].as_py()]


def test_an_event_over_the_request_size_limit_fails_alone():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        rows = [{"Sku__c": f"S{i}"} for i in range(3)]
        rows.insert(1, {"Sku__c": "huge", "Note__c": "y" * 5_000_000})
        rows.append({"Sku__c": "huge too", "Note__c": "z" * 9_000_000})
        rows.append({"Sku__c": "last"})
        res = conn.publish("/event/Order__e", rows)
        assert res.num_rows == 6
        assert res["success"].to_pylist() == [True, False, True, True, False, True]
        errors = res["error"].to_pylist()
        for i in (1, 4):
            assert errors[i].startswith("INVALID_INPUT:") and "MB" in errors[i], errors[i]
        assert [e for i, e in enumerate(errors) if i not in (1, 4)] == [None] * 4
        t = received(conn, 4)
        assert t["Sku__c"].to_pylist() == ["S0", "S1", "S2", "last"]
        keys = res["correlation_key"].to_pylist()
        assert t["event_id"].to_pylist() == [keys[i] for i in (0, 2, 3, 5)]


def test_a_publish_cut_after_it_was_applied_is_unknown_and_not_sent_again():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        assert org.event_count() == 0
        org.inject_pubsub_fault("drop_after")
        res = conn.publish("/event/Order__e", [{"Sku__c": f"C{i}"} for i in range(3)])
        assert res.num_rows == 3
        assert res["success"].to_pylist() == [False] * 3
        assert all(e.startswith("UNKNOWN_OUTCOME:") for e in res["error"].to_pylist()), res["error"]
        keys = res["correlation_key"].to_pylist()
        assert all(keys)
        # Applied once by the service, and not resent by the client.
        assert org.event_count() == 3
        t = received(conn, 3)
        assert t["event_id"].to_pylist() == keys
        # The connection is made again for the next publish.
        again = conn.publish("/event/Order__e", [{"Sku__c": "after"}])
        assert again["success"].to_pylist() == [True]
        assert org.event_count() == 4
