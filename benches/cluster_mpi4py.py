"""The reference for `cargo bench --bench cluster`: mpi4py.futures'
MPIPoolExecutor on the same hosts and mpirun, the same work. Run by the
bench as `mpirun ... python -m mpi4py.futures benches/cluster_mpi4py.py N`;
prints one `name seconds` line per measurement, as it goes (the bench
timestamps the first: launcher to first result)."""

import sys
import time

from mpi4py.futures import MPIPoolExecutor


def square(n):
    return n * n


def sleepy(n):
    time.sleep(0.05)
    return n


def timed(name, work):
    started = time.perf_counter()
    work()
    print(f"{name} {time.perf_counter() - started:.6f}", flush=True)


if __name__ == "__main__":
    workers = int(sys.argv[1])
    # Four chunks per worker, as the Rust side's default (Python's Pool's).
    chunks = lambda items: -(-items // (workers * 4))
    with MPIPoolExecutor() as executor:
        timed("first_map", lambda: list(executor.map(square, range(workers))))
        for _ in range(4):
            timed("tiny", lambda: list(executor.map(square, range(10_000), chunksize=chunks(10_000))))
        timed("sleepy", lambda: list(executor.map(sleepy, range(64), chunksize=chunks(64))))
