"""The fold of change events into a staged table, without an org: which event's value each
column takes, what is deleted, what is read again, and the parts a destination applies."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sfarrow.destinations._base import Changes
from sfarrow.sync.changes import Folder

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
SCHEMA = pa.schema(
    [
        ("Id", pa.string()),
        ("Name", pa.string()),
        ("Industry", pa.string()),
        ("BillingCity", pa.string()),
        ("LastModifiedDate", pa.timestamp("ms", tz="UTC")),
        ("SystemModstamp", pa.timestamp("ms", tz="UTC")),
        ("IsDeleted", pa.bool_()),
    ]
)
COMPOUNDS = {"BillingAddress": {"city": "BillingCity", "street": "BillingStreet"}}
ADDRESS = pa.struct([("City", pa.string()), ("Street", pa.string())])


def events(rows: list[dict]) -> pa.RecordBatch:
    """A batch shaped as ``Connection.subscribe`` gives change events: the header, then fields."""
    columns = {
        "replay_id": pa.array([bytes([i + 1]) for i in range(len(rows))], pa.binary()),
        "change_type": pa.array([r["type"] for r in rows]),
        "record_ids": pa.array([r["ids"] for r in rows], pa.list_(pa.string())),
        "changed_fields": pa.array([r.get("changed", []) for r in rows], pa.list_(pa.string())),
        "nulled_fields": pa.array([r.get("nulled", []) for r in rows], pa.list_(pa.string())),
        "commit_timestamp": pa.array([T0 + dt.timedelta(seconds=i) for i in range(len(rows))], pa.timestamp("ms", tz="UTC")),
        "Name": pa.array([r.get("Name") for r in rows]),
        "Industry": pa.array([r.get("Industry") for r in rows]),
        "BillingAddress": pa.array([r.get("BillingAddress") for r in rows], ADDRESS),
        "LastModifiedDate": pa.array([r.get("LastModifiedDate") for r in rows], pa.timestamp("ms", tz="UTC")),
    }
    return pa.RecordBatch.from_pydict(columns)


def staged(changes: Changes) -> dict[str, dict]:
    return {r["Id"]: r for r in changes.table.to_pylist()}


def test_later_events_of_a_record_win_and_each_column_comes_from_the_event_that_set_it():
    folder = Folder(SCHEMA.names, COMPOUNDS)
    t1 = T0 + dt.timedelta(minutes=1)
    t2 = T0 + dt.timedelta(minutes=2)
    folded = folder.fold(
        events(
            [
                {
                    "type": "CREATE",
                    "ids": ["a"],
                    "Name": "Acme",
                    "Industry": "Energy",
                    "BillingAddress": {"City": "Lyon", "Street": "1 rue"},
                    "LastModifiedDate": T0,
                },
                {"type": "UPDATE", "ids": ["b"], "changed": ["Name", "LastModifiedDate"], "Name": "Beta", "LastModifiedDate": t1},
                {"type": "UPDATE", "ids": ["b"], "nulled": ["Industry"], "changed": ["LastModifiedDate"], "LastModifiedDate": t2},
                {"type": "UPDATE", "ids": ["a"], "changed": ["Industry", "LastModifiedDate"], "Industry": "Media", "LastModifiedDate": t1},
                {"type": "CREATE", "ids": ["c"], "Name": "Gone"},
                {"type": "DELETE", "ids": ["c"]},
                {"type": "UPDATE", "ids": ["d", "e"], "changed": ["Name"], "Name": "Twins"},
                {"type": "UNDELETE", "ids": ["f"]},
                {"type": "UPDATE", "ids": ["g"], "changed": ["BillingAddress.City"]},
            ]
        )
    )
    assert folded.events == 9 and folded.deleted == {"c"} and folded.reread == {"f", "g"}
    assert folded.latest() == t2
    rows = staged(folded.stage(SCHEMA, COMPOUNDS))
    # The CREATE's values, the later UPDATE's Industry; the compound's part from the address;
    # SystemModstamp from the last event's commit time.
    a = rows["a"]
    assert (a["Name"], a["Industry"], a["BillingCity"], a["LastModifiedDate"]) == ("Acme", "Media", "Lyon", t1)
    assert a["SystemModstamp"] == T0 + dt.timedelta(seconds=3) and a["IsDeleted"] is False
    # Two updates of b fold into one row: Name from the first, Industry nulled by the second.
    b = rows["b"]
    assert (b["Name"], b["Industry"], b["LastModifiedDate"]) == ("Beta", None, t2)
    assert rows["c"]["IsDeleted"] is True and rows["c"][Changes.PART] == -1
    assert rows["d"]["Name"] == rows["e"]["Name"] == "Twins"
    # Records to read again that no read brought back are gone from the org: deleted.
    assert rows["f"]["IsDeleted"] is True and rows["g"]["IsDeleted"] is True


def test_each_part_sets_only_its_columns_and_only_a_whole_record_is_inserted():
    folder = Folder(SCHEMA.names, COMPOUNDS)
    folded = folder.fold(
        events(
            [
                {"type": "CREATE", "ids": ["a"], "Name": "Acme"},
                {"type": "UPDATE", "ids": ["b"], "changed": ["Name"], "Name": "Beta"},
                {"type": "UPDATE", "ids": ["c"], "changed": ["Name"], "Name": "Gamma"},
            ]
        )
    )
    changes = folded.stage(SCHEMA, COMPOUNDS)
    rows = staged(changes)
    parts = {i: (set(columns), insert) for i, (columns, insert) in enumerate(changes.parts)}
    assert parts[rows["a"][Changes.PART]] == ({"Name", "Industry", "BillingCity", "LastModifiedDate", "SystemModstamp"}, True)
    assert rows["b"][Changes.PART] == rows["c"][Changes.PART]
    assert parts[rows["b"][Changes.PART]] == ({"Name", "SystemModstamp"}, False)
    assert changes.time_column == "LastModifiedDate"


def test_a_record_read_again_wins_over_the_events_and_a_read_deleted_record_is_deleted():
    folder = Folder(SCHEMA.names, COMPOUNDS)
    folded = folder.fold(
        events(
            [
                {"type": "UPDATE", "ids": ["a"], "changed": ["Name"], "Name": "from the event"},
                {"type": "GAP_UPDATE", "ids": ["b"]},
                {"type": "GAP_DELETE", "ids": ["c"]},
            ]
        )
    )
    read = pa.Table.from_pylist(
        [
            {"Id": "a", "Name": "from the org", "IsDeleted": False},
            {"Id": "b", "Name": "Beta", "Industry": "Media", "IsDeleted": False},
            {"Id": "c", "Name": "Gamma", "IsDeleted": True},
        ],
        schema=SCHEMA,
    )
    changes = folded.stage(SCHEMA, COMPOUNDS, read)
    rows = staged(changes)
    assert changes.table.num_rows == 3, "each record once"
    assert rows["a"]["Name"] == "from the org" and rows["b"]["Industry"] == "Media"
    assert changes.parts[rows["a"][Changes.PART]] == ([n for n in SCHEMA.names if n != "IsDeleted"], True)
    assert rows["c"]["IsDeleted"] is True and rows["c"][Changes.PART] == -1


def test_batches_of_different_shapes_fold_into_one_stage():
    folder = Folder(SCHEMA.names, COMPOUNDS)
    first = events([{"type": "CREATE", "ids": ["a"], "Name": "Acme", "Industry": "Energy"}])
    second = events([{"type": "UPDATE", "ids": ["a"], "changed": ["Name"], "Name": "Acme 2"}]).drop_columns(["Industry", "BillingAddress"])
    folded = folder.fold(second, folder.fold(first))
    rows = staged(folded.stage(SCHEMA, COMPOUNDS))
    assert (rows["a"]["Name"], rows["a"]["Industry"]) == ("Acme 2", "Energy")
