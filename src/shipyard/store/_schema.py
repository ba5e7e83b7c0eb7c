"""The declarative base every capability's tables derive from.

Each capability owns its tables in its own ``_tables.py`` (``tracking/_tables.py``,
``data/_tables.py``, ...); they all register in ``Base.metadata``. Changing a table needs a
new Alembic migration in ``migrations/versions``; ``tests/store/test_db.py`` fails when the
tables and the migrations disagree.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every table in the metadata store."""

    metadata = MetaData(naming_convention=NAMING)
