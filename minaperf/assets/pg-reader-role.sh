#!/bin/sh
# Make sure the read-only role READER exists, logs in with the SCRAM verifier in
# READER_SCRAM_FILE, and can only read: SELECT on every table and sequence of the public schema,
# now and later (default privileges of the connecting superuser, who creates the consumers'
# tables), read-only transactions by default, no other attribute. Idempotent; concurrent runs
# serialise on an advisory lock.
#
# Meant as an init container of each log-fetcher pod (postgres image, for psql), after
# `deployment-row`: it runs before every fetcher start, also on a database kept from an older
# stack (whose role then gets this stack's password).
#
# Environment:
#   PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD  the superuser connection (libpq reads them)
#   READER                 the role name (plain lowercase identifier)
#   READER_SCRAM_FILE      file holding `SCRAM-SHA-256$...`: the plain password is never sent
#   WAIT_TIMEOUT           seconds to wait for the server (default 300)
# Exit status: 0 done; 1 SQL error; 2 bad environment; 4 the server did not answer in time.
set -eu

log() { printf 'pg-reader-role: %s\n' "$*" >&2; }

: "${READER:?READER must be set}"
: "${READER_SCRAM_FILE:?READER_SCRAM_FILE must be set}"
case $READER in *[!a-z0-9_]* | [0-9]*)
	log "ERROR: READER must be a plain lowercase identifier, got '$READER'"
	exit 2
	;;
esac
if [ "$READER" = "${PGUSER:-}" ]; then
	# ALTER ROLE below would strip the superuser of its attributes (seen on PostgreSQL 15).
	log "ERROR: READER '$READER' is the role this script connects as (PGUSER); choose another name"
	exit 2
fi
scram=$(cat -- "$READER_SCRAM_FILE")
case $scram in 'SCRAM-SHA-256$'*) ;; *)
	log "ERROR: $READER_SCRAM_FILE does not hold a SCRAM-SHA-256 verifier"
	exit 2
	;;
esac
timeout=${WAIT_TIMEOUT:-300}
case $timeout in '' | *[!0-9]*)
	log "ERROR: WAIT_TIMEOUT must be whole seconds"
	exit 2
	;;
esac

waited=0
until psql -X -q -At --no-password -c 'SELECT 1' >/dev/null 2>&1; do
	if [ "$waited" -ge "$timeout" ]; then
		log "ERROR: server ${PGHOST:-local}:${PGPORT:-5432} did not accept connections within ${timeout}s"
		exit 4
	fi
	sleep 2
	waited=$((waited + 2))
done

psql -X -q -At --no-password -v ON_ERROR_STOP=1 -v reader="$READER" -v scram="$scram" <<'SQL'
SELECT pg_advisory_lock(hashtext('mina-itn reader role'));
SELECT format('CREATE ROLE %I', :'reader')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'reader')
\gexec
ALTER ROLE :"reader" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'scram';
ALTER ROLE :"reader" SET default_transaction_read_only = on;
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reader')
\gexec
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON SEQUENCES TO :"reader";
SELECT pg_advisory_unlock(hashtext('mina-itn reader role'));
SQL
log "role $READER: read-only, login with this stack's password"
