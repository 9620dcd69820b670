"""accounts: API keys that expire; web UI log-in throttling

Revision ID: 0005_accounts
Revises: 0004_privacy
Create Date: 2026-11-27 21:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_accounts'
down_revision = '0004_privacy'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=320), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('lockouts', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('expires_at')
