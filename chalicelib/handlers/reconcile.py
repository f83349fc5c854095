"""Entry point (being built)."""


def fan_out(event, context):
    raise NotImplementedError


def handle(event, context):
    raise NotImplementedError
