"""Background images as released: a folder of images (nested folders allowed) or its zip."""
from collections.abc import Sequence

from .io import decode_image
from .layouts import is_image, recognise


class Backgrounds(Sequence):
    """Sorted, indexable background images; ``bgrs[i]`` is float32 (H, W, 3) RGB in [0, 1].

    The order is that of ``dataset.io.list_images`` (relative paths compared component by
    component), so an index picks the same image from the folder or from its zip.
    Attributes: ``names`` (relative paths), ``layout`` ('backgrounds').
    """

    def __init__(self, layout):
        self.layout = layout.name
        self._source = layout.source
        self._base = layout.base
        self.names = [f for f in layout.files(layout.base) if is_image(f)]
        self._where = layout.describe()

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        rel = self._base + self.names[i]
        return decode_image(self._source.read(rel), self._source.where(rel))

    def where(self, i):
        """The file behind image ``i`` (a path or 'archive.zip:entry')."""
        return self._source.where(self._base + self.names[i])

    def describe(self):
        return f"{self._where}, {len(self.names)} images"


def open_backgrounds(path):
    """The background images at ``path`` (folder or zip).

    Raises FileNotFoundError (nothing there) and LayoutError when it holds no image.
    """
    return Backgrounds(recognise(path, "backgrounds"))
