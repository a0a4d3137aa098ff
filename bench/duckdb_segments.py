"""The starter segments as SQL in DuckDB: the baseline `seglab bench segments`
compares itself with.

Usage: python bench/duckdb_segments.py EVENTS.csv NOW_MS [THREADS]

EVENTS.csv has the columns person,ts,event,category,revenue (ts in epoch
milliseconds; persons already stitched). Prints one JSON object: for each segment
its member count and query time, and the total time of all queries.
"""

import json
import sys
import time

import duckdb

DAY = 86_400_000
HOUR = 3_600_000


def segments(now: int) -> dict[str, str]:
    """One query per starter segment, each returning the member persons."""
    def window(days: int) -> str:
        return f"ts BETWEEN {now - days * DAY} AND {now}"

    def then_not(first: str, second: str, days: int, within: int) -> str:
        return f"""
            SELECT DISTINCT a.person FROM ev a
            WHERE a.event = '{first}' AND a.{window(days)} AND a.ts + {within} <= {now}
              AND NOT EXISTS (
                SELECT 1 FROM ev b
                WHERE b.person = a.person AND b.event = '{second}'
                  AND b.ts > a.ts AND b.ts <= a.ts + {within})"""

    # RFM as the engine defines it: buyers have >= 1 order at or before now; a
    # score is 1 + floor(5 * w / n) with w the buyers strictly worse; cells come
    # from (R, F) on the grid below.
    grid = {
        5: ["New customers", "Potential loyalists", "Potential loyalists", "Champions", "Champions"],
        4: ["Promising", "Potential loyalists", "Potential loyalists", "Loyal", "Loyal"],
        3: ["About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"],
        2: ["Hibernating", "Hibernating", "At risk", "At risk", "Cannot lose them"],
        1: ["Lost", "Lost", "At risk", "At risk", "Cannot lose them"],
    }
    cells = ", ".join(f"({r}, {f + 1}, '{name}')" for r, row in grid.items() for f, name in enumerate(row))

    def rfm(cell: str) -> str:
        return f"""
            WITH buyers AS (
                SELECT person, max(ts) AS last_order, count(*) AS orders
                FROM ev WHERE event = 'Order Completed' AND ts <= {now} GROUP BY person
            ), scored AS (
                SELECT person,
                       least(5, 1 + (5 * (rank() OVER (ORDER BY last_order) - 1)) // count(*) OVER ()) AS r,
                       least(5, 1 + (5 * (rank() OVER (ORDER BY orders) - 1)) // count(*) OVER ()) AS f
                FROM buyers
            ), grid(r, f, cell) AS (VALUES {cells})
            SELECT person FROM scored JOIN grid USING (r, f) WHERE cell = '{cell}'"""

    return {
        "recent_buyers": f"SELECT DISTINCT person FROM ev WHERE event = 'Order Completed' AND {window(30)}",
        "repeat_buyers": f"""SELECT person FROM ev WHERE event = 'Order Completed' AND ts <= {now}
                             GROUP BY person HAVING count(*) >= 2""",
        "new_buyers": f"""SELECT person FROM ev WHERE event = 'Order Completed' AND ts <= {now}
                          GROUP BY person HAVING min(ts) >= {now - 30 * DAY}""",
        "high_value": f"""SELECT person FROM ev WHERE event = 'Order Completed' AND {window(365)}
                          GROUP BY person HAVING coalesce(sum(revenue), 0) >= 500""",
        "browsers_not_buyers": f"""
            SELECT person FROM ev WHERE event = 'Product Viewed' AND {window(30)}
            GROUP BY person HAVING count(*) >= 3
            EXCEPT SELECT person FROM ev WHERE event = 'Order Completed' AND {window(30)}""",
        "cart_abandoners": then_not("Product Added", "Order Completed", 7, 24 * HOUR),
        "checkout_dropoffs": then_not("Checkout Started", "Order Completed", 7, HOUR),
        "active": f"""SELECT person FROM ev WHERE ts <= {now}
                      GROUP BY person HAVING max(ts) >= {now - 7 * DAY}""",
        "dormant": f"""SELECT person FROM ev WHERE ts <= {now} GROUP BY person
                       HAVING max(ts) < {now - 60 * DAY} AND min(ts) < {now - 60 * DAY}""",
        "email_engaged": f"""SELECT DISTINCT person FROM ev
                             WHERE event IN ('Email Opened', 'Email Link Clicked') AND {window(30)}""",
        "email_unengaged": f"""
            SELECT person FROM ev WHERE event = 'Email Delivered' AND {window(30)}
            GROUP BY person HAVING count(*) >= 3
            EXCEPT SELECT person FROM ev WHERE event = 'Email Opened' AND {window(30)}""",
        "shoe_interest": f"""SELECT person FROM ev
                             WHERE event = 'Product Viewed' AND category = 'shoes' AND {window(30)}
                             GROUP BY person HAVING count(*) >= 3""",
        "rfm_champions": rfm("Champions"),
        "rfm_loyal": rfm("Loyal"),
        "rfm_at_risk": rfm("At risk"),
        "rfm_hibernating": rfm("Hibernating"),
    }


def main() -> None:
    path, now = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    t = time.perf_counter()
    con.execute(
        "CREATE TABLE ev AS SELECT * FROM read_csv(?, header = true, columns = "
        "{'person': 'BIGINT', 'ts': 'BIGINT', 'event': 'VARCHAR', 'category': 'VARCHAR', 'revenue': 'DOUBLE'})",
        [path],
    )
    load_s = time.perf_counter() - t
    out = {"load_seconds": load_s, "segments": {}}
    total = 0.0
    for name, sql in segments(now).items():
        t = time.perf_counter()
        members = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
        elapsed = time.perf_counter() - t
        total += elapsed
        out["segments"][name] = {"count": members, "seconds": elapsed}
    out["total_seconds"] = total
    print(json.dumps(out))


if __name__ == "__main__":
    main()
