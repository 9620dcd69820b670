"""stored audio reference counts: a delete removes a shared recording only when no call holds it

Revision ID: 0005_durable
Revises: 0004_privacy
Create Date: 2026-11-27 21:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_durable'
down_revision = '0005_pages'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'stored_audio',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('refs', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    # Every stored recording is held by the calls that name it.
    op.execute("INSERT INTO stored_audio (sha256, refs, created_at) "
               "SELECT audio_sha256, count(*), min(created_at) FROM calls GROUP BY audio_sha256")


def downgrade() -> None:
    op.drop_table('stored_audio')
