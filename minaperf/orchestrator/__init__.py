"""Post-deploy driving of the ITN orchestrator: config, script lint, readiness, run and stop."""
