"""The run database: connections, and the schema migrations the project ships.

``connect`` opens PostgreSQL (through psycopg2) or the embedded SQLite file
named by a SQLAlchemy-style URL; ``apply_migrations`` brings its schema up to
date. ``shape.datasets.ScoringRunDataset`` uses both.
"""

from shape.db.connection import (
    DatabaseLocation,
    Dialect,
    connect,
    parse_database_url,
)
from shape.db.migrate import Migration, apply_migrations, available_migrations

__all__ = [
    "DatabaseLocation",
    "Dialect",
    "Migration",
    "apply_migrations",
    "available_migrations",
    "connect",
    "parse_database_url",
]
