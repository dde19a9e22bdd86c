"""Tests of minaperf.cloud."""
