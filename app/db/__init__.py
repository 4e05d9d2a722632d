from app.db.base import Base
from app.db.engine import Database

__all__ = ["Base", "Database"]
