"""Why a service refused: each carries the sentence the user is shown."""


class ActionRefused(Exception):
    """The action cannot be taken now; `message` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IncidentChanged(ActionRefused):
    """Someone else changed the incident since the user looked at it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "This incident changed while you were looking. Here is where it stands now."
        )
