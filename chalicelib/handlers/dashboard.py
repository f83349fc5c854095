"""Entry point (being built)."""


def page(request):
    raise NotImplementedError
