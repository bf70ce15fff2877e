"""An import-string factory for uvicorn: ``uvicorn --factory omniroute.api.asgi:broker_app``.

Each uvicorn worker process calls it and bootstraps its own context (engines do not survive
a fork). Broker mode only: the embedded runner must run in exactly one process.
"""

from __future__ import annotations

from omniroute.api.app import OmnirouteApp, create_app
from omniroute.api.background_dispatch import BackgroundDispatcher
from omniroute.api.nudge_publisher import CeleryPublisher
from omniroute.core.bootstrap import bootstrap
from omniroute.core.platform.settings import Settings
from omniroute.worker.celery_app import create_celery


def broker_app() -> OmnirouteApp:
    settings = Settings()
    if settings.embedded:
        raise RuntimeError("omniroute.api.asgi:broker_app needs OMNIROUTE_BROKER_URL")
    ctx = bootstrap(settings)
    # Nudges are published from a background thread, after the inbox row is committed.
    dispatcher = BackgroundDispatcher(CeleryPublisher(create_celery(settings)))
    ctx.dispatcher = dispatcher
    return create_app(ctx, on_startup=dispatcher.start, on_shutdown=dispatcher.stop)
