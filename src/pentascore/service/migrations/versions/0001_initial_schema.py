"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 00:14:27.438039
"""

import sqlalchemy as sa
from alembic import op

import pentascore.service.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_log_subject_ref_id"), ["subject_ref", "id"], unique=False
        )

    op.create_table(
        "consumer_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", pentascore.service.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_consumer_tokens_token_hash")),
    )
    with op.batch_alter_table("consumer_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consumer_tokens_user_ref"), ["user_ref"], unique=False)

    op.create_table(
        "partners",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("furnisher", sa.Boolean(), nullable=False),
        sa.Column("reads_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("disabled_at", pentascore.service.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_partners_key_hash")),
    )
    op.create_table(
        "refreshes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("model", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refreshes")),
        sa.UniqueConstraint("user_ref", "month", name=op.f("uq_refreshes_user_ref_month")),
    )
    op.create_table(
        "scores",
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=16), nullable=False),
        sa.Column("base", sa.Integer(), nullable=False),
        sa.Column("credit_history", sa.Integer(), nullable=False),
        sa.Column("behavior_preference", sa.Integer(), nullable=False),
        sa.Column("fulfillment_capacity", sa.Integer(), nullable=False),
        sa.Column("identity_traits", sa.Integer(), nullable=False),
        sa.Column("connections", sa.Integer(), nullable=False),
        sa.Column("credit_history_radar", sa.Integer(), nullable=False),
        sa.Column("behavior_preference_radar", sa.Integer(), nullable=False),
        sa.Column("fulfillment_capacity_radar", sa.Integer(), nullable=False),
        sa.Column("identity_traits_radar", sa.Integer(), nullable=False),
        sa.Column("connections_radar", sa.Integer(), nullable=False),
        sa.Column("published_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_ref", "as_of", "model", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scores_user_ref_as_of"), ["user_ref", "as_of"], unique=False
        )

    op.create_table(
        "authorizations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=24), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", pentascore.service.db.UTCDateTime(), nullable=True),
        sa.Column("expires_at", pentascore.service.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", pentascore.service.db.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_authorizations_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorizations")),
    )
    with op.batch_alter_table("authorizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_authorizations_user_ref_partner_id_purpose"),
            ["user_ref", "partner_id", "purpose"],
            unique=False,
        )

    op.create_table(
        "inquiries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", pentascore.service.db.UTCDateTime(), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("user_ref", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("model", sa.String(length=40), nullable=True),
        sa.Column("exported", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_inquiries_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
    )
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inquiries_exported_outcome"), ["exported", "outcome"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inquiries_user_ref_id"), ["user_ref", "id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inquiries_user_ref_id"))
        batch_op.drop_index(batch_op.f("ix_inquiries_exported_outcome"))

    op.drop_table("inquiries")
    with op.batch_alter_table("authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authorizations_user_ref_partner_id_purpose"))

    op.drop_table("authorizations")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scores_user_ref_as_of"))

    op.drop_table("scores")
    op.drop_table("refreshes")
    op.drop_table("partners")
    with op.batch_alter_table("consumer_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consumer_tokens_user_ref"))

    op.drop_table("consumer_tokens")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_subject_ref_id"))

    op.drop_table("audit_log")
