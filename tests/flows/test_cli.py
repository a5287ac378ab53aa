"""The sfarrow command: run a flow file, export a query, serve an emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from sfarrow.cli import main
from sfarrow.testing import Org

EXAMPLE = Path(__file__).parents[2] / "examples" / "accounts_to_parquet.toml"


def test_run_a_flow_file_twice_incrementally(tmp_path, capsys):
    flow = tmp_path / "flow.toml"
    flow.write_text(EXAMPLE.read_text().replace("Account = 100000", "Account = 1200"))
    assert main(["run", str(flow), "--times", "2"]) == 0
    out = capsys.readouterr().out
    assert "read 1,200 records via rest, wrote 1,200" in out
    assert "read 0 records" in out, "the second run finds nothing new"
    table = ds.dataset(tmp_path / "out" / "accounts").to_table()
    assert table.num_rows == 1200
    assert table.column_names[:3] == ["account_id", "name", "industry"]
    assert len(list((tmp_path / "out" / "accounts").glob("*.parquet"))) == 1
    assert (tmp_path / "out" / "accounts.state.json").exists()


def test_the_main_job_delivers_every_seeded_record_on_its_first_run(tmp_path, capsys):
    # The README's command as it is: the example's 100,000 Accounts, the default lag.
    flow = tmp_path / "flow.toml"
    flow.write_text(EXAMPLE.read_text())
    assert main(["run", str(flow), "--times", "2"]) == 0
    first, second = [line for line in capsys.readouterr().out.splitlines() if line.startswith("read ")]
    assert first.startswith("read 100,000 records via ") and "wrote 100,000, failed 0" in first, first
    assert second.startswith("read 0 records changed since "), second
    table = ds.dataset(tmp_path / "out" / "accounts").to_table(columns=["account_id"])
    assert table.num_rows == 100_000 and len(set(table["account_id"].to_pylist())) == 100_000


def test_org_to_org_flow_file_with_a_connection_per_side(tmp_path, capsys):
    with Org(seed={"Account": 30}, https=False) as a, Org(https=False) as b:
        flow = tmp_path / "copy.toml"
        flow.write_text(
            textwrap.dedent(
                f"""
                [source]
                object = "Account"
                fields = ["Name", "Industry"]
                connection = {{ instance_url = "{a.url}", access_token = "{a.access_token}" }}

                [destination]
                type = "salesforce"
                object = "Account"
                operation = "insert"
                connection = {{ instance_url = "{b.url}", access_token_env = "TARGET_TOKEN" }}
                """
            )
        )
        os.environ["TARGET_TOKEN"] = b.access_token
        try:
            assert main(["run", str(flow)]) == 0
        finally:
            del os.environ["TARGET_TOKEN"]
        assert b.count("Account") == 30


def test_query_to_parquet_csv_and_jsonl(tmp_path, monkeypatch, capsys):
    with Org(seed={"Account": 40}, https=False) as org:
        monkeypatch.setenv("SF_ACCESS_TOKEN", org.access_token)
        for suffix in ("parquet", "csv", "jsonl"):
            out = tmp_path / f"a.{suffix}"
            code = main(["query", "SELECT Id, Name FROM Account", "-o", str(out), "--instance-url", org.url])
            assert code == 0 and out.exists()
        assert pq.read_table(tmp_path / "a.parquet").num_rows == 40
        assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 40
        assert main(["query", "SELECT Id FROM Nope__c", "-o", str(tmp_path / "x.parquet"), "--instance-url", org.url]) == 1
        assert "INVALID_TYPE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["query", "SELECT Id FROM Account", "-o", "x.parquet"])


def test_bad_flow_files_fail_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[source\n")
    assert main(["run", str(bad)]) == 1
    assert "not valid TOML" in capsys.readouterr().err
    bad.write_text("[source]\nobject = 'Account'\n")
    assert main(["run", str(bad)]) == 1
    assert "add a [connection] table" in capsys.readouterr().err
    bad.write_text("[connection]\nfoo = 1\n[source]\nobject = 'Account'\n")
    assert main(["run", str(bad)]) == 1
    assert "[connection] needs one of" in capsys.readouterr().err


def test_emulator_command_serves_and_stops():
    out = subprocess.run(
        [sys.executable, "-m", "sfarrow.cli", "emulator", "--seed", "Account=10", "--duration", "0.5", "--no-https"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "seeded 10 Account records" in out.stdout and "access_token" in out.stdout


def test_login_fills_the_token_cache_then_query_uses_it(tmp_path, monkeypatch, capsys):
    import stat

    from sf_helpers import follow_authorize, free_port

    import sfarrow._login

    with Org(seed={"Account": 7}, https=False) as org:
        port = free_port()
        org.add_redirect_uri(f"http://localhost:{port}/OauthRedirect")
        # --no-browser prints the URL; here the test plays the user who opens it.
        monkeypatch.setattr(sfarrow._login, "_print_url", follow_authorize)
        cache = tmp_path / "token.json"
        args = ["--client-id", org.client_id, "--environment", org.url, "--token-cache", str(cache)]
        assert main(["login", *args, "--port", str(port), "--no-browser"]) == 0
        assert "logged in to" in capsys.readouterr().out
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600
        assert org.access_token not in cache.read_text()

        def no_browser(url: str) -> None:
            raise AssertionError("the token cache should make the browser unnecessary")

        monkeypatch.setattr(sfarrow._login, "_print_url", no_browser)
        out = tmp_path / "a.parquet"
        query = ["query", "SELECT Id FROM Account", "-o", str(out), "--token-cache", str(cache), "--client-id", org.client_id]
        assert main([*query, "--environment", org.url]) == 0
        assert pq.read_table(out).num_rows == 7


@pytest.mark.parametrize("kind", ["delta", "duckdb", "database"])
def test_flow_files_write_to_tables_that_merge(kind, tmp_path, capsys):
    setting = {
        "delta": 'uri = "lake/accounts"',
        "duckdb": 'path = "warehouse.duckdb"\ntable = "accounts"',
        "database": f'uri = "sqlite:///{tmp_path}/warehouse.db"\ntable = "accounts"',
    }[kind]
    flow = tmp_path / "flow.toml"
    flow.write_text(
        textwrap.dedent(
            """
            [connection]
            emulator = { seed = { Account = 40 } }

            [source]
            object = "Account"
            fields = ["Id", "Name"]
            incremental = "SystemModstamp"
            lag = 0

            [destination]
            kind = "KIND"
            mode = "merge"
            SETTING

            [flow]
            state = "accounts"
            """
        )
        .replace("KIND", kind)
        .replace("SETTING", setting)
    )
    assert main(["run", str(flow), "--times", "2"]) == 0
    out = capsys.readouterr().out
    assert "read 40 records" in out and "read 0 records" in out, out
    assert not (tmp_path / "accounts").exists(), "a destination that keeps the state takes state= as a name, not a file"
    source = {
        "delta": lambda: sfarrow_sources().DeltaSource(tmp_path / "lake" / "accounts"),
        "duckdb": lambda: sfarrow_sources().DatabaseSource(f"duckdb:///{tmp_path}/warehouse.duckdb", "SELECT * FROM accounts"),
        "database": lambda: sfarrow_sources().DatabaseSource(f"sqlite:///{tmp_path}/warehouse.db", "SELECT * FROM accounts"),
    }[kind]()
    reader = source.open(None, None).reader
    assert reader.read_all().num_rows == 40


@pytest.mark.parametrize("kind", ["delta", "database", "duckdb", "parquet", "csv"])
def test_flow_files_read_from_every_source_kind(kind, tmp_path, capsys):
    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from sfarrow import destinations as d
    from sfarrow import sources as s
    from sfarrow.flow import Flow

    rows = pa.table({"Id": [f"a{i}" for i in range(7)], "Name": [f"n{i}" for i in range(7)]})
    if kind == "delta":
        Flow(s.ArrowSource(rows), d.DeltaDestination(tmp_path / "lake"), progress=False).run()
        setting = 'uri = "lake"'
    elif kind == "database":
        Flow(s.ArrowSource(rows), d.DatabaseDestination(f"sqlite:///{tmp_path}/in.db", "accounts"), progress=False).run()
        setting = f'uri = "sqlite:///{tmp_path}/in.db"\nquery = \'SELECT "Id", "Name" FROM accounts\''
    elif kind == "duckdb":
        with duckdb.connect(str(tmp_path / "in.duckdb")) as db:
            db.register("rows", rows)
            db.execute("CREATE TABLE accounts AS SELECT * FROM rows")
        setting = 'path = "in.duckdb"\nquery = "SELECT * FROM accounts"'
    elif kind == "parquet":
        pq.write_table(rows, tmp_path / "in.parquet")
        setting = 'path = "in.parquet"'
    else:
        pcsv.write_csv(rows, tmp_path / "in.csv")
        setting = 'path = "in.csv"'
    flow = tmp_path / "flow.toml"
    flow.write_text(f'[source]\nkind = "{kind}"\n{setting}\n\n[destination]\nkind = "parquet"\npath = "out"\n\n[flow]\nprogress = false\n')
    assert main(["run", str(flow)]) == 0
    assert "read 7 records" in capsys.readouterr().out
    got = ds.dataset(tmp_path / "out").to_table()
    assert sorted(got["Id"].to_pylist()) == rows["Id"].to_pylist() and sorted(got["Name"].to_pylist()) == rows["Name"].to_pylist()


def test_a_flow_file_with_two_kinds_is_refused(tmp_path):
    from sfarrow.cli import build_flow
    from sfarrow.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="keep one"):
        build_flow({"source": {"type": "parquet", "path": "x"}, "destination": {"kind": "delta", "type": "csv", "uri": "x"}}, {}, tmp_path)
    with pytest.raises(ConfigurationError, match="unknown destination kind 'iceberg'"):
        build_flow({"source": {"type": "parquet", "path": "x"}, "destination": {"kind": "iceberg"}}, {}, tmp_path)


def sfarrow_sources():
    from sfarrow import sources

    return sources
