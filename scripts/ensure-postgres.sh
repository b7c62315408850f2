#!/usr/bin/env bash
# Make sure the PostgreSQL server the tests use is up; start the local cluster if it is not.
# Exits non-zero, loudly, when it stays unreachable: the PostgreSQL tests must never be
# skipped silently.
set -euo pipefail
url="${1:?usage: ensure-postgres.sh URL}"
hostport="${url#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$port" = "$host" ] && port=5432

if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "PostgreSQL at $host:$port is down; starting the local cluster" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p "$port" && exit 0
    sleep 1
  done
fi
echo "ERROR: PostgreSQL at $host:$port is unreachable; the PostgreSQL tests cannot run." >&2
exit 1
