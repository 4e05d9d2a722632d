"""Every domain's models, imported in one place so that ``Base.metadata`` knows every
table: Alembic's environment, the engine (foreign keys across domains need every table
known) and the tests take ``Base`` from here. No models module imports this one; each
takes ``Base`` from ``app.db.base``."""

from __future__ import annotations

from app.accounts import models as accounts
from app.audit import models as audit
from app.custom_fields import models as custom_fields
from app.db.base import Base
from app.email import models as email
from app.events import models as events
from app.identity import models as identity
from app.invitations import models as invitations
from app.ops import models as ops
from app.projects import models as projects
from app.security import models as security
from app.staff import models as staff
from app.webhooks import models as webhooks

MODULES = (
    accounts,
    audit,
    custom_fields,
    email,
    events,
    identity,
    invitations,
    ops,
    projects,
    security,
    staff,
    webhooks,
)

__all__ = ["MODULES", "Base"]
