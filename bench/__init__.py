"""Benchmark harness for Roster's staff list (see README, "Benchmarks"). Never run by tests."""
