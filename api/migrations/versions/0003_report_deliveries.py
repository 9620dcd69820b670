"""webhook deliveries to a configured address (the scheduled report), not only to a client's webhook

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.alter_column('webhook_id', existing_type=sa.String(length=32), nullable=True)
        batch.add_column(sa.Column('url', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_column('url')
        batch.alter_column('webhook_id', existing_type=sa.String(length=32), nullable=False)
