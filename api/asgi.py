"""An import-string factory for uvicorn: ``uvicorn --factory api.asgi:broker_app``.

Each uvicorn worker process calls it and bootstraps its own context (engines do not survive
a fork). Broker mode only: the embedded runner must run in exactly one process.
"""

from __future__ import annotations

from api.app import OmnirouteApp, create_app
from api.background_dispatch import BackgroundDispatcher
from api.nudge_publisher import CeleryPublisher
from core.bootstrap import bootstrap
from core.settings import Settings
from worker.celery_app import create_celery


def broker_app() -> OmnirouteApp:
    settings = Settings()
    if settings.embedded:
        raise RuntimeError("api.asgi:broker_app needs OMNIROUTE_BROKER_URL")
    ctx = bootstrap(settings)
    # Nudges are published from a background thread, after the inbox row is committed.
    dispatcher = BackgroundDispatcher(CeleryPublisher(create_celery(settings)))
    ctx.dispatcher = dispatcher
    return create_app(ctx, on_startup=dispatcher.start, on_shutdown=dispatcher.stop)
