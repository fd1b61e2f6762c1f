"""A plain django-rq function, not a jobs_app handler, for the allow-list tests."""


def ping():
    return "pong"
