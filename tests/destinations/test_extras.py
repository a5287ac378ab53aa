"""The core install is unchanged: sfarrow imports, and builds every destination and source,
without deltalake, the ADBC drivers, duckdb or cronsim; using one that needs a missing package says
which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_optional_packages_are_optional(tmp_path):
    script = textwrap.dedent(
        """
        import sys

        class Missing:
            # As if deltalake, the ADBC drivers and duckdb were not installed.
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("deltalake", "adbc_driver_manager", "adbc_driver_postgresql", "adbc_driver_sqlite",
                                          "adbc_driver_snowflake", "duckdb", "cronsim"):
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, Missing())
        import pyarrow as pa
        import sfarrow
        from sfarrow import destinations as d, sources as s

        data = s.ArrowSource(pa.table({"Id": ["a"]}))
        cases = [
            (d.DeltaDestination(sys.argv[1] + "/delta", mode="merge"), "sfarrow[delta]"),
            (d.DatabaseDestination("postgresql://u@127.0.0.1:1/db", "t"), "sfarrow[postgres]"),
            (d.DatabaseDestination("sqlite:///x.db", "t"), "sfarrow[sqlite]"),
            (d.DatabaseDestination("snowflake://u@acct/db/schema", "t"), "sfarrow[snowflake]"),
            (d.DuckDBDestination(sys.argv[1] + "/x.duckdb", "t"), "sfarrow[duckdb]"),
        ]
        for dest, extra in cases:
            try:
                sfarrow.Flow(data, dest, progress=False).run()
            except sfarrow.ConfigurationError as e:
                assert extra in str(e), (extra, str(e))
            else:
                raise AssertionError(f"{dest!r} ran without its package")
        for source, extra in [(s.DeltaSource(sys.argv[1]), "sfarrow[delta]"), (s.DatabaseSource("duckdb:///x.duckdb", "SELECT 1"), "sfarrow[duckdb]")]:
            try:
                source.open(None, None)
            except sfarrow.ConfigurationError as e:
                assert extra in str(e), (extra, str(e))
            else:
                raise AssertionError(f"{source!r} opened without its package")
        sfarrow.Schedule("rate(5 minutes)")  # rates need no package; cron expressions do
        try:
            sfarrow.Schedule("*/5 * * * *")
        except sfarrow.ConfigurationError as e:
            assert "sfarrow[sync]" in str(e), str(e)
        else:
            raise AssertionError("a cron schedule was parsed without cronsim")
        loaded = [m for m in sys.modules if m.split(".")[0] in ("deltalake", "duckdb", "cronsim") or m.startswith("adbc_")]
        assert not loaded, loaded
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
