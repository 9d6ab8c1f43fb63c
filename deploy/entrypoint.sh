#!/bin/sh
# Container entry point: initialise the node on first start (when BLINDMAP_ORGANISATION is set
# and the data folder holds no node yet), then run the given blindmap command.
#
#   BLINDMAP_ORGANISATION  the first organisation's name (first start only)
#   BLINDMAP_PUBLIC_URL    the https:// URL partners and clients dial
#   BLINDMAP_DATABASE_URL  postgres://… (default: SQLite in the data folder)
#   BLINDMAP_LISTEN        default 0.0.0.0:7443
#   BLINDMAP_SECRETS_KEY   the secrets key (default: secrets.key, which init makes in the data
#                          folder; replicas of one node on PostgreSQL must share one key)
set -eu
umask 077
data="${BLINDMAP_DATA_DIR:-/var/lib/blindmap}"
if [ ! -f "$data/node.toml" ] && [ -n "${BLINDMAP_ORGANISATION:-}" ]; then
    blindmap init --data-dir "$data" --organisation "$BLINDMAP_ORGANISATION" \
        --listen "${BLINDMAP_LISTEN:-0.0.0.0:7443}" \
        ${BLINDMAP_PUBLIC_URL:+--public-url "$BLINDMAP_PUBLIC_URL"} \
        ${BLINDMAP_DATABASE_URL:+--database "$BLINDMAP_DATABASE_URL"}
fi
exec blindmap "$@"
