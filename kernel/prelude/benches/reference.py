"""Python's multiprocessing and concurrent.futures (fork start method) on the prelude's
benchmark workloads.

Run by benches/multiprocessing.rs; prints one JSON object: workload name -> figure
(operations per second, median of several runs). Standalone: python3 reference.py
[RUNS [WORKLOAD,WORKLOAD...]] (all workloads when none are named).
"""

import concurrent.futures
import json
import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.connection import Client, Listener
from multiprocessing.managers import BaseManager, ListProxy

ctx = mp.get_context("fork")

QUEUE_ITEMS = 100_000
PIPE_ROUND_TRIPS = 20_000
VALUE_INCREMENTS = 100_000
POOL_ITEMS = 100_000
PROCESS_STARTS = 200
MANAGER_APPENDS = 5_000
CONNECTION_ROUND_TRIPS = 20_000
NETMANAGER_APPENDS = 5_000
AUTHKEY = b"bench"
EXECUTOR_ROUND_TRIPS = 2_000
IMAP_ITEMS = 100_000


def median_rate(runs, work):
    rates = []
    for _ in range(runs):
        ops, seconds = work()
        rates.append(ops / seconds)
    return statistics.median(rates)


def produce(q, n):
    for i in range(n):
        q.put(i)


def queue_workload():
    q = ctx.Queue()
    start = time.perf_counter()
    p = ctx.Process(target=produce, args=(q, QUEUE_ITEMS))
    p.start()
    total = 0
    for _ in range(QUEUE_ITEMS):
        total += q.get()
    p.join()
    elapsed = time.perf_counter() - start
    assert total == QUEUE_ITEMS * (QUEUE_ITEMS - 1) // 2
    return QUEUE_ITEMS, elapsed


def echo(conn, n):
    for _ in range(n):
        conn.send(conn.recv())


def pipe_workload():
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo, args=(b, PIPE_ROUND_TRIPS))
    p.start()
    start = time.perf_counter()
    for i in range(PIPE_ROUND_TRIPS):
        a.send(i)
        assert a.recv() == i
    elapsed = time.perf_counter() - start
    p.join()
    return PIPE_ROUND_TRIPS, elapsed


def increment(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def value_workload():
    v = ctx.Value("q", 0)
    start = time.perf_counter()
    ps = [ctx.Process(target=increment, args=(v, VALUE_INCREMENTS)) for _ in range(2)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    elapsed = time.perf_counter() - start
    assert v.value == 2 * VALUE_INCREMENTS
    return 2 * VALUE_INCREMENTS, elapsed


def square(x):
    return x * x


def pool_workload(pool):
    start = time.perf_counter()
    out = pool.map(square, range(POOL_ITEMS))
    elapsed = time.perf_counter() - start
    assert out[-1] == (POOL_ITEMS - 1) ** 2
    return POOL_ITEMS, elapsed


def noop():
    pass


def process_workload():
    start = time.perf_counter()
    for _ in range(PROCESS_STARTS):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
    return PROCESS_STARTS, time.perf_counter() - start


def append_many(records, n):
    for i in range(n):
        records.append(i)


def manager_workload(manager):
    records = manager.list()
    start = time.perf_counter()
    p = ctx.Process(target=append_many, args=(records, MANAGER_APPENDS))
    p.start()
    p.join()
    elapsed = time.perf_counter() - start
    assert len(records) == MANAGER_APPENDS
    return MANAGER_APPENDS, elapsed


def echo_bytes(address, n):
    conn = Client(address, authkey=AUTHKEY)
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())
    conn.close()


def connection_workload():
    with Listener(("127.0.0.1", 0), authkey=AUTHKEY) as listener:
        p = ctx.Process(target=echo_bytes, args=(listener.address, CONNECTION_ROUND_TRIPS))
        p.start()
        conn = listener.accept()
        payload = b"x" * 16
        start = time.perf_counter()
        for _ in range(CONNECTION_ROUND_TRIPS):
            conn.send_bytes(payload)
            conn.recv_bytes()
        elapsed = time.perf_counter() - start
        p.join()
        conn.close()
    return CONNECTION_ROUND_TRIPS, elapsed


class NetManager(BaseManager):
    pass


_records = []
NetManager.register("records", callable=lambda: _records, proxytype=ListProxy)


def netmanager_workload(address):
    client = NetManager(address=address, authkey=AUTHKEY)
    client.connect()
    records = client.records()
    before = len(records)
    start = time.perf_counter()
    for i in range(NETMANAGER_APPENDS):
        records.append(i)
    elapsed = time.perf_counter() - start
    assert len(records) == before + NETMANAGER_APPENDS
    return NETMANAGER_APPENDS, elapsed


def executor_workload(executor):
    start = time.perf_counter()
    for i in range(EXECUTOR_ROUND_TRIPS):
        assert executor.submit(square, i).result() == i * i
    return EXECUTOR_ROUND_TRIPS, time.perf_counter() - start


def executor_burst_workload(executor):
    start = time.perf_counter()
    futures = [executor.submit(square, i) for i in range(EXECUTOR_ROUND_TRIPS)]
    for i, future in enumerate(futures):
        assert future.result() == i * i
    return EXECUTOR_ROUND_TRIPS, time.perf_counter() - start


def imap_workload(pool):
    start = time.perf_counter()
    total = 0
    for result in pool.imap(square, range(IMAP_ITEMS)):
        total += result
    elapsed = time.perf_counter() - start
    assert total == sum(n * n for n in range(IMAP_ITEMS))
    return IMAP_ITEMS, elapsed


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else None

    def wanted(name):
        return only is None or name in only

    results = {}
    if wanted("queue"):
        results["queue"] = median_rate(runs, queue_workload)
    if wanted("pipe"):
        results["pipe"] = median_rate(runs, pipe_workload)
    if wanted("value"):
        results["value"] = median_rate(runs, value_workload)
    if wanted("pool") or wanted("imap"):
        with ctx.Pool(2) as pool:
            pool.map(square, range(10))  # workers up before timing
            if wanted("pool"):
                results["pool"] = median_rate(runs, lambda: pool_workload(pool))
            if wanted("imap"):
                results["imap"] = median_rate(runs, lambda: imap_workload(pool))
    if wanted("process"):
        results["process"] = median_rate(runs, process_workload)
    if wanted("manager"):
        with ctx.Manager() as manager:
            results["manager"] = median_rate(runs, lambda: manager_workload(manager))
    if wanted("executor") or wanted("executor_burst"):
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as executor:
            executor.submit(square, 0).result()  # workers up before timing
            if wanted("executor"):
                results["executor"] = median_rate(runs, lambda: executor_workload(executor))
            if wanted("executor_burst"):
                results["executor_burst"] = median_rate(
                    runs, lambda: executor_burst_workload(executor)
                )
    if wanted("connection"):
        results["connection"] = median_rate(runs, connection_workload)
    if wanted("netmanager"):
        server = NetManager(address=("127.0.0.1", 0), authkey=AUTHKEY)
        server.start()
        results["netmanager"] = median_rate(runs, lambda: netmanager_workload(server.address))
        server.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
