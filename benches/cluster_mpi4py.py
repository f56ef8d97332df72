"""The reference for `cargo bench --bench cluster`: mpi4py.futures'
MPIPoolExecutor on the same hosts and mpirun, the same work. Run by the
bench as `mpirun ... python -m mpi4py.futures benches/cluster_mpi4py.py`;
prints one `name seconds` line per measurement."""

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
    # Python's Pool default, as the Rust side's: four chunks per worker.
    tiny_chunks = -(-10_000 // (workers * 4))
    with MPIPoolExecutor() as executor:
        timed("first_map", lambda: list(executor.map(square, range(workers))))
        timed("tiny", lambda: list(executor.map(square, range(10_000), chunksize=tiny_chunks)))
        timed("sleepy", lambda: list(executor.map(sleepy, range(64), chunksize=-(-64 // (workers * 4)))))
