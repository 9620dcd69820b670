"""review workspace: users, UI sessions, reviews, audit log, appeals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('password_hash', sa.String(length=300), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('agent_id', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_users_username', 'users', ['username'], unique=True)
    op.create_table(
        'ui_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_ui_sessions_user_id', 'ui_sessions', ['user_id'])
    op.create_table(
        'reviews',
        sa.Column('call_id', sa.String(length=32), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('passed', sa.Boolean(), nullable=True),
        sa.Column('fatal', sa.Boolean(), nullable=True),
        sa.Column('finalized', sa.Boolean(), nullable=False),
        sa.Column('reviewer', sa.String(length=100), nullable=True),
        sa.Column('finalized_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('call_id'),
    )
    op.create_index('ix_reviews_finalized', 'reviews', ['finalized'])
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('call_id', sa.String(length=32), nullable=False),
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('item_id', sa.String(length=100), nullable=True),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_call_id', 'audit_log', ['call_id'])
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_table(
        'appeals',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('call_id', sa.String(length=32), nullable=False),
        sa.Column('item_id', sa.String(length=100), nullable=False),
        sa.Column('agent_username', sa.String(length=100), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_appeals_call_id', 'appeals', ['call_id'])
    op.create_index('ix_appeals_status', 'appeals', ['status'])


def downgrade() -> None:
    for t in ('appeals', 'audit_log', 'reviews', 'ui_sessions', 'users'):
        op.drop_table(t)
