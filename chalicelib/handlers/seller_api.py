"""Entry point (being built)."""


def settings(request):
    raise NotImplementedError


def preview(request):
    raise NotImplementedError


def list_tasks(request):
    raise NotImplementedError


def retry_task(request, tid):
    raise NotImplementedError


def cancel_task(request, tid):
    raise NotImplementedError


def blacklist(request):
    raise NotImplementedError


def stats(request):
    raise NotImplementedError


def subscription(request):
    raise NotImplementedError


def openapi(request):
    raise NotImplementedError
