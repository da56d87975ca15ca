"""Errors a user can cause and fix. The CLI prints ``str(err)`` (one line) and exits with code 2."""


class EmosynthError(Exception):
    """A problem the user can fix; the CLI prints str(err) and exits 2."""


class DataError(EmosynthError):
    """A data set, table or image that cannot be read as given."""


class ImageError(DataError):
    """A missing, unreadable or truncated image."""


class ScaleError(DataError):
    """A rating outside the scale it was declared on."""


class ModelError(EmosynthError):
    """A saved model that is missing or malformed."""


class BackboneError(EmosynthError):
    """An unknown backbone name or an unusable backbone."""


class WeightsError(EmosynthError):
    """A pretrained checkpoint that cannot be loaded."""


class WeightsNotFoundError(WeightsError):
    """A pretrained checkpoint that is not on this machine."""


class RunDirError(DataError):
    """A run directory that is missing, incomplete or malformed."""


class SynthError(EmosynthError):
    """Synthesis settings that cannot work (unknown space, too few cells, a model lacking a head)."""


class StudyError(EmosynthError):
    """A human-validation study that cannot be created, served, exported or reported as asked."""
