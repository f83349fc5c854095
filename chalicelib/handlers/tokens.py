"""Entry point (being built)."""


def handle(event, context):
    raise NotImplementedError
