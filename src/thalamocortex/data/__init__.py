"""The core data model and its I/O.

- :mod:`~thalamocortex.data.model`: :class:`Session` and its parts (in memory, maybe lazy).
- :mod:`~thalamocortex.data.nwb`: NWB read/write (:func:`read_session`, :func:`write_session`).
- :mod:`~thalamocortex.data.layout`: dataset folders ``sub-<mouse>/sub-<mouse>_ses-<n>.nwb``
  (:func:`discover`, :func:`session_path`, :func:`write_sessions_table`).
"""

from thalamocortex.data.errors import DataError
from thalamocortex.data.layout import (
    SESSION_COLUMNS,
    discover,
    parse_session_filename,
    session_path,
    write_sessions_table,
)
from thalamocortex.data.model import (
    Imaging,
    Lever,
    Session,
    SessionInfo,
    Stimulation,
    lever_to_frames,
)
from thalamocortex.data.nwb import NWBNames, NWBWriteParams, read_session, write_session

__all__ = [
    "SESSION_COLUMNS",
    "DataError",
    "Imaging",
    "Lever",
    "NWBNames",
    "NWBWriteParams",
    "Session",
    "SessionInfo",
    "Stimulation",
    "discover",
    "lever_to_frames",
    "parse_session_filename",
    "read_session",
    "session_path",
    "write_session",
    "write_sessions_table",
]
