"""Backend introspection, as torch.backends."""
from . import cpu  # noqa: F401
