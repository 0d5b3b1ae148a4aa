#!/bin/sh
# Creates Temporal's two databases and brings their schema to the version this image ships.
# Safe to re-run: an existing database or schema is kept, update-schema applies only what is
# missing. The password reaches temporal-sql-tool as SQL_PASSWORD, never on a command line.
set -eu

tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
  database="${pair%%:*}"
  kind="${pair##*:}"
  tool --db "$database" create-database 2>/dev/null || echo "$database exists"
  tool --db "$database" setup-schema -v 0.0 2>/dev/null || echo "$database schema initialised"
  tool --db "$database" update-schema -d "/etc/temporal/schema/postgresql/v12/$kind/versioned"
done
