"""Tests of `mdtool.adapters.ibkr`."""
