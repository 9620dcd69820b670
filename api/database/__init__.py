from api.database.core import Base, Database, utcnow

__all__ = ["Base", "Database", "utcnow"]
