"""Python's multiprocessing (fork start method) on the six prelude benchmark workloads.

Run by benches/multiprocessing.rs; prints one JSON object: workload name -> figure
(operations per second, median of several runs). Standalone: python3 reference.py
"""

import json
import multiprocessing as mp
import statistics
import sys
import time

ctx = mp.get_context("fork")

QUEUE_ITEMS = 100_000
PIPE_ROUND_TRIPS = 20_000
VALUE_INCREMENTS = 100_000
POOL_ITEMS = 100_000
PROCESS_STARTS = 200
MANAGER_APPENDS = 5_000


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


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = {}
    results["queue"] = median_rate(runs, queue_workload)
    results["pipe"] = median_rate(runs, pipe_workload)
    results["value"] = median_rate(runs, value_workload)
    with ctx.Pool(2) as pool:
        pool.map(square, range(10))  # workers up before timing
        results["pool"] = median_rate(runs, lambda: pool_workload(pool))
    results["process"] = median_rate(runs, process_workload)
    with ctx.Manager() as manager:
        results["manager"] = median_rate(runs, lambda: manager_workload(manager))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
