#!/bin/bash
# What reserving a log segment ahead of its records saves on this disk: 3,000
# appends of 2 KB, each followed by fdatasync, to a file that grows with
# every write and to one filled with zeros beforehand (as the log keeps its
# segment), and the same to a file reserved with fallocate only (unwritten
# extents still make each sync write metadata). Prints ops/s, p50 and p99.
# Writes its scratch files in DIR (default: the current directory, so the
# disk measured is the one kvs's data directory would be on).
set -eu
DIR=${1:-.}
python3 - "$DIR" <<'PY'
import os, sys, time
def run(name, reserve):
    path = os.path.join(sys.argv[1], f".fdatasync-{name}")
    if os.path.exists(path):
        os.remove(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if reserve == "zeros":
        os.write(fd, b"\0" * (64 << 20)); os.fsync(fd); os.lseek(fd, 0, 0)
    elif reserve == "fallocate":
        os.posix_fallocate(fd, 0, 64 << 20); os.fsync(fd)
    record, n, took = b"x" * 2000, 3000, []
    started = time.time()
    for _ in range(n):
        t = time.perf_counter(); os.write(fd, record); os.fdatasync(fd)
        took.append(time.perf_counter() - t)
    took.sort()
    print(f"{name:10} {n / (time.time() - started):7.0f} syncs/s  p50 {took[n // 2] * 1e6:5.0f} us  p99 {took[int(n * .99)] * 1e6:5.0f} us")
    os.close(fd); os.remove(path)
for name, reserve in [("growing", None), ("zeros", "zeros"), ("fallocate", "fallocate")] * 2:
    run(name, reserve)
PY
