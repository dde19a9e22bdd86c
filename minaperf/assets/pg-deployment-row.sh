#!/bin/sh
# Ensure the `deployment` table holds this experiment's row (the log consumers fail with
# "Deployment table is empty!" otherwise). Idempotent: inserts only when no row with
# metadata_json->>'name' = DEPLOYMENT_NAME exists; concurrent runs serialise on an
# advisory lock, so at most one row per name is ever written.
#
# Meant as an init container of the log-fetcher pod (image: the postgres server image,
# for psql), so it runs before every fetcher start, also after the database was rebuilt.
#
# Environment:
#   PGHOST, PGPORT, PGUSER, PGDATABASE  where to connect (libpq reads them)
#   PGPASSWORD                          from a Secret (or PGPASSFILE); never an argument
#   DEPLOYMENT_NAME                     required: the experiment's name
#   DEPLOYMENT_METADATA                 optional JSON object merged into metadata_json
#                                       (default {}); its "name" key is overridden
#   WAIT_TIMEOUT                        seconds to wait for the server (default 300)
#   WAIT_INTERVAL                       seconds between connection attempts (default 2)
#
# Exit status: 0 row present (inserted or already there); 1 SQL error or the schema is
# missing; 2 bad environment; 4 the server did not accept connections in time.
set -eu

log() { printf 'pg-deployment-row: %s\n' "$*" >&2; }

: "${DEPLOYMENT_NAME:?DEPLOYMENT_NAME must be set}"
metadata=${DEPLOYMENT_METADATA:-'{}'}
timeout=${WAIT_TIMEOUT:-300}
interval=${WAIT_INTERVAL:-2}
case $timeout$interval in *[!0-9]*)
	log "ERROR: WAIT_TIMEOUT and WAIT_INTERVAL must be whole seconds"
	exit 2
	;;
esac

waited=0
until psql -X -q -At --no-password -c 'SELECT 1' >/dev/null 2>&1; do
	if [ "$waited" -ge "$timeout" ]; then
		log "ERROR: server ${PGHOST:-local}:${PGPORT:-5432} did not accept connections within ${timeout}s"
		psql -X -q -At --no-password -c 'SELECT 1' >/dev/null || true
		exit 4
	fi
	sleep "$interval"
	waited=$((waited + interval))
done

# Variables reach SQL only through psql's :'var' quoting (no string splicing).
if ! psql -X -q -At --no-password -v ON_ERROR_STOP=1 \
	-v name="$DEPLOYMENT_NAME" -v meta="$metadata" <<'SQL'; then
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('minaperf.deployment-row')) \g /dev/null
DO $$
BEGIN
  IF to_regclass('deployment') IS NULL OR to_regprocedure('get_max_deployment_id()') IS NULL THEN
    RAISE EXCEPTION 'schema missing: table deployment or function get_max_deployment_id() not found (did the schema init fail on the first start? then recreate the data volume)';
  END IF;
END
$$;
SELECT jsonb_typeof(:'meta'::jsonb) = 'object' AS meta_ok \gset
\if :meta_ok
\else
  \warn pg-deployment-row: ERROR: DEPLOYMENT_METADATA must be a JSON object
  SELECT 'DEPLOYMENT_METADATA must be a JSON object'::int;
\endif
WITH ins AS (
  INSERT INTO deployment (metadata_json)
  SELECT :'meta'::jsonb || jsonb_build_object('name', :'name'::text)
  WHERE NOT EXISTS (SELECT 1 FROM deployment WHERE metadata_json->>'name' = :'name')
  RETURNING deployment_id
)
SELECT
  (SELECT count(*) FROM ins) AS inserted,
  coalesce((SELECT min(deployment_id) FROM ins),
           (SELECT min(deployment_id) FROM deployment WHERE metadata_json->>'name' = :'name')) AS id,
  greatest((SELECT max(deployment_id) FROM ins), (SELECT max(deployment_id) FROM deployment)) AS newest
\gset
COMMIT;
\if :inserted
  \warn pg-deployment-row: inserted deployment :name as deployment_id :id
\else
  \warn pg-deployment-row: deployment :name already present as deployment_id :id
\endif
SELECT :id = :newest AS is_newest \gset
\if :is_newest
\else
  \warn pg-deployment-row: WARNING: deployment_id :newest (another deployment) is newer; consumers write to the newest deployment
\endif
SQL
	log "ERROR: could not ensure the deployment row for $DEPLOYMENT_NAME"
	exit 1
fi
