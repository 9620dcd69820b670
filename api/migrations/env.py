"""Alembic environment: uses the connection handed over by api.database.upgrade, or QA_* settings."""

from __future__ import annotations

from alembic import context

# Import every model so autogenerate sees the full schema.
from api.auth import models as _auth  # noqa: F401
from api.calls import models as _calls  # noqa: F401
from api.database.core import Base
from api.jobs import models as _jobs  # noqa: F401
from api.privacy import models as _privacy  # noqa: F401
from api.review import models as _review  # noqa: F401
from api.rubrics import models as _rubrics  # noqa: F401
from api.webhooks import models as _webhooks  # noqa: F401

target_metadata = Base.metadata
config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from api.config import Settings
    from api.database.core import make_engine

    engine = make_engine(Settings())
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run()
