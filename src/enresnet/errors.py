"""Errors a user can fix. The CLI prints their message (no traceback) and exits 2."""


class EnresnetError(Exception):
    """Base class: the message names the problem and how to fix it."""


class ConfigError(EnresnetError, ValueError):
    """A configuration key, type or value that is not allowed."""


class DatasetError(EnresnetError, RuntimeError):
    """A dataset that cannot be found, fetched, verified or parsed."""


class CheckpointError(EnresnetError):
    """A checkpoint that is missing, corrupted, or for another architecture."""


class TrainingDivergedError(EnresnetError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class LockedError(EnresnetError):
    """An output folder that another process is writing (see :mod:`enresnet.locking`)."""


class DiskFullError(EnresnetError, OSError):
    """A write refused for want of space (ENOSPC) or quota (EDQUOT). The message names the folder and about how
    much the write needed; an atomic write (:mod:`enresnet.atomic`) leaves the previous file intact."""
