"""Settings, their keys and types, where files live, and checking them before start."""
