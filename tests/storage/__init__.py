"""Tests of `mdtool.storage`."""
