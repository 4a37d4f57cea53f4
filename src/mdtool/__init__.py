"""mdtool: market data into PostgreSQL/TimescaleDB, exactly once."""

__version__ = "0.1.0"
