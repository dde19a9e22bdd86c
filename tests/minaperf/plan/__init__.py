"""Tests of minaperf.plan."""
