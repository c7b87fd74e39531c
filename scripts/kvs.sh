#!/usr/bin/env bash
# Exercises a kvs server through its TCP port, as the Go server's kvs.sh did:
# for each of COUNT keys, create, read, update, read and delete it, checking
# every reply. Uses bash's /dev/tcp, so it needs no nc, and ends the session
# with cmd=stop, so it always finishes.
#
#   scripts/kvs.sh [HOST:PORT] [COUNT]      (defaults: 127.0.0.1:9001, 100)
set -euo pipefail

addr=${1:-${KVS_CLIENT_ADDR:-127.0.0.1:9001}}
count=${2:-100}
host=${addr%:*}
port=${addr##*:}

exec 3<>"/dev/tcp/$host/$port" || { echo "cannot connect to $addr" >&2; exit 2; }

failures=0
# Sends one command and checks that its reply contains the expected text.
request() {
  local command=$1 expect=$2 reply
  printf '%s\n' "$command" >&3
  if ! IFS= read -r -t 10 reply <&3; then
    echo "no reply to: $command" >&2
    exit 1
  fi
  if [[ $reply != *"$expect"* ]]; then
    echo "unexpected reply to: $command" >&2
    echo "  got:      $reply" >&2
    echo "  expected: ...$expect..." >&2
    failures=$((failures + 1))
  fi
}

run=$$
for ((i = 0; i < count; i++)); do
  key="script-$run-$i"
  request "cmd=create | key=$key | body=test$i" '"ok":true'
  request "cmd=get | key=$key" "\"body\":\"test$i\""
  request "cmd=update | key=$key | body=updated$i" '"ok":true'
  request "cmd=get | key=$key" "\"body\":\"updated$i\""
  request "cmd=delete | key=$key" "\"body\":\"updated$i\""
  request "cmd=get | key=$key" '"errorcode":10'
done
request "cmd=stop" '"errorcode":14'
exec 3<&-

echo "$((count * 6 + 1)) requests, $failures unexpected replies"
[[ $failures -eq 0 ]]
