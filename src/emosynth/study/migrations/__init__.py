"""The study database's schema versions (Alembic). Run programmatically by ``emosynth.study._db``: no
alembic.ini is needed; ``versions/`` holds one file per schema revision, the first being the schema every
emosynth before migrations made with ``create_all``."""
