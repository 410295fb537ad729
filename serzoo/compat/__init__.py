"""Compatibility with the original SER_KERAS_TF_TRAINER: its command lines in serzoo's terms."""
