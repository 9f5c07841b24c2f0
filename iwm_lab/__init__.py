"""iwm-lab: the analysts' workbench for the iwm ("I Watch Movies") PostgreSQL database.

>>> import iwm_lab
>>> conn = iwm_lab.connect()  # read-only, with a statement timeout
"""

from iwm_lab.database import connect, get_async_engine, get_engine
from iwm_lab.exceptions import IwmLabError
from iwm_lab.settings import Settings, get_settings

__all__ = ["IwmLabError", "Settings", "connect", "get_async_engine", "get_engine", "get_settings"]
