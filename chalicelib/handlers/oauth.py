"""Entry point (being built)."""


def start(request):
    raise NotImplementedError


def callback(request):
    raise NotImplementedError
