#!/bin/sh
# The editor bundle check run by `make test`: install exactly the lock file
# (npm ci), run the JS unit tests, rebuild into a temporary directory and fail
# when the committed static/dist/ differs (rebuild with `make frontend`).
set -eu
cd "$(dirname "$0")/../frontend"
npm ci --no-audit --no-fund --loglevel=error
npm test --silent
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
QUORUM_DIST_OUT="$out" node build.mjs
if ! diff -r "$out" ../static/dist >/dev/null; then
    echo "quorum: static/dist/ does not match frontend/ sources; run \`make frontend\` and commit static/dist/" >&2
    diff -rq "$out" ../static/dist >&2 || true
    exit 1
fi
echo "frontend: unit tests pass, static/dist/ matches the sources"
