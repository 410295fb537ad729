"""Placeholder: commands of this module land with their issue."""


def register(cli):
    pass
