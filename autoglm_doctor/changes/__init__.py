"""Typed changes a Plan is made of. Fixes construct them; only the remediation engine applies them
(see ``changes.base`` for the contract: capture, satisfied, apply, verify, undo)."""

from autoglm_doctor.changes.base import RISKS, Change, ChangeFailed, change_from_dict
from autoglm_doctor.changes.commands import RunCommand
from autoglm_doctor.changes.domain import RedefineDomain
from autoglm_doctor.changes.files import (
    EnsureKernelArgs,
    EnsureLine,
    RemoveFile,
    SetSysctl,
    SetValue,
    WriteFile,
    sysctl,
)
from autoglm_doctor.changes.net import IpAddress, IpLink, IpRoute
from autoglm_doctor.changes.perms import GrantAcl, SetMode, SetOwner, SetXattr

__all__ = [
    "RISKS", "Change", "ChangeFailed", "change_from_dict", "RunCommand", "RedefineDomain", "EnsureKernelArgs",
    "EnsureLine", "RemoveFile", "SetSysctl", "SetValue", "WriteFile", "sysctl", "IpAddress", "IpLink", "IpRoute",
    "GrantAcl", "SetMode", "SetOwner", "SetXattr",
]
