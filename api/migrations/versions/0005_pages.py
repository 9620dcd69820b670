"""inspector pages: rescores kept as versions an inspector adopts

Revision ID: 0005_pages
Revises: 0004_privacy
Create Date: 2026-11-27 21:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_pages'
down_revision = '0005_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rescores',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('call_id', sa.String(length=32), nullable=False),
        sa.Column('rubric', sa.String(length=200), nullable=False),
        sa.Column('scorecard', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rescores_call_id', 'rescores', ['call_id'])


def downgrade() -> None:
    op.drop_index('ix_rescores_call_id', table_name='rescores')
    op.drop_table('rescores')
