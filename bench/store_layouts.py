"""Store layouts for the backfill goal, at SQL level (no binding costs, so only the layout
differs): a 5-day store's bus positions copied in arrival order, 100,000 rows per
transaction (the backfill's batch), with the store's writer settings, into

  keyless   a rowid table, appended: the raw insert the goal is measured against
  store     the store's layout: WITHOUT ROWID, PRIMARY KEY (bus_id, t), each batch by key
  index     a rowid table appended batch by batch (each in key order, for the index),
            with a UNIQUE index on (bus_id, t)
  deferred  appended first, then copied by key into an empty keyed table (built at the end)

then as-of reads (50,000 random bus and time) and one-hour range reads (300) on each keyed
one. PAGE_SIZE (bytes) sets every copy's page size; SQLite's default, the store's, is 4096.
Usage: [PAGE_SIZE=N] python3 bench/store_layouts.py STORE_DB WORK_DIR [VARIANTS, comma-separated]
"""

import os
import random
import sqlite3
import sys
import time

SRC, WORK = sys.argv[1], sys.argv[2]
VARIANTS = (sys.argv[3] if len(sys.argv) > 3 else "keyless,store,index,deferred").split(",")
BATCH = 100_000
# The store's WRITER_SETTINGS (src/store/sqlite.rs), after the page size (set before any table).
PAGE_SIZE = os.environ.get("PAGE_SIZE", "4096")
# SQLite ignores any other value without a word, and the copies would be mislabelled.
if PAGE_SIZE not in {str(1 << n) for n in range(9, 17)}:
    sys.exit(f"PAGE_SIZE={PAGE_SIZE!r}: SQLite's page size is a power of two, 512 to 65536")
SETTINGS = f"""PRAGMA page_size = {PAGE_SIZE}; PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384;
PRAGMA journal_size_limit = 67108864;"""


def remove_db(path):
    """Removes a database file left in WORK by an earlier run, with its WAL files."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


# Made anew each run: one left from another store would be copied in its place.
arrivals = os.path.join(WORK, "arrivals.db")
remove_db(arrivals)
c = sqlite3.connect(arrivals)
c.execute("ATTACH ? AS s", (SRC,))
c.execute("CREATE TABLE a AS SELECT * FROM s.bus_positions ORDER BY t, bus_id")
c.commit()
c.close()
c = sqlite3.connect(SRC)
(store_table,) = c.execute("SELECT sql FROM sqlite_master WHERE name = 'bus_positions'").fetchone()
c.close()


def keyed(name):
    """The store's own table (its CREATE TABLE, from the store), named `name`."""
    return store_table.replace("bus_positions", name, 1)


# A table of the same columns and no key, created from a query (as the Rust bench's baseline).
KEYLESS = "CREATE TABLE d AS SELECT * FROM src.a WHERE 0"
# The tables of each layout, and the order of each batch.
LAYOUTS = {
    "keyless": ([KEYLESS], "t, bus_id"),
    "store": ([keyed("d")], "bus_id, t"),
    "index": ([KEYLESS, "CREATE UNIQUE INDEX d_key ON d (bus_id, t)"], "bus_id, t"),
    "deferred": ([KEYLESS], "t, bus_id"),
}
c = sqlite3.connect(arrivals)
rows = c.execute("SELECT max(rowid) FROM a").fetchone()[0]
buses = [r[0] for r in c.execute("SELECT DISTINCT bus_id FROM a")]
first, last = c.execute("SELECT min(t), max(t) FROM a").fetchone()
c.close()
rng = random.Random(1)
as_ofs = [(rng.choice(buses), rng.randint(first, last)) for _ in range(50_000)]
hours = [(rng.choice(buses), rng.randint(first, last - 3_600_000)) for _ in range(300)]


def mean_seconds(conn, sql, params):
    """Mean time of `sql` run once with each of `params`, every row fetched."""
    start = time.perf_counter()
    for p in params:
        conn.execute(sql, p).fetchall()
    return (time.perf_counter() - start) / len(params)


def reads_of(path):
    """The table cells of the as-of and the one-hour range reads of `path`'s table."""
    r = sqlite3.connect(path)
    r.execute("PRAGMA mmap_size = 1073741824")  # as the store's readers
    as_of = mean_seconds(r, "SELECT * FROM d WHERE bus_id = ? AND t <= ? ORDER BY t DESC LIMIT 1", as_ofs)
    hour = mean_seconds(
        r,
        "SELECT * FROM d WHERE bus_id = ? AND t >= ? AND t < ? ORDER BY t",
        [(bus, t, t + 3_600_000) for bus, t in hours],
    )
    r.close()
    return f"{as_of * 1e6:.1f} µs | {hour * 1e3:.2f} ms |"


print(f"{rows:,} bus positions, {len(buses)} buses, {PAGE_SIZE}-byte pages")
print("| layout | insert | of the raw insert | file | as-of | one-hour range |")
print("|---|---|---|---|---|---|")
raw = None
for v in VARIANTS:
    tables, order = LAYOUTS[v]
    path = os.path.join(WORK, f"{v}.db")
    remove_db(path)
    c = sqlite3.connect(path, isolation_level=None)
    c.executescript(SETTINGS)
    c.execute("ATTACH ? AS src", (arrivals,))
    for ddl in tables:
        c.execute(ddl)
    start = time.perf_counter()
    for lo in range(1, rows + 1, BATCH):
        c.execute("BEGIN")
        c.execute(
            f"INSERT OR IGNORE INTO d SELECT * FROM src.a WHERE rowid >= ? AND rowid < ? ORDER BY {order}",
            (lo, lo + BATCH),
        )
        c.execute("COMMIT")
    if v == "deferred":
        c.execute("BEGIN")
        c.execute(keyed("k"))
        c.execute("INSERT INTO k SELECT * FROM d ORDER BY bus_id, t")
        c.execute("DROP TABLE d")
        c.execute("ALTER TABLE k RENAME TO d")
        c.execute("COMMIT")
    took = time.perf_counter() - start
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    if v == "keyless":
        raw = took
    against = f"{took / raw:.2f}x" if raw else ""
    # No key: a read would scan the table.
    reads = "| |" if v == "keyless" else reads_of(path)
    size = f"{os.path.getsize(path) / 1e6:.0f} MB"
    os.remove(path)
    print(f"| {v} | {took:.2f} s | {against} | {size} | {reads}", flush=True)
