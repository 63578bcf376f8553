"""The pure workflow model's checks (no I/O): a run's input against what a workflow declares."""

from cloacinactl.workflow.params import (
    SECRET_REF,
    InputCheck,
    bindings_of,
    check_input,
    is_secret_ref,
    secret_ref,
    valid_secret_name,
)

__all__ = [
    "SECRET_REF",
    "InputCheck",
    "bindings_of",
    "check_input",
    "is_secret_ref",
    "secret_ref",
    "valid_secret_name",
]
