#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-deny,
# failing on any advisory that affects kvs.
#
# Online (github.com reachable): the live database, as `cargo deny` fetches it.
# Offline: a dated snapshot of it, the first of
#   $KVS_ADVISORY_DB, ../shared/advisory-db (beside this clone), .ci/advisory-db
# (the copy kept in this repository; scripts/refresh-advisory-db.sh renews it).
# cargo-deny reads a database only as a git repository it fetches, so the
# snapshot is committed into a scratch repository, and git is told (for this
# run only) to fetch the database's usual address from there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${KVS_ADVISORIES_OFFLINE:-}" != 1 ] &&
  timeout 30 git ls-remote --exit-code https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  echo "advisories: the live RustSec database"
  exec cargo deny --locked check advisories
fi

snapshot=""
for candidate in "${KVS_ADVISORY_DB:-}" ../shared/advisory-db .ci/advisory-db; do
  if [ -n "$candidate" ] && [ -d "$candidate/crates" ]; then
    snapshot=$candidate
    break
  fi
done
if [ -z "$snapshot" ]; then
  echo "advisories: no RustSec database: github.com is unreachable and no snapshot was found" >&2
  exit 1
fi
echo "advisories: github.com is unreachable; checking against the snapshot in $snapshot:"
sed -n '/upstream commit/{N;p}' "$snapshot/SNAPSHOT.md" 2>/dev/null | sed 's/^/  /' || true

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
repo=$scratch/advisory-db
mkdir -p "$repo"
cp -r "$snapshot/crates" "$repo/"
[ -d "$snapshot/rust" ] && cp -r "$snapshot/rust" "$repo/"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=kvs-ci -c user.email=ci@localhost commit -q -m "RustSec advisory-db snapshot"

# The project's deny.toml, with the fetched copy kept in the scratch directory.
config=$scratch/deny.toml
awk -v path="$scratch/dbs" '
  { print }
  /^\[advisories\]/ { print "db-path = \"" path "\"" }
' deny.toml >"$config"
GIT_CONFIG_COUNT=2 \
  GIT_CONFIG_KEY_0="url.$repo.insteadOf" \
  GIT_CONFIG_VALUE_0=https://github.com/RustSec/advisory-db \
  GIT_CONFIG_KEY_1="url.$repo.insteadOf" \
  GIT_CONFIG_VALUE_1=https://github.com/rustsec/advisory-db \
  cargo deny --locked --config "$config" check advisories
