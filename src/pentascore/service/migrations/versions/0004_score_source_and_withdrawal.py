"""score source and withdrawal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 03:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import pentascore.service.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=12), server_default="batch", nullable=False)
        )
        batch_op.add_column(
            sa.Column("withdrawn_at", pentascore.service.db.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("source")
