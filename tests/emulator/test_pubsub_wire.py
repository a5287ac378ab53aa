"""The Pub/Sub API as public clients see it: raw grpcio with the official generated stubs (as
shipped in pysfpubsub), over TLS with the org's CA and in plaintext. Checks the documented
wire behaviour: auth failures with their trailers, credit capped at 100 and additive,
keepalives with a latest replay id, replay presets, bitmaps, publish results."""

from __future__ import annotations

import io
import queue
import threading
import time

import avro.io
import avro.schema
import grpc
import pytest
import requests
from pysfpubsub import pubsub_api_pb2 as pb2
from pysfpubsub import pubsub_api_pb2_grpc as pb2_grpc

from sfarrow.testing import Org

ORDER_FIELDS = [{"name": "Sku__c", "type": "string"}, {"name": "Qty__c", "type": "double"}, {"name": "Rush__c", "type": "boolean"}]


@pytest.fixture(scope="module")
def porg():
    with Org(seed={"Account": 3}, pubsub_keepalive=0.3) as o:
        o.define_event("Order__e", ORDER_FIELDS)
        o.select_change_events(["Account"])
        yield o


def metadata(org: Org, token: str | None = None) -> tuple[tuple[str, str], ...]:
    return (("accesstoken", token or org.access_token), ("instanceurl", org.url), ("tenantid", org.org_id))


def tls_stub(org: Org, host: str = "127.0.0.1") -> pb2_grpc.PubSubStub:
    assert org.pubsub_url and org.ca_pem
    port = org.pubsub_url.rsplit(":", 1)[1]
    creds = grpc.ssl_channel_credentials(org.ca_pem.encode())
    return pb2_grpc.PubSubStub(grpc.secure_channel(f"{host}:{port}", creds))


def plain_stub(org: Org) -> pb2_grpc.PubSubStub:
    assert org.pubsub_plain_url
    return pb2_grpc.PubSubStub(grpc.insecure_channel(org.pubsub_plain_url.removeprefix("http://")))


def decode(schema_json: str, payload: bytes) -> dict:
    reader = avro.io.DatumReader(avro.schema.parse(schema_json))
    return reader.read(avro.io.BinaryDecoder(io.BytesIO(payload)))


def encode(schema_json: str, record: dict) -> bytes:
    buf = io.BytesIO()
    avro.io.DatumWriter(avro.schema.parse(schema_json)).write(record, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


class Subscription:
    """A Subscribe call driven from a queue of FetchRequests, its responses collected."""

    def __init__(self, stub, md, first: pb2.FetchRequest):
        self.requests: queue.Queue = queue.Queue()
        self.requests.put(first)
        self.responses: queue.Queue = queue.Queue()
        self.call = stub.Subscribe(self._gen(), metadata=md)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _gen(self):
        while True:
            r = self.requests.get()
            if r is None:
                return
            yield r

    def _read(self):
        try:
            for r in self.call:
                self.responses.put(r)
        except grpc.RpcError as e:
            self.responses.put(e)

    def next(self, timeout: float = 10.0):
        r = self.responses.get(timeout=timeout)
        if isinstance(r, grpc.RpcError):
            raise r
        return r

    def events(self, n: int, timeout: float = 10.0) -> list:
        out: list = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            r = self.next(max(0.1, deadline - time.monotonic()))
            out.extend(r.events)
        return out

    def close(self):
        self.call.cancel()
        self.requests.put(None)


def publish_orders(stub, org, n: int, start: int = 0) -> list:
    topic = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order__e"), metadata=metadata(org))
    schema = stub.GetSchema(pb2.SchemaRequest(schema_id=topic.schema_id), metadata=metadata(org)).schema_json
    events = [
        pb2.ProducerEvent(
            schema_id=topic.schema_id,
            payload=encode(
                schema, {"CreatedDate": int(time.time() * 1000), "CreatedById": org.user_id, "Sku__c": f"S-{i}", "Qty__c": float(i), "Rush__c": i % 2 == 0}
            ),
        )
        for i in range(start, start + n)
    ]
    r = stub.Publish(pb2.PublishRequest(topic_name="/event/Order__e", events=events), metadata=metadata(org))
    assert all(not x.HasField("error") for x in r.results), r
    return list(r.results)


def test_topic_and_schema_over_tls_on_ip_and_name(porg):
    for host in ("127.0.0.1", "localhost"):
        stub = tls_stub(porg, host)
        t = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order__e"), metadata=metadata(porg))
        assert t.topic_name == "/event/Order__e" and t.can_publish and t.can_subscribe
        assert t.tenant_guid == porg.org_id and len(t.schema_id) == 22 and t.rpc_id
        s = stub.GetSchema(pb2.SchemaRequest(schema_id=t.schema_id), metadata=metadata(porg))
        parsed = avro.schema.parse(s.schema_json)
        assert parsed.fullname == "com.sforce.eventbus.Order__e"
        assert [f.name for f in parsed.fields] == ["CreatedDate", "CreatedById", "Sku__c", "Qty__c", "Rush__c"]
    cdc = plain_stub(porg).GetTopic(pb2.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=metadata(porg))
    assert not cdc.can_publish and cdc.can_subscribe
    schema = plain_stub(porg).GetSchema(pb2.SchemaRequest(schema_id=cdc.schema_id), metadata=metadata(porg)).schema_json
    fields = [f.name for f in avro.schema.parse(schema).fields]
    assert fields[0] == "ChangeEventHeader" and "BillingAddress" in fields and "Id" not in fields


def test_auth_failures_carry_the_error_code_trailer(porg):
    stub = plain_stub(porg)
    cases = [
        (metadata(porg, token="00Dbogus!token"), "sfdc.platform.eventbus.grpc.service.auth.error"),
        ((("instanceurl", porg.url), ("tenantid", porg.org_id)), "sfdc.platform.eventbus.grpc.service.auth.headers.invalid"),
        ((("accesstoken", porg.access_token), ("instanceurl", porg.url), ("tenantid", "00D000000000001")), "sfdc.platform.eventbus.grpc.service.auth.error"),
    ]
    for md, code in cases:
        with pytest.raises(grpc.RpcError) as e:
            stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order__e"), metadata=md)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert " rpcId: " in e.value.details()
        trailers = dict(e.value.trailing_metadata())
        assert trailers["error-code"] == code and trailers["rpc-id"]
    with pytest.raises(grpc.RpcError) as e:
        stub.GetTopic(pb2.TopicRequest(topic_name="/event/Nope__e"), metadata=metadata(porg))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert dict(e.value.trailing_metadata())["error-code"].endswith("topic.not.found")


def test_credit_is_additive_capped_and_keepalives_carry_the_latest_replay_id(porg):
    stub = plain_stub(porg)
    sub = Subscription(stub, metadata(porg), pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.LATEST, num_requested=10))
    try:
        keep = sub.next()
        assert not keep.events and len(keep.latest_replay_id) == 8 and keep.pending_num_requested == 10 and keep.rpc_id
        results = publish_orders(stub, porg, 4)
        got = sub.events(4)
        assert [e.replay_id for e in got] == [r.replay_id for r in results]
        # A full request repeated often, as some clients do, saturates credit at 100 silently.
        for _ in range(30):
            sub.requests.put(pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.EARLIEST, num_requested=50))
        time.sleep(0.5)
        publish_orders(stub, porg, 150)
        delivered = sub.events(100)
        assert len(delivered) == 100
        with pytest.raises(queue.Empty):
            while True:
                r = sub.next(timeout=0.8)
                assert not r.events, "more than 100 events against 100 credits"
        # Keepalives go on with zero credit? No: they need credit. Add 5 and the rest flows.
        sub.requests.put(pb2.FetchRequest(topic_name="/event/Order__e", num_requested=5))
        assert len(sub.events(5)) == 5
    finally:
        sub.close()


def test_replay_presets_and_bad_replay_ids(porg):
    stub = plain_stub(porg)
    results = publish_orders(stub, porg, 3, start=1000)
    sub = Subscription(
        stub,
        metadata(porg),
        pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=results[0].replay_id, num_requested=2),
    )
    try:
        got = sub.events(2)
        # CUSTOM starts after the given event.
        assert [e.replay_id for e in got] == [r.replay_id for r in results[1:]]
    finally:
        sub.close()
    for bad in (b"25243248", b"\x00" * 8, b"\xff" * 8):
        sub = Subscription(
            stub, metadata(porg), pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=bad, num_requested=1)
        )
        with pytest.raises(grpc.RpcError) as e:
            sub.next()
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(e.value.trailing_metadata())["error-code"].endswith("subscription.fetch.replayid.corrupted")
        sub.close()
    sub = Subscription(stub, metadata(porg), pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.CUSTOM, num_requested=1))
    with pytest.raises(grpc.RpcError) as e:
        sub.next()
    assert dict(e.value.trailing_metadata())["error-code"].endswith("replayid.validation.failed")
    sub.close()


def test_publish_results_are_per_event_and_in_order(porg):
    stub = plain_stub(porg)
    t = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order__e"), metadata=metadata(porg))
    schema = stub.GetSchema(pb2.SchemaRequest(schema_id=t.schema_id), metadata=metadata(porg)).schema_json
    good = encode(schema, {"CreatedDate": 1, "CreatedById": porg.user_id, "Sku__c": None, "Qty__c": None, "Rush__c": None})
    events = [
        pb2.ProducerEvent(id="my-key-1", schema_id=t.schema_id, payload=good),
        pb2.ProducerEvent(schema_id=t.schema_id, payload=b"\x01"),
        pb2.ProducerEvent(schema_id="nope", payload=good),
        pb2.ProducerEvent(schema_id=t.schema_id, payload=good),
        pb2.ProducerEvent(id="x" * 37, schema_id=t.schema_id, payload=good),
    ]
    r = stub.Publish(pb2.PublishRequest(topic_name="/event/Order__e", events=events), metadata=metadata(porg))
    ok = [not x.HasField("error") for x in r.results]
    assert ok == [True, False, False, True, False]
    assert r.results[0].correlation_key == "my-key-1" and len(r.results[0].replay_id) == 8
    assert r.results[1].correlation_key == "" and r.results[1].error.code == pb2.ErrorCode.PUBLISH
    assert len(r.results[3].correlation_key) == 36
    assert r.schema_id == t.schema_id
    with pytest.raises(grpc.RpcError) as e:
        stub.Publish(pb2.PublishRequest(topic_name="/data/AccountChangeEvent", events=events[:1]), metadata=metadata(porg))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_change_events_from_rest_with_bitmaps(porg):
    stub = plain_stub(porg)
    sub = Subscription(stub, metadata(porg), pb2.FetchRequest(topic_name="/data/AccountChangeEvent", replay_preset=pb2.ReplayPreset.LATEST, num_requested=100))
    try:
        sub.next()  # the first keepalive: subscribed
        h = {"Authorization": f"Bearer {porg.access_token}", "Content-Type": "application/json"}
        base = f"{porg.api_url}/sobjects/Account"
        created = requests.post(base, json={"Name": "Wire Co", "Phone": "555", "BillingCity": "Paris"}, headers=h).json()["id"]
        assert requests.patch(f"{base}/{created}", json={"Phone": None, "BillingPostalCode": "75001"}, headers=h).status_code == 204
        assert requests.delete(f"{base}/{created}", headers=h).status_code == 204
        got = sub.events(3)
        schemas = {e.event.schema_id for e in got}
        assert len(schemas) == 1
        schema_json = stub.GetSchema(pb2.SchemaRequest(schema_id=schemas.pop()), metadata=metadata(porg)).schema_json
        names = [f.name for f in avro.schema.parse(schema_json).fields]
        recs = [decode(schema_json, e.event.payload) for e in got]
        kinds = [r["ChangeEventHeader"]["changeType"] for r in recs]
        assert kinds == ["CREATE", "UPDATE", "DELETE"]
        create, update, delete = recs
        assert create["Name"] == "Wire Co" and create["BillingAddress"]["City"] == "Paris"
        assert create["ChangeEventHeader"]["recordIds"] == [created]
        assert create["ChangeEventHeader"]["changeOrigin"].startswith("com/salesforce/api/rest/")
        assert update["Name"] is None and update["Phone"] is None and update["BillingAddress"]["PostalCode"] == "75001"

        def fields(bitmaps):
            out = []
            for b in bitmaps:
                if "-" in b:
                    parent, bits = b.split("-")
                    nested = avro.schema.parse(schema_json).fields[int(parent)].type.schemas[1].fields
                    v = int(bits, 16)
                    out += [f"{names[int(parent)]}.{nested[i].name}" for i in range(len(nested)) if v >> i & 1]
                else:
                    v = int(b, 16)
                    out += [names[i] for i in range(len(names)) if v >> i & 1]
            return sorted(out)

        assert fields(update["ChangeEventHeader"]["changedFields"]) == sorted(["Phone", "LastModifiedDate", "BillingAddress.PostalCode"])
        assert fields(update["ChangeEventHeader"]["nulledFields"]) == ["Phone"]
        assert all(b == b.upper().replace("0X", "0x") for b in update["ChangeEventHeader"]["changedFields"])
        assert all(delete[n] is None for n in names[1:])
        seqs = [r["ChangeEventHeader"]["transactionKey"] for r in recs]
        assert len(set(seqs)) == 3
        assert create["ChangeEventHeader"]["commitNumber"] < update["ChangeEventHeader"]["commitNumber"] < delete["ChangeEventHeader"]["commitNumber"]
    finally:
        sub.close()


def test_rest_published_platform_events_carry_their_uuid(porg):
    stub = plain_stub(porg)
    sub = Subscription(stub, metadata(porg), pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.LATEST, num_requested=10))
    try:
        sub.next()
        h = {"Authorization": f"Bearer {porg.access_token}"}
        r = requests.post(f"{porg.api_url}/sobjects/Order__e", json={"Sku__c": "REST-1", "Qty__c": 2}, headers=h)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["success"] and body["id"].startswith("e0")
        assert body["errors"][0]["statusCode"] == "OPERATION_ENQUEUED"
        (e,) = sub.events(1)
        assert e.event.id == body["errors"][0]["message"]
        t = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order__e"), metadata=metadata(porg))
        schema = stub.GetSchema(pb2.SchemaRequest(schema_id=t.schema_id), metadata=metadata(porg)).schema_json
        rec = decode(schema, e.event.payload)
        assert rec["Sku__c"] == "REST-1" and rec["Qty__c"] == 2.0 and rec["CreatedById"] == porg.user_id
        q = requests.get(f"{porg.api_url}/query", params={"q": "SELECT Id FROM Order__e"}, headers=h)
        assert q.status_code == 400 and q.json()[0]["errorCode"] == "INVALID_TYPE"
    finally:
        sub.close()


def test_pysfpubsub_unmodified(porg, monkeypatch):
    """pysfpubsub from PyPI: SOAP login, topic, schema, subscribe, its own Avro decoding, publish.
    Only its module-level TLS roots are replaced with the org's CA."""
    import pysfpubsub.pubsub as ps

    monkeypatch.setattr(ps, "secure_channel_credentials", grpc.ssl_channel_credentials(porg.ca_pem.encode()))
    port = int(porg.pubsub_url.rsplit(":", 1)[1])
    client = ps.Client(url=porg.url, username=porg.username, password="any", grpc_host="127.0.0.1", grpc_port=port)
    client.auth()
    assert client.tenant_id == porg.org_id and client.session_id
    topic = client.get_topic("/event/Order__e")
    schema = client.get_schema_json(topic.schema_id)
    seen: list[dict] = []

    class Done(Exception):
        pass

    def callback(event, c):
        for e in event.events:
            seen.append(c.decode(c.get_schema_json(e.event.schema_id), e.event.payload))
        if event.pending_num_requested == 0:
            c.release_subscription_semaphore()
        if len(seen) >= 2:
            raise Done

    errors: list[BaseException] = []

    def run():
        try:
            client.subscribe("/event/Order__e", "LATEST", b"", 2, callback)
        except Done:
            pass
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(1.0)  # subscribed at LATEST before anything is published
    payload = {"CreatedDate": int(time.time()), "CreatedById": porg.user_id, "Sku__c": "PY-1", "Qty__c": 1.5, "Rush__c": True}
    results = client.publish(
        "/event/Order__e",
        [client.format_payload(schema, topic.schema_id, payload), client.format_payload(schema, topic.schema_id, {**payload, "Sku__c": "PY-2"})],
    )
    assert [len(r.replay_id) for r in results.results] == [8, 8]
    t.join(timeout=20)
    client.release_subscription_semaphore()
    assert not errors and not t.is_alive()
    assert [s["Sku__c"] for s in seen] == ["PY-1", "PY-2"]
    assert seen[0]["Qty__c"] == 1.5 and seen[0]["Rush__c"] is True

    # Change events through the same client: its Avro library decodes the header and bitmaps.
    cdc: list[dict] = []

    def on_change(event, c):
        for e in event.events:
            cdc.append(c.decode(c.get_schema_json(e.event.schema_id), e.event.payload))
        if event.pending_num_requested == 0:
            c.release_subscription_semaphore()
        if cdc:
            raise Done

    def run_cdc():
        try:
            client.subscribe("/data/AccountChangeEvent", "LATEST", b"", 5, on_change)
        except Done:
            pass
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=run_cdc, daemon=True)
    t.start()
    time.sleep(1.0)
    h = {"Authorization": f"Bearer {client.session_id}"}
    rid = requests.post(f"{porg.api_url}/sobjects/Account", json={"Name": "Seen by pysfpubsub", "BillingCity": "Oslo"}, headers=h).json()["id"]
    t.join(timeout=20)
    client.release_subscription_semaphore()
    assert not errors and not t.is_alive()
    (change,) = cdc
    header = change["ChangeEventHeader"]
    assert header["changeType"] == "CREATE" and header["recordIds"] == [rid] and header["entityName"] == "Account"
    assert change["Name"] == "Seen by pysfpubsub" and change["BillingAddress"]["City"] == "Oslo"
    assert isinstance(header["commitTimestamp"], int) and header["changedFields"] == []


def test_soap_undelete_emits_an_undelete_event(porg):
    stub = plain_stub(porg)
    h = {"Authorization": f"Bearer {porg.access_token}"}
    base = f"{porg.api_url}/sobjects/Account"
    rid = requests.post(base, json={"Name": "Back Again"}, headers=h).json()["id"]
    requests.delete(f"{base}/{rid}", headers=h)
    sub = Subscription(stub, metadata(porg), pb2.FetchRequest(topic_name="/data/AccountChangeEvent", replay_preset=pb2.ReplayPreset.LATEST, num_requested=5))
    try:
        sub.next()
        envelope = (
            '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
            f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{porg.access_token}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
            f"<soapenv:Body><urn:undelete><urn:ids>{rid}</urn:ids></urn:undelete></soapenv:Body></soapenv:Envelope>"
        )
        r = requests.post(f"{porg.url}/services/Soap/u/58.0", data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": "undelete"})
        assert r.status_code == 200 and "<success>true</success>" in r.text, r.text
        (e,) = sub.events(1)
        t = stub.GetSchema(pb2.SchemaRequest(schema_id=e.event.schema_id), metadata=metadata(porg)).schema_json
        rec = decode(t, e.event.payload)
        assert rec["ChangeEventHeader"]["changeType"] == "UNDELETE" and rec["Name"] == "Back Again"
        assert rec["ChangeEventHeader"]["changeOrigin"] == "com/salesforce/api/soap/58.0"
        q = requests.get(f"{porg.api_url}/query", params={"q": f"SELECT Id FROM Account WHERE Id = '{rid}'"}, headers=h).json()
        assert q["totalSize"] == 1
    finally:
        sub.close()


def test_publish_stream_answers_every_request_with_its_results(porg):
    stub = plain_stub(porg)
    t = stub.GetTopic(pb2.TopicRequest(topic_name="/event/Order__e"), metadata=metadata(porg))
    schema = stub.GetSchema(pb2.SchemaRequest(schema_id=t.schema_id), metadata=metadata(porg)).schema_json
    sub = Subscription(stub, metadata(porg), pb2.FetchRequest(topic_name="/event/Order__e", replay_preset=pb2.ReplayPreset.LATEST, num_requested=20))
    try:
        sub.next()  # a keepalive: the subscription is live

        def requests_():
            for i in range(3):
                yield pb2.PublishRequest(
                    topic_name="/event/Order__e",
                    events=[
                        pb2.ProducerEvent(
                            id=f"ps-{i}-{j}",
                            schema_id=t.schema_id,
                            payload=encode(schema, {"CreatedDate": 1, "CreatedById": porg.user_id, "Sku__c": f"PS-{i}-{j}", "Qty__c": None, "Rush__c": None}),
                        )
                        for j in range(2)
                    ],
                )

        responses = list(stub.PublishStream(requests_(), metadata=metadata(porg), timeout=20))
        assert len(responses) == 3
        keys = sorted(r.correlation_key for resp in responses for r in resp.results)
        assert keys == sorted(f"ps-{i}-{j}" for i in range(3) for j in range(2))
        assert all(not r.HasField("error") and len(r.replay_id) == 8 for resp in responses for r in resp.results)
        assert all(resp.schema_id == t.schema_id and resp.rpc_id for resp in responses)
        got = sub.events(6)
        assert sorted(e.event.id for e in got) == keys
        assert [e.replay_id for e in got] == sorted(r.replay_id for resp in responses for r in resp.results)
    finally:
        sub.close()


def test_call_faults_fail_the_next_calls_only(porg):
    stub = plain_stub(porg)
    topic = pb2.TopicRequest(topic_name="/event/Order__e")
    for kind, code, suffix in (
        ("unavailable", grpc.StatusCode.UNAVAILABLE, "service.unavailable"),
        ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, "service.auth.error"),
    ):
        porg.inject_pubsub_fault(kind, times=2)
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as e:
                stub.GetTopic(topic, metadata=metadata(porg))
            assert e.value.code() == code
            assert dict(e.value.trailing_metadata())["error-code"].endswith(suffix)
        # The session was valid all along: the third call goes through.
        assert stub.GetTopic(topic, metadata=metadata(porg)).can_publish
