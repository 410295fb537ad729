"""Feature databases: reading, validation, folds, building from audio, streaming."""
