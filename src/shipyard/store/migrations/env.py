"""Alembic environment: always driven from Shipyard with an open connection."""

from alembic import context

from shipyard.store import Base

# The migration scripts spell out every operation; the metadata (every table of the
# capabilities imported so far) only serves comparisons such as tests/store/test_db.py's.

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `shipyard db upgrade`, not the alembic CLI.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
