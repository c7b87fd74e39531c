#!/bin/bash
# What compaction costs live traffic: kvs --data-dir with 50,000 entries, a TCP
# write cycle for 10 s with no compaction (threshold 1GiB) and with one every
# second or two (threshold 1MiB); prints each run's figures and compactions.
# Run from the repository root after `cargo build --release` (or set KVS).
# Needs curl and python3; uses ports 19100-19102 on loopback.
set -u
unset RUST_BACKTRACE
K=${KVS:-target/release/kvs}
for threshold in 1GiB 1MiB; do
  D=/tmp/kvs-complat-$threshold; rm -rf $D
  $K serve --http 127.0.0.1:19100 --tcp 127.0.0.1:19101 --admin 127.0.0.1:19102 --data-dir $D --compact-log-bytes $threshold 2>/dev/null &
  pid=$!; sleep 1.5
  $K bench tcp --addr 127.0.0.1:19101 --mix get --keys 50000 --duration 1 >/dev/null 2>&1
  echo "threshold $threshold:"
  $K bench tcp --addr 127.0.0.1:19101 --mix cycle --duration 10 2>/dev/null | grep '^Tcp/'
  curl -s http://127.0.0.1:19102/status | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print("compactions", d["compactions"], "snapshot_bytes", d["snapshot_bytes"])'
  kill $pid; wait $pid 2>/dev/null; rm -rf $D
done
