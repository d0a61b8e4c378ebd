# wrong_passwords.py: a flood of logins with a wrong password (psycopg2, one process per worker), for cm_bench preauth.
# usage: /usr/bin/python3 wrong_passwords.py HOST PORT USER WORKERS SECONDS   -> prints "refused N other M"
import multiprocessing
import sys
import time

import psycopg2


def worker(host, port, user, seconds, results):
    refused = other = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            psycopg2.connect(host=host, port=port, user=user, password="wrong", dbname="postgres", connect_timeout=10).close()
            other += 1
        except psycopg2.OperationalError as error:
            if "password authentication failed" in str(error):
                refused += 1
            else:
                other += 1
    results.put((refused, other))


if __name__ == "__main__":
    host, port, user, workers, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    results = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=worker, args=(host, port, user, seconds, results)) for _ in range(workers)]
    for p in processes:
        p.start()
    totals = [results.get() for _ in processes]
    for p in processes:
        p.join()
    print(f"refused {sum(t[0] for t in totals)} other {sum(t[1] for t in totals)}")
