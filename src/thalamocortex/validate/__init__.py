"""Calibration of the study's primary tests: false-positive rates on null cohorts, power on
effect cohorts (``thalamocortex validate`` and ``thalamocortex power``).

Unlike the analysis packages this one touches disk (it simulates cohorts, runs the pipeline and
writes its own results), like :mod:`thalamocortex.pipeline`.
"""
