"""The SQLite store: schema and migrations, recording intakes, links between them, the
screening clock, service state.
"""
