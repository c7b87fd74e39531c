#!/usr/bin/env bash
# Renews .ci/advisory-db, the RustSec advisory database snapshot that CI
# checks Cargo.lock against when github.com is unreachable.
#
#   scripts/refresh-advisory-db.sh              clone the live database (needs github.com)
#   scripts/refresh-advisory-db.sh DIR          copy DIR (a checkout or snapshot, e.g. ../shared/advisory-db)
#
# Then commit .ci/advisory-db; its SNAPSHOT.md says which upstream state it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.ci/advisory-db
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if [ $# -eq 0 ]; then
  git clone --depth=1 https://github.com/RustSec/advisory-db "$scratch/db"
  source_dir=$scratch/db
else
  source_dir=$1
fi
[ -d "$source_dir/crates" ] || { echo "$source_dir has no crates/ directory: not an advisory database" >&2; exit 1; }

rm -rf "$target"
mkdir -p "$target"
cp -r "$source_dir/crates" "$target/"
[ -d "$source_dir/rust" ] && cp -r "$source_dir/rust" "$target/"
for file in LICENSE.txt README.md support.toml; do
  [ -f "$source_dir/$file" ] && cp "$source_dir/$file" "$target/"
done
if git -C "$source_dir" rev-parse HEAD >/dev/null 2>&1; then
  commit=$(git -C "$source_dir" rev-parse HEAD)
  date=$(git -C "$source_dir" show -s --format=%cs HEAD)
  cat >"$target/SNAPSHOT.md" <<MD
# RustSec advisory database, offline snapshot

A copy of the RustSec advisory database (CC0-1.0, see LICENSE.txt) at upstream commit
$commit ($date), for machines that cannot reach its git host.
MD
elif [ -f "$source_dir/SNAPSHOT.md" ]; then
  cp "$source_dir/SNAPSHOT.md" "$target/"
fi
chmod -R u+w "$target"
echo "refreshed $target from $source_dir:"
head -5 "$target/SNAPSHOT.md" 2>/dev/null || true
