"""Workflow engine: ready detection, claims and the executor loop over the store.

The pure workflow model lives in :mod:`cloacinactl.workflow`."""
