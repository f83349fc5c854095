"""Entry point (being built)."""


def billing_push(request):
    raise NotImplementedError


def daily(event, context):
    raise NotImplementedError
