"""Alembic's environment for every database of the project; configured by common/migrations.py."""

from common.migrations import run_environment

run_environment()
