"""repairs and disputes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:26:36.491782
"""

import sqlalchemy as sa
from alembic import op

import pentascore.service.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=160), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("due_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", pentascore.service.db.UTCDateTime(), nullable=True),
        sa.Column("operator_note", sa.String(length=2000), nullable=True),
        sa.Column("correction_event_id", sa.String(length=160), nullable=True),
        sa.Column("new_score", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disputes_status_due_at"), ["status", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_disputes_user_ref_id"), ["user_ref", "id"], unique=False
        )

    op.create_table(
        "repairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=160), nullable=False),
        sa.Column("asked_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("correction_event_id", sa.String(length=160), nullable=True),
        sa.Column("refresh_used", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repairs")),
    )
    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repairs_user_ref_id"), ["user_ref", "id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("repairs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repairs_user_ref_id"))

    op.drop_table("repairs")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_user_ref_id"))
        batch_op.drop_index(batch_op.f("ix_disputes_status_due_at"))

    op.drop_table("disputes")
