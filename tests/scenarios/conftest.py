"""Scenario trees are data, not tests. Their sysfs links loop exactly as the kernel's do
(devices/X/driver/X/driver/..., devices/X/subsystem/devices/X/...), so pytest must not walk them."""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
collect_ignore = sorted(n for n in os.listdir(_HERE) if os.path.isdir(os.path.join(_HERE, n)) and n != "__pycache__")
