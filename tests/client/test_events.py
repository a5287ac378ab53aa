"""Events through sfarrow against the emulator's Pub/Sub API: change events from every write
path, in commit order, typed as ``conn.query`` types the same fields; platform events published
and received; exactly-once delivery across dropped streams; replay ids that cannot be resumed;
a token that expires mid-stream; async iteration."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow as pa
import pytest
import requests
from sf_helpers import soap_undelete
from waits import wait_until

import sfarrow
from sfarrow.exceptions import ReplayIdError
from sfarrow.testing import Org

ORDER_FIELDS = [{"name": "Sku__c", "type": "string"}, {"name": "Qty__c", "type": "double"}, {"name": "Seq__c", "type": "double"}]
HEADER = {
    "replay_id",
    "event_id",
    "change_type",
    "entity",
    "record_ids",
    "changed_fields",
    "nulled_fields",
    "diff_fields",
    "change_origin",
    "transaction_key",
    "sequence_number",
    "commit_timestamp",
    "commit_number",
    "commit_user",
}


def connect(org: Org) -> sfarrow.Connection:
    return sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file)


def drain(stream, n: int) -> pa.Table:
    batches = []
    got = 0
    for b in stream:
        batches.append(b)
        got += b.num_rows
        if got >= n:
            break
    return pa.Table.from_batches(batches) if batches else pa.table({})


def test_change_events_from_every_write_path_in_commit_order():
    with Org(pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        rows = [{"Name": f"Acme {i}", "Website": f"https://acme{i}.example", "Phone": "000", "AnnualRevenue": 1000 + i} for i in range(1000)]
        ins = conn.insert("Account", rows, api="bulk", parallel=1)
        assert ins["success"].to_pylist() == [True] * 1000
        ids = ins["id"].to_pylist()
        updated = ids[:500]
        upd = conn.update("Account", [{"Id": i, "Phone": f"555-{n}", "Website": None} for n, i in enumerate(updated)], api="rest", parallel=1)
        assert all(upd["success"].to_pylist())
        deleted = ids[500:600]
        assert all(conn.delete("Account", deleted, api="rest", parallel=1)["success"].to_pylist())
        restored = deleted[:10]
        soap_undelete(org, restored)
        h = {"Authorization": f"Bearer {org.access_token}"}
        edited = ids[900:903]
        for i in edited:
            r = requests.patch(f"{org.api_url}/sobjects/Account/{i}", json={"BillingCity": "Lyon", "Description": "edited"}, headers=h)
            assert r.status_code == 204

        expected = 1000 + 500 + 1 + 10 + 3
        # Room for more than expected: the stream ends when the topic has been quiet for a
        # second, so an event too many (a write published twice) would be counted.
        with conn.subscribe("/data/AccountChangeEvent", replay="earliest", max_events=expected + 50, idle_timeout=1.0) as s:
            t = drain(s, expected + 50)
        assert t.num_rows == expected, "nothing past the writes above"
        kinds = t["change_type"].to_pylist()
        assert kinds == ["CREATE"] * 1000 + ["UPDATE"] * 500 + ["DELETE"] + ["UNDELETE"] * 10 + ["UPDATE"] * 3
        rids = t["record_ids"].to_pylist()
        assert [r[0] for r in rids[:1000]] == ids
        assert [r[0] for r in rids[1000:1500]] == updated
        assert rids[1500] == deleted  # one transaction's identical deletes: one event
        assert [r[0] for r in rids[1501:1511]] == restored
        assert [r[0] for r in rids[1511:]] == edited
        replays = t["replay_id"].to_pylist()
        assert replays == sorted(replays) and len(set(replays)) == expected
        assert t["commit_number"].to_pylist() == sorted(t["commit_number"].to_pylist())
        # Bulk ingest commits every 200 rows: five transactions, numbered 1..200 inside.
        txs = t["transaction_key"].to_pylist()[:1000]
        assert len(set(txs)) == 5
        assert t["sequence_number"].to_pylist()[:200] == list(range(1, 201))
        origins = t["change_origin"].to_pylist()
        assert origins[0].startswith("com/salesforce/api/bulkapi/") and origins[1000].startswith("com/salesforce/api/rest/")
        assert origins[1501].startswith("com/salesforce/api/soap/")
        assert set(t["commit_user"].to_pylist()) == {org.user_id}
        assert t.schema.field("commit_timestamp").type == pa.timestamp("ms", tz="+00:00")

        first_update = t.slice(1000, 1).to_pylist()[0]
        assert sorted(first_update["changed_fields"]) == ["LastModifiedDate", "Phone", "Website"]
        assert first_update["nulled_fields"] == ["Website"]
        assert first_update["Phone"] == "555-0" and first_update["Name"] is None and first_update["Website"] is None
        edit = t.slice(1511, 1).to_pylist()[0]
        assert sorted(edit["changed_fields"]) == ["BillingAddress.City", "Description", "LastModifiedDate"]
        assert edit["BillingAddress"]["city"] == "Lyon"
        create = t.slice(0, 1).to_pylist()[0]
        assert create["Name"] == "Acme 0" and create["Website"] == "https://acme0.example" and create["changed_fields"] == []
        delete = t.slice(1500, 1).to_pylist()[0]
        assert all(delete[c] is None for c in t.column_names if c not in HEADER)
        undelete = t.slice(1501, 1).to_pylist()[0]
        assert undelete["Name"] == "Acme 500"

        # Every record column has the type conn.query gives the same field.
        fields = [c for c in t.column_names if c not in HEADER]
        q = conn.query(f"SELECT {', '.join(fields)} FROM Account LIMIT 1")
        for c in fields:
            assert t.schema.field(c).type == q.schema.field(c).type, c
        assert t.schema.field("AnnualRevenue").type == q.schema.field("AnnualRevenue").type
        assert pa.types.is_struct(t.schema.field("BillingAddress").type)


def test_rollback_publishes_nothing_and_unselected_objects_are_silent():
    with Org(seed={"Account": 2}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Contact"])
        conn = connect(org)
        conn.insert("Account", [{"Name": "not selected"}])
        res = conn.insert("Contact", [{"LastName": "ok"}, {"LastName": None}], all_or_none=True, on_error="continue")
        assert not any(res["success"].to_pylist())
        conn.insert("Contact", [{"LastName": "kept"}])
        with conn.subscribe("/data/ChangeEvents", replay="earliest", idle_timeout=1.5) as s:
            t = drain(s, 10)
        assert t["entity"].to_pylist() == ["Contact"] and t["change_type"].to_pylist() == ["CREATE"]
        assert t["LastName"].to_pylist() == ["kept"]


def test_platform_events_round_trip_from_dicts_pandas_and_polars():
    import pandas as pd
    import polars as pl

    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        r1 = conn.publish("/event/Order__e", [{"Sku__c": "D", "Qty__c": 1}])
        r2 = conn.publish("/event/Order__e", pd.DataFrame({"Sku__c": ["P1", "P2"], "Qty__c": [2.0, 3.0]}))
        r3 = conn.publish("/event/Order__e", pl.DataFrame({"Sku__c": ["L"], "Qty__c": [4.5]}))
        results = pa.concat_tables([r1, r2, r3])
        assert results.column_names == ["replay_id", "success", "error", "correlation_key"]
        assert results["success"].to_pylist() == [True] * 4
        with conn.subscribe("/event/Order__e", replay="earliest", max_events=4, idle_timeout=10) as s:
            t = drain(s, 4)
        assert t["Sku__c"].to_pylist() == ["D", "P1", "P2", "L"]
        assert t["event_id"].to_pylist() == results["correlation_key"].to_pylist()
        assert t["replay_id"].to_pylist() == results["replay_id"].to_pylist()
        assert set(t["CreatedById"].to_pylist()) == {org.user_id}
        assert t.schema.field("CreatedDate").type == pa.timestamp("ms", tz="+00:00")
        with pytest.raises(sfarrow.ConfigurationError, match="Nope__c"):
            conn.publish("/event/Order__e", [{"Nope__c": 1}])
        with pytest.raises(sfarrow.ConfigurationError):
            conn.publish("/data/AccountChangeEvent", [{"Name": "x"}])


def test_pysfpubsub_publishes_and_sfarrow_receives(monkeypatch):
    import grpc
    import pysfpubsub.pubsub as ps

    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        monkeypatch.setattr(ps, "secure_channel_credentials", grpc.ssl_channel_credentials(org.ca_pem.encode()))
        client = ps.Client(url=org.url, username=org.username, password="x", grpc_host="127.0.0.1", grpc_port=int(org.pubsub_url.rsplit(":", 1)[1]))
        client.auth()
        topic = client.get_topic("/event/Order__e")
        schema = client.get_schema_json(topic.schema_id)
        payload = {"CreatedDate": int(time.time()), "CreatedById": org.user_id, "Sku__c": "FROM-PY", "Qty__c": 7.0, "Seq__c": None}
        client.publish("/event/Order__e", [client.format_payload(schema, topic.schema_id, payload)])
        with connect(org).subscribe("/event/Order__e", replay="earliest", max_events=1, idle_timeout=10) as s:
            t = drain(s, 1)
        assert t["Sku__c"].to_pylist() == ["FROM-PY"] and t["Qty__c"].to_pylist() == [7.0]


def test_exactly_once_across_twenty_dropped_streams():
    n = 10_000
    rng = random.Random(15)
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        for _ in range(20):
            org.inject_pubsub_fault(rng.choice(["drop", "end"]), after_events=rng.randint(50, 400))
        seen: list[str] = []
        replays: list[bytes] = []
        errors: list[BaseException] = []
        stream = conn.subscribe("/event/Order__e", replay="latest")

        def consume():
            try:
                for b in stream:
                    seen.extend(b["event_id"].to_pylist())
                    replays.extend(b["replay_id"].to_pylist())
                    if len(seen) >= n // 2:
                        return
            except BaseException as e:
                errors.append(e)

        t = threading.Thread(target=consume)
        t.start()
        # A position first (a keepalive's): a drop before any would resubscribe at "latest"
        # and miss what was published meanwhile, as on Salesforce.
        wait_until(lambda: stream.replay_id, timeout=10, what="the stream's first position")
        keys: list[str] = []
        # Published through a connection of its own: a "drop" cuts the subscriber's connection,
        # and a publish in flight on it would (rightly) come back UNKNOWN_OUTCOME.
        publisher = connect(org)
        for chunk in range(20):
            rows = [{"Sku__c": f"S{chunk}-{i}", "Seq__c": float(chunk * 500 + i)} for i in range(500)]
            res = publisher.publish("/event/Order__e", rows)
            assert all(res["success"].to_pylist())
            keys.extend(res["correlation_key"].to_pylist())
        t.join(timeout=120)
        assert not errors and not t.is_alive()
        checkpoint = stream.replay_id
        stream.close()
        assert stream.reconnects >= 10
        # The rest from the saved replay id, in a new subscription: exactly once overall.
        with conn.subscribe("/event/Order__e", replay=checkpoint, max_events=n - len(seen)) as rest:
            for b in rest:
                seen.extend(b["event_id"].to_pylist())
                replays.extend(b["replay_id"].to_pylist())
        assert len(seen) == n and len(set(seen)) == n
        assert seen == keys
        assert replays == sorted(replays)


def test_expired_or_foreign_replay_ids():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        res = conn.publish("/event/Order__e", [{"Sku__c": "old"}])
        old = res["replay_id"][0].as_py()
        org.expire_events(0)
        conn.publish("/event/Order__e", [{"Sku__c": "new"}])
        with pytest.raises(ReplayIdError) as e:
            with conn.subscribe("/event/Order__e", replay=old) as s:
                next(iter(s))
        assert "replayid.corrupted" in (e.value.error_code or "")
        with conn.subscribe("/event/Order__e", replay=old, on_invalid_replay="earliest", max_events=1, idle_timeout=10) as s:
            t = drain(s, 1)
            assert s.fell_back
        assert t["Sku__c"].to_pylist() == ["new"]
        with pytest.raises(ReplayIdError):
            with conn.subscribe("/event/Order__e", replay=b"not-8-bytes!") as s:
                next(iter(s))
        for bad in ("", b"", "zz"):
            with pytest.raises(ValueError):
                conn.subscribe("/event/Order__e", replay=bad)
        with pytest.raises(ValueError):
            conn.subscribe("/event/Order__e", batch_size=101)


def test_a_token_that_expires_mid_stream_is_renewed():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url, pubsub_url=org.pubsub_url, ca_file=org.ca_file)
        before = conn.renewals
        org.inject_pubsub_fault("expire_token", after_events=30)
        conn.publish("/event/Order__e", [{"Sku__c": f"T{i}"} for i in range(100)])
        with conn.subscribe("/event/Order__e", replay="earliest", max_events=100, idle_timeout=10) as s:
            t = drain(s, 100)
        assert t["Sku__c"].to_pylist() == [f"T{i}" for i in range(100)]
        assert conn.renewals == before + 1


def test_a_session_that_cannot_renew_raises_authentication_error():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        conn.publish("/event/Order__e", [{"Sku__c": f"T{i}"} for i in range(10)])
        org.inject_pubsub_fault("expire_token", after_events=5)
        with pytest.raises(sfarrow.AuthenticationError):
            with conn.subscribe("/event/Order__e", replay="earliest") as s:
                drain(s, 10)


def test_async_iteration_and_gap_events():
    async def main(org: Org) -> pa.Table:
        conn = connect(org)
        out = []
        async with asyncio.timeout(20):
            stream = conn.subscribe("/data/AccountChangeEvent", replay="earliest", max_events=2)
            async for b in stream:
                out.append(b)
        return pa.Table.from_batches(out)

    with Org(seed={"Account": 1}, pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        ids = [r["Id"] for r in connect(org).query("SELECT Id FROM Account").to_pylist()]
        org.publish_gap("Account", "GAP_UPDATE", ids)
        org.set_overflow_threshold(1)
        connect(org).update("Account", [{"Id": ids[0], "Name": "a", "Phone": "1"}])
        t = asyncio.run(main(org))
    assert t["change_type"].to_pylist() == ["GAP_UPDATE", "GAP_OVERFLOW"]
    assert t["record_ids"].to_pylist() == [ids, ["000000000000000AAA"]]


def test_keepalives_advance_the_replay_id_and_the_gil_is_free():
    with Org(pubsub_keepalive=0.1) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        conn.publish("/event/Order__e", [{"Sku__c": "x"}])
        org.seed("Account", 1)  # another topic's events move the org's position on
        ticks = 0
        stop = threading.Event()

        def count():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.001)

        c = threading.Thread(target=count)
        c.start()
        with conn.subscribe("/event/Order__e", replay="latest", idle_timeout=0.8) as s:
            assert list(s) == []
            assert len(s.replay_id) == 8
        stop.set()
        c.join()
        assert ticks > 100  # the other thread ran while subscribe waited


def test_ctrl_c_ends_a_blocking_subscribe_cleanly(tmp_path):
    script = tmp_path / "sub.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import sfarrow
            from sfarrow.testing import Org
            with Org() as org:
                org.define_event("Order__e", [])
                conn = sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file)
                s = conn.subscribe("/event/Order__e")
                print("ready", flush=True)
                try:
                    for b in s:
                        pass
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
            """
        )
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    p.send_signal(2)
    out, err = p.communicate(timeout=30)
    assert "interrupted" in out, err
    assert p.returncode == 0, err


def test_latest_delivers_a_write_made_right_after_subscribe_returns():
    with Org(pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        for i in range(5):
            with conn.subscribe("/data/AccountChangeEvent", replay="latest", max_events=1, idle_timeout=5) as s:
                rid = conn.insert("Account", [{"Name": f"right after {i}"}])["id"][0].as_py()
                t = drain(s, 1)
            assert t["record_ids"].to_pylist() == [[rid]]


def test_custom_objects_and_hard_deletes_emit_change_events():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_object("Invoice__c", [{"name": "Amount__c", "type": "currency", "precision": 18, "scale": 2}])
        org.select_change_events(["Invoice__c", "Account"])
        assert sorted(org.change_events_selected()) == ["Account", "Invoice__c"]
        conn = connect(org)
        inv = conn.insert("Invoice__c", [{"Name": "INV-1", "Amount__c": 12.5}])["id"][0].as_py()
        assert inv.startswith("a0")
        acc = conn.insert("Account", [{"Name": "gone"}, {"Name": "gone too"}])["id"].to_pylist()
        hard = conn.delete("Account", acc, hard=True, api="bulk")
        assert all(hard["success"].to_pylist())
        with conn.subscribe("/data/Invoice__ChangeEvent", replay="earliest", max_events=1, idle_timeout=10) as s:
            t = drain(s, 1)
        assert t["entity"].to_pylist() == ["Invoice__c"] and t["Name"].to_pylist() == ["INV-1"]
        q = conn.query("SELECT Amount__c FROM Invoice__c")
        assert t.schema.field("Amount__c").type == q.schema.field("Amount__c").type
        with conn.subscribe("/data/AccountChangeEvent", replay="earliest", max_events=2, idle_timeout=10) as s:
            t = drain(s, 2)
        # Two creates, then the hard delete of both in one transaction: one merged DELETE.
        with conn.subscribe("/data/AccountChangeEvent", replay=t["replay_id"][1].as_py(), max_events=1, idle_timeout=10) as s:
            d = drain(s, 1)
        assert d["change_type"].to_pylist() == ["DELETE"] and sorted(d["record_ids"][0].as_py()) == sorted(acc)
        assert d["change_origin"][0].as_py().startswith("com/salesforce/api/bulkapi/")


def test_composite_requests_emit_change_events():
    with Org(pubsub_keepalive=0.2) as org:
        org.select_change_events(["Account"])
        conn = connect(org)
        base = f"/services/data/v{org.api_version}/sobjects/Account"
        r = conn.request(
            "POST",
            "composite",
            json={
                "allOrNone": True,
                "compositeRequest": [
                    {"method": "POST", "url": base, "referenceId": "acc", "body": {"Name": "Composite Co"}},
                    {"method": "PATCH", "url": f"{base}/@{{acc.id}}", "referenceId": "upd", "body": {"Phone": "123"}},
                ],
            },
        )
        assert [x["httpStatusCode"] for x in r["compositeResponse"]] == [201, 204], r
        acc = r["compositeResponse"][0]["body"]["id"]
        # The stream ends when the topic is quiet for 5 s: a missing event fails the test.
        with conn.subscribe("/data/AccountChangeEvent", replay="earliest", max_events=2, idle_timeout=5) as s:
            t = drain(s, 2)
        assert t.num_rows == 2 and t["change_type"].to_pylist() == ["CREATE", "UPDATE"]
        assert t["record_ids"].to_pylist() == [[acc], [acc]]
        assert t["Name"].to_pylist() == ["Composite Co", None] and t["Phone"].to_pylist() == [None, "123"]
        assert all(o.startswith("com/salesforce/api/rest/") for o in t["change_origin"].to_pylist())


def test_platform_events_through_sobject_collections_and_in_describe():
    with Org(pubsub_keepalive=0.2) as org:
        org.define_event("Order__e", ORDER_FIELDS)
        conn = connect(org)
        d = conn.request("GET", "sobjects/Order__e/describe")
        fields = {f["name"] for f in d["fields"]}
        assert {"Sku__c", "Qty__c", "Seq__c", "CreatedDate", "CreatedById", "ReplayId", "EventUuid"} <= fields
        assert "Order__e" in {o["name"] for o in conn.request("GET", "sobjects")["sobjects"]}
        records = [{"attributes": {"type": "Order__e"}, "Sku__c": f"COL-{i}", "Qty__c": i} for i in range(3)]
        r = conn.request("POST", "composite/sobjects", json={"allOrNone": False, "records": records})
        assert [x["success"] for x in r] == [True] * 3
        assert all(x["errors"][0]["statusCode"] == "OPERATION_ENQUEUED" for x in r)
        with conn.subscribe("/event/Order__e", replay="earliest", max_events=3, idle_timeout=5) as s:
            t = drain(s, 3)
        assert t.num_rows == 3 and t["Sku__c"].to_pylist() == ["COL-0", "COL-1", "COL-2"] and t["Qty__c"].to_pylist() == [0.0, 1.0, 2.0]
        # The UUID the save reported is the id subscribers see.
        assert t["event_id"].to_pylist() == [x["errors"][0]["message"] for x in r]
