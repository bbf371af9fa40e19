"""All ORM models, imported together so the metadata is complete."""

from jifen.models.base import Base
from jifen.models.household import Household, Member
from jifen.models.store import Store
from jifen.models.user import Role, User, UserRole
from jifen.models.village import Village

__all__ = ["Base", "Household", "Member", "Role", "Store", "User", "UserRole", "Village"]
