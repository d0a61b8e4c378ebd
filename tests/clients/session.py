# session.py: psycopg2's scripted session through a conmgr port (contract in README.md).
import hashlib
import os
import select
import sys
import threading
import time

import psycopg2

host, port, role, client = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
BIG = "select g, repeat(md5(g::text), 30) from generate_series(1, 105000) g"


def connect():
    c = psycopg2.connect(host=host, port=port, user=os.environ.get("PGUSER", "postgres"), dbname="postgres", connect_timeout=10)
    c.autocommit = True
    return c


def step(name, detail):
    print(f"step {name} {detail}", flush=True)


def sqlstate_of(action):
    try:
        action()
    except psycopg2.Error as e:
        return e.pgcode
    raise SystemExit("expected an error, got none")


conn = connect()
cur = conn.cursor()
cur.execute("select pg_is_in_recovery()")
step("query", f"recovery={'true' if cur.fetchone()[0] else 'false'}")

if role == "read-write":
    conn.autocommit = False
    cur.execute("insert into client_matrix values (%s, 1), (%s, 2), (%s, 3)", (client, client, client))
    conn.rollback()
    cur.execute("insert into client_matrix values (%s, 1), (%s, 2)", (client, client))
    conn.commit()
    conn.autocommit = True
    cur.execute("select count(*) from client_matrix where client = %s", (client,))
    step("transaction", f"committed={cur.fetchone()[0]}")
else:
    conn.autocommit = False
    cur.execute("select count(*) from client_matrix")
    state = sqlstate_of(lambda: cur.execute("insert into client_matrix values (%s, 1)", (client,)))
    conn.rollback()
    conn.autocommit = True
    step("transaction", f"write={state}")

cur.execute("prepare doubled(int) as select $1 * 2")
values = []
for v in (1, 2, 3):
    cur.execute("execute doubled(%s)", (v,))
    values.append(str(cur.fetchone()[0]))
step("prepared", ",".join(values))


class Sink:
    def __init__(self):
        self.lines = []

    def write(self, data):
        self.lines.extend(data.splitlines())


sink = Sink()
cur.copy_expert("copy (select g from generate_series(1, 1000) g) to stdout", sink)
step("copy_out", f"rows={len(sink.lines)} sum={sum(int(x) for x in sink.lines)}")


class Source:
    def __init__(self, text):
        self.data = text
        self.done = False

    def read(self, size=-1):
        if self.done:
            return ""
        self.done = True
        return self.data

    readline = read


rows = "".join(f"{client}\t{i}\n" for i in range(1001, 2001))
if role == "read-write":
    cur.copy_expert("copy client_matrix from stdin", Source(rows))
    cur.execute("select count(*) from client_matrix where client = %s and id > 1000", (client,))
    step("copy_in", f"rows={cur.fetchone()[0]}")
else:
    step("copy_in", f"refused={sqlstate_of(lambda: cur.copy_expert('copy client_matrix from stdin', Source(rows)))}")

# The client's own cancel, sent once the server reports the query running.
cur.execute("select pg_backend_pid()")
pid = cur.fetchone()[0]
watcher = connect()


def cancel_when_running():
    wcur = watcher.cursor()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        wcur.execute("select count(*) from pg_stat_activity where pid = %s and state = 'active' and query like 'select pg_sleep%%'", (pid,))
        if wcur.fetchone()[0] == 1:
            conn.cancel()
            return
        time.sleep(0.02)


canceller = threading.Thread(target=cancel_when_running)
canceller.start()
state = sqlstate_of(lambda: cur.execute("select pg_sleep(30)"))
canceller.join()
cur.execute("select 1")
step("cancel", f"{state}" if cur.fetchone()[0] == 1 else "session-lost")

digest = hashlib.sha256()
size = 0
cur.execute(BIG)
while True:
    batch = cur.fetchmany(5000)
    if not batch:
        break
    for g, text in batch:
        row = f"{g}|{text}\n".encode()
        size += len(row)
        digest.update(row)
step("big", f"{size} {digest.hexdigest()}")

if role == "read-write":
    listener = connect()
    listener.cursor().execute(f"listen cm_{client}")
    watcher.cursor().execute(f"notify cm_{client}, 'hello'")
    payload = None
    deadline = time.monotonic() + 30
    while payload is None and time.monotonic() < deadline:
        if select.select([listener], [], [], 1) != ([], [], []):
            listener.poll()
            while listener.notifies:
                payload = listener.notifies.pop(0).payload
    step("notify", payload)
