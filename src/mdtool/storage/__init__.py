"""Storage: tables, engines, idempotent writes and the queries adapters need. No venue knowledge."""
