"""Tests of `mdtool.adapters.binance`."""
