"""Errors a user can cause and fix. The CLI prints ``str(err)`` (one line) and exits with code 2."""


class EmosynthError(Exception):
    """A problem the user can fix; the CLI prints str(err) and exits 2."""


class ConfigError(EmosynthError):
    """A setting out of range (a seed, a learning rate, a size).

    The message names the parameter (``lr must be a finite number > 0, got nan``); the CLI rewrites
    parameter names into its flags. ``{name}`` in ``problem`` refers to a setting: rendered as ``name``
    here, as its flag in the CLI.

    Args:
        parameter: The setting at fault.
        problem: The rest of the sentence after the parameter's name (``lead=False``: all of it).
        lead: Start the message with ``parameter``; ``False`` when ``problem`` is the whole sentence.
    """

    def __init__(self, parameter: str, problem: str, lead: bool = True):
        super().__init__(parameter, problem, lead)
        self.parameter, self.problem, self.lead = parameter, problem, lead

    def render(self, name=lambda parameter: parameter) -> str:
        """The message with every parameter name passed through ``name`` (e.g. to a CLI flag).

        ``lead=False``: ``problem`` is the whole sentence (``unknown condition 'mood'; choose ...``).

        Args:
            name: Maps a parameter name to how it is shown; identity by default.

        Returns:
            The one-line message.
        """
        import re

        rest = re.sub(r"\{([a-z_]+)\}", lambda m: name(m.group(1)), self.problem)
        return f"{name(self.parameter)} {rest}" if self.lead else rest

    def __str__(self) -> str:
        return self.render()


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


class ClusterError(EmosynthError):
    """Workers that stopped doing the work sent to them: a Dask cluster with no running workers or workers
    dying, or a local decoding worker process that died or could not start."""


class OutputError(EmosynthError):
    """An output path emosynth may not or cannot write: a file, a folder it did not write, an output of
    another kind, an earlier output without --overwrite, or a place that is read-only."""
