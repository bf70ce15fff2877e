"""An import-string factory for uvicorn: ``uvicorn --factory api.asgi:broker_app``.

Each uvicorn worker process calls it and bootstraps its own context (engines do not survive
a fork). Broker mode only: the embedded runner must run in exactly one process.
"""

from __future__ import annotations

from celery import Celery

from api.app import OmnirouteApp, create_app
from api.background_dispatch import BackgroundDispatcher
from core.bootstrap import bootstrap
from core.dispatch import Task
from core.settings import Settings
from worker.celery_app import create_celery


class CeleryPublisher:
    """Sends a batch of nudges through one producer, as ``CeleryDispatcher.enqueue`` would."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def publish(self, items: list[tuple[Task, int]]) -> None:
        with self._app.producer_or_acquire() as producer:
            for task, row_id in items:
                self._app.send_task(task.value, args=[row_id], producer=producer)


def broker_app() -> OmnirouteApp:
    settings = Settings()
    if settings.embedded:
        raise RuntimeError("api.asgi:broker_app needs OMNIROUTE_BROKER_URL")
    ctx = bootstrap(settings)
    # Nudges are published from a background thread, after the inbox row is committed.
    dispatcher = BackgroundDispatcher(CeleryPublisher(create_celery(settings)))
    ctx.dispatcher = dispatcher
    return create_app(ctx, on_startup=dispatcher.start, on_shutdown=dispatcher.stop)
