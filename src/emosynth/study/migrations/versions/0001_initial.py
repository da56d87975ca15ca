"""The schema as emosynth made it with ``create_all`` before it had migrations (the study app of the first
release): studies, images, participants, trials, ratings. A database without an ``alembic_version`` table
whose tables are exactly these is this revision.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("consent_text", sa.Text, nullable=False),
        sa.Column("completion_code", sa.String(200), nullable=True),
        sa.Column("attention_checks", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("public_id", sa.String(40), nullable=False),
        sa.Column("file", sa.String(100), nullable=False),
        sa.Column("practice", sa.Boolean, nullable=False),
        sa.Column("source_run", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("target_category", sa.String(40), nullable=True),
        sa.Column("target_valence", sa.Float, nullable=True),
        sa.Column("target_arousal", sa.Float, nullable=True),
        sa.Column("target_dominance", sa.Float, nullable=True),
        sa.Column("pred_category", sa.String(40), nullable=True),
        sa.Column("pred_valence", sa.Float, nullable=True),
        sa.Column("pred_arousal", sa.Float, nullable=True),
        sa.Column("pred_dominance", sa.Float, nullable=True),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_images_study_id", "images", ["study_id"])
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("consented_at", TZ, nullable=True),
        sa.Column("instructed_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.UniqueConstraint("study_id", "number"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_participants_study_id", "participants", ["study_id"])
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id"), nullable=False),
        sa.UniqueConstraint("participant_id", "position"),
        sa.CheckConstraint("kind IN ('practice', 'main', 'attention')"),
    )
    op.create_index("ix_trials_participant_id", "trials", ["participant_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("participant_id", sa.Integer, sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id"), nullable=False),
        sa.Column("valence", sa.Integer, nullable=False),
        sa.Column("arousal", sa.Integer, nullable=False),
        sa.Column("dominance", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("participant_id", "trial_id"),
        sa.CheckConstraint("valence BETWEEN 1 AND 9 AND arousal BETWEEN 1 AND 9 AND dominance BETWEEN 1 AND 9"),
    )
    op.create_index("ix_ratings_participant_id", "ratings", ["participant_id"])


def downgrade() -> None:
    for table in ("ratings", "trials", "participants", "images", "studies"):
        op.drop_table(table)
