"""scenario decisions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:36:15.496356
"""

import sqlalchemy as sa
from alembic import op

import pentascore.service.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "scenario_thresholds",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("scenario", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("updated_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_scenario_thresholds_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("partner_id", "scenario", name=op.f("pk_scenario_thresholds")),
    )
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("credit_line", sa.Integer(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.drop_column("credit_line")
        batch_op.drop_column("decision")

    op.drop_table("scenario_thresholds")
