"""The admin UI (Operations > Robot SRE): server-rendered pages over the
responder's own services, mounted at ``/admin``."""

from responder.admin.app import create_admin_app

__all__ = ["create_admin_app"]
