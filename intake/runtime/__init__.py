"""The worker: its loop, the pipeline each message goes through, crash points for tests, memory
and disk.
"""
