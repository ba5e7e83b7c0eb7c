"""The platform server's tables: its users and their tokens (only a token's SHA-256 is
stored, never the token)."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.store import Base

__all__ = ["TOKENS", "USERS", "TokenRow", "UserRow"]


class UserRow(Base):
    """A person (or a robot) who signs in to the platform server, with one role."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer, editor or admin
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class TokenRow(Base):
    """A user's token ``syt_<prefix>_<secret>``: its prefix (shown to tell tokens apart, and
    how one is revoked) and the SHA-256 of the whole token."""

    __tablename__ = "user_tokens"
    __table_args__ = (Index(None, "user"),)

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str | None] = mapped_column(String(128))
    last_used_at: Mapped[float | None] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


# the tables as SQLAlchemy Core objects, for the statements of the users' store
USERS = Base.metadata.tables["users"]
TOKENS = Base.metadata.tables["user_tokens"]
