"""The Celery transport: app factory, queue declarations, remote control."""
