"""NWB read/write of :class:`~thalamocortex.data.model.Session` with standard NWB types only.

Where each part of a session lives in the file written by :func:`write_session`
-------------------------------------------------------------------------------

=====================  ====================================================================
session part           NWB location (all standard core / hdmf-common types)
=====================  ====================================================================
mouse                  ``subject.subject_id`` (species ``Mus musculus``, age/sex from
                       :class:`NWBWriteParams`: ``P90D`` / ``U`` = unknown by default)
session id             ``session_id`` = ``sub-<mouse>_ses-<n>``
start time             ``session_start_time`` (a naive ISO time is taken as UTC)
all SessionInfo        one-row ``DynamicTable`` ``processing["misc"]["session_info"]``
                       (mouse, session, day, experiment, region, indicator, opsin,
                       frame_rate, session_description, image_height, image_width). It is the
                       round-trippable copy; the same facts are *also* written into the
                       standard free-text fields ``experiment_description``, ``keywords``,
                       ``session_description`` for people browsing the file.
lever                  ``TimeSeries "lever"`` in ``processing["behavior"]`` inside a
                       ``BehavioralTimeSeries``; ``unit`` = ``Lever.units``, ``rate``,
                       ``starting_time`` = ``Lever.t0``. Stored as **float32** (files stay
                       small; round trip is exact to float32 precision, ~1e-7 relative).
trials                 ``nwbfile.trials``: ``start_time``, ``stop_time`` and every other
                       column of the trials table (numeric, bool or str). Missing string
                       values are written as ``""``. The DataFrame index is not stored; rows
                       get ids ``0..n-1``.
ROIs                   ``processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]``:
                       columns ``roi_name``, ``roi_type``, ``region`` + extra ROI columns,
                       and ``pixel_mask`` (NWB order ``x, y, weight`` = column, row, weight).
                       A mask column is mandatory in NWB; when the session has no
                       footprints every ROI gets an *empty* pixel mask (zero pixels), which
                       the reader turns back into ``footprints=None``.
F, Fneu                ``RoiResponseSeries "F"`` and ``"Fneu"`` in ``Fluorescence
                       "Fluorescence"``
dF/F                   ``RoiResponseSeries "dff"`` in ``DfOverF "DfOverF"`` (when present)
events                 ``RoiResponseSeries "events"`` in a second ``Fluorescence``
                       container named ``"Deconvolved"`` (the neuroconv / suite2p
                       convention for deconvolved activity)
frame times            ``starting_time`` + ``rate`` when frames are regular to within
                       ``NWBWriteParams.frame_time_tolerance``; otherwise ``timestamps`` on
                       ``F``, linked (not copied) by the other response series
mean image             ``Images "SummaryImages"`` / ``GrayscaleImage "mean"``
imaging metadata       ``Device "Microscope"``, ``OpticalChannel``, ``ImagingPlane`` with
                       indicator, excitation wavelength, imaging rate. ``location`` is the
                       *imaged* area as an Allen CCF term (``MOp2/3`` by default: M1 L2/3),
                       because nwbinspector requires CCF terms there; the *source* region of
                       the ROIs is in the ROI table and in ``session_info``.
stimulation            ``OptogeneticStimulusSite`` (device, wavelength, description,
                       location = the pulse targets) + ``OptogeneticSeries "light_power"``
                       in ``nwbfile.stimulus``: a *step series* of the light power in W
                       (value at each pulse start = its power, 0 at its stop; irregular
                       timestamps). The pulse table itself is the ``TimeIntervals``
                       ``nwbfile.intervals["light_pulses"]`` (start_time, stop_time, power
                       in mW, target, extra columns) — that is what the reader uses.
=====================  ====================================================================

Traces are written with HDF5 chunking along frames (chunks of whole frames x all ROIs of about
``NWBWriteParams.chunk_kib``) and gzip + shuffle compression through ``H5DataIO``.

Reading files written by other tools is configured by :class:`NWBNames` (lever series names,
trial / ROI column names, response series names, pulse table names). The reader keeps the
``NWBHDF5IO`` open and hands the ``h5py.Dataset`` objects to the :class:`Session` (lazy); the
session's ``close()`` (or ``with``) closes the file, ``Session.load()`` reads the arrays.
"""

from thalamocortex.data.nwb.names import NWBNames, NWBWriteParams
from thalamocortex.data.nwb.read import read_session
from thalamocortex.data.nwb.write import write_session

__all__ = ["NWBNames", "NWBWriteParams", "read_session", "write_session"]
