"""customer data: masked results' clear originals and bleeped stretches; the PII access log

Revision ID: 0004_privacy
Revises: 0003
Create Date: 2026-11-27 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_privacy'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pii_masks',
        sa.Column('call_id', sa.String(length=32), nullable=False),
        sa.Column('numbers', sa.JSON(), nullable=False),
        sa.Column('bleeped', sa.JSON(), nullable=False),
        sa.Column('clear', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('call_id'),
    )
    op.create_table(
        'pii_access_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('resource', sa.String(length=20), nullable=False),
        sa.Column('actor_kind', sa.String(length=8), nullable=False),
        sa.Column('actor_id', sa.String(length=64), nullable=False),
        sa.Column('actor_name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('client_ip', sa.String(length=64), nullable=False),
        sa.Column('user_agent', sa.String(length=300), nullable=False),
        sa.Column('detail', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_pii_access_log_at', 'pii_access_log', ['at'])
    op.create_index('ix_pii_access_log_call_id', 'pii_access_log', ['call_id'])


def downgrade() -> None:
    op.drop_index('ix_pii_access_log_call_id', table_name='pii_access_log')
    op.drop_index('ix_pii_access_log_at', table_name='pii_access_log')
    op.drop_table('pii_access_log')
    op.drop_table('pii_masks')
