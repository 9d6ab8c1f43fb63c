#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: starts one in a temporary folder on a free
# local port, exports BLINDMAP_TEST_POSTGRES_URL (a superuser URL; tests create their own
# databases), runs "$@", and stops and removes the server whatever happens. Installs PostgreSQL
# from Debian where its server binaries are missing. The server refuses to run as root, so as root
# it runs as the `postgres` user.
set -euo pipefail

bin=""
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/initdb" ] && bin="$dir"
done
if [ -z "$bin" ]; then
  echo "(PostgreSQL not found: installing it from Debian)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && bin="$dir"
  done
fi
[ -n "$bin" ] || { echo "error: no PostgreSQL server binaries" >&2; exit 1; }

work=$(mktemp -d)
chmod 755 "$work"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_owner=(runuser -u postgres --)
fi
password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$password" > "$work/pw"
[ "$(id -u)" = 0 ] && chown postgres "$work/pw"
# A free local port: asked of the kernel where python3 exists, else a random high one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)))

stop() {
  (cd "$work" && "${as_owner[@]}" "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap stop EXIT

(cd "$work" && "${as_owner[@]}" "$bin/initdb" -D "$work/data" -U postgres --pwfile="$work/pw" \
  --auth-host=scram-sha-256 --auth-local=trust >/dev/null)
(cd "$work" && "${as_owner[@]}" "$bin/pg_ctl" -D "$work/data" -w -l "$work/log" \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off -c max_connections=200" start >/dev/null)

export BLINDMAP_TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
"$@"
