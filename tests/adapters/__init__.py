"""Tests of `mdtool.adapters`."""
