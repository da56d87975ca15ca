"""Recruiting platforms, counterbalancing, response times, one-transaction rating.

studies: platform, completion_url, lists, counterbalance_scale. images: cell, source (the input photo of an
edit), list_index. participants: platform_id (one participation per platform ID: unique with the study),
url_params, device (JSON), list_number, scale_reversed, and the progress counters that make a rating one short
transaction (trials, practice, rated, current_since). ratings: rt_server_ms, rt_client_ms, window_w,
window_h. Counters of existing participants are computed from their trials and ratings.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
FALSE = sa.text("false")


def upgrade() -> None:
    op.add_column("studies", sa.Column("platform", sa.String(20), nullable=False, server_default="none"))
    op.add_column("studies", sa.Column("completion_url", sa.Text, nullable=True))
    op.add_column("studies", sa.Column("lists", sa.Integer, nullable=False, server_default="1"))
    op.add_column("studies", sa.Column("counterbalance_scale", sa.Boolean, nullable=False, server_default=FALSE))
    op.add_column("images", sa.Column("cell", sa.Text, nullable=False, server_default=""))
    op.add_column("images", sa.Column("source", sa.Text, nullable=False, server_default=""))
    op.add_column("images", sa.Column("list_index", sa.Integer, nullable=True))
    op.add_column("participants", sa.Column("platform_id", sa.String(200), nullable=True))
    op.add_column("participants", sa.Column("url_params", sa.Text, nullable=False, server_default="{}"))
    op.add_column("participants", sa.Column("device", sa.Text, nullable=False, server_default="{}"))
    op.add_column("participants", sa.Column("list_number", sa.Integer, nullable=False, server_default="0"))
    op.add_column("participants", sa.Column("scale_reversed", sa.Boolean, nullable=False, server_default=FALSE))
    op.add_column("participants", sa.Column("trials", sa.Integer, nullable=False, server_default="0"))
    op.add_column("participants", sa.Column("practice", sa.Integer, nullable=False, server_default="0"))
    op.add_column("participants", sa.Column("rated", sa.Integer, nullable=False, server_default="0"))
    op.add_column("participants", sa.Column("current_since", TZ, nullable=True))
    op.create_index("ix_participants_platform_id", "participants", ["study_id", "platform_id"], unique=True)
    op.add_column("ratings", sa.Column("rt_server_ms", sa.Integer, nullable=True))
    op.add_column("ratings", sa.Column("rt_client_ms", sa.Integer, nullable=True))
    op.add_column("ratings", sa.Column("window_w", sa.Integer, nullable=True))
    op.add_column("ratings", sa.Column("window_h", sa.Integer, nullable=True))
    # the counters of participants who started before this revision
    op.execute("UPDATE participants SET trials = (SELECT count(*) FROM trials WHERE trials.participant_id = "
               "participants.id), practice = (SELECT count(*) FROM trials WHERE trials.participant_id = "
               "participants.id AND trials.kind = 'practice'), rated = (SELECT count(*) FROM ratings WHERE "
               "ratings.participant_id = participants.id)")
    op.execute("UPDATE participants SET current_since = (SELECT max(ratings.created_at) FROM ratings WHERE "
               "ratings.participant_id = participants.id)")
    op.execute("UPDATE participants SET current_since = instructed_at WHERE current_since IS NULL")




def downgrade() -> None:
    op.drop_index("ix_participants_platform_id", "participants")
    for table, cols in (("ratings", ["rt_server_ms", "rt_client_ms", "window_w", "window_h"]),
                        ("participants", ["platform_id", "url_params", "device", "list_number", "scale_reversed",
                                          "trials", "practice", "rated", "current_since"]),
                        ("images", ["cell", "source", "list_index"]),
                        ("studies", ["platform", "completion_url", "lists", "counterbalance_scale"])):
        with op.batch_alter_table(table) as b:
            for c in cols:
                b.drop_column(c)
