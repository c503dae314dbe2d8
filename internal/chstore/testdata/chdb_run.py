"""Run SQL statements in chDB, an in-process current ClickHouse engine.

Used by chdb_test.go to validate the migrations and the analyst queries against
a current engine. Reads a JSON object from stdin:

    {"statements": [{"name": "0001_playback #1", "sql": "CREATE TABLE ..."}, ...]}

runs the statements in order in one fresh session (a temporary directory,
removed at exit), and writes a JSON object to stdout:

    {"chdb": "4.4.0", "engine": "26.9.2.1",
     "results": [{"name": ..., "ok": true, "error": "", "output": "<TSV>"}, ...]}

Every statement runs even after one fails, so one run reports every problem.
Exit code: 0 when every statement succeeded, 1 when any failed, 2 when the
input is unusable or chdb cannot be imported.
"""

import json
import shutil
import sys
import tempfile


def main():
    try:
        req = json.load(sys.stdin)
        stmts = req["statements"]
        assert isinstance(stmts, list)
    except Exception as e:  # noqa: BLE001 - any malformed input is a usage error
        print(f"chdb_run: bad input: {e}", file=sys.stderr)
        return 2
    try:
        import chdb
        from chdb import session
    except ImportError as e:
        print(f"chdb_run: cannot import chdb: {e}", file=sys.stderr)
        return 2

    tmp = tempfile.mkdtemp(prefix="veil-chdb-")
    failed = False
    out = {"chdb": chdb.__version__, "engine": "", "results": []}
    try:
        sess = session.Session(tmp)
        out["engine"] = sess.query("SELECT version()", "TSV").bytes().decode().strip()
        for st in stmts:
            res = {"name": st.get("name", ""), "ok": True, "error": "", "output": ""}
            try:
                r = sess.query(st["sql"], "TSV")
                res["output"] = r.bytes().decode() if r is not None else ""
            except Exception as e:  # noqa: BLE001 - chdb raises its own error types
                res["ok"], res["error"] = False, str(e).strip()
                failed = True
            out["results"].append(res)
        sess.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    json.dump(out, sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
