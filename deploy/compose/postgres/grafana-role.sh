#!/bin/sh
# First start of the PostgreSQL container: a login role for Grafana's panels, with no rights of its own. The
# grafana-grants service gives it SELECT on the three tables the dashboards read once migrate has made them.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$GRAFANA_DB_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE grafana LOGIN PASSWORD :'pw';
SQL
