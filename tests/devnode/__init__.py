"""Tests of the development node simulators."""
