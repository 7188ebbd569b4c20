"""Alembic environment: runs on the connection handed in by engine.db.upgrade, or on the configured URL."""

from alembic import context
from sqlalchemy import engine_from_config, pool

import engine.models  # noqa: F401 - registers the engine's tables
from engine.db import Base

try:  # the domain and web tables live beside the engine's in one metadata
    import handlers.models  # noqa: F401
except ImportError:
    pass
try:
    import web.case_models  # noqa: F401
    import web.drafts  # noqa: F401 - studio_draft
    import web.models  # noqa: F401
except ImportError:
    pass

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on the given connection, or connect with the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
