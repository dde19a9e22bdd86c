"""Tests of minaperf.model."""
