"""Admin registrations. (The admin helper owns this module; deescalation adds one import.)"""

from . import admin_deescalation, sla_admin  # noqa: F401
