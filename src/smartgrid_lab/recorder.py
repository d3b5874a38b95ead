"""mosaik-hdf5, but a run that stops early keeps every step it recorded, and
no step it did not.

mosaik-hdf5 buffers ``buf_size`` steps in memory and writes them only when the
buffer is full or the last step is done; ``finalize`` then just closes the
file. If a run fails half-way (a simulator crashes, the user presses Ctrl-C),
everything since the last full buffer is lost, and the steps never computed
read as zeros. This recorder writes the buffer out when it is finalized, and
also when its process ends any other way; steps never computed read NaN, and
the file says how many steps it holds (``steps_recorded``) and each entity's
type (attribute ``type`` of its group), so readers need not guess from ids.
"""

import atexit

import numpy as np
from mosaik_components.hdf5 import Simulator as MosaikHdf5


class Recorder(MosaikHdf5):
    def __init__(self):
        super().__init__()
        self.steps_done = 0
        self.types = {}  # full entity id -> mosaik entity type
        atexit.register(self.finalize)

    def setup_done(self):
        related = yield self.mosaik.get_related_entities(None)
        self.types = {eid: node["type"] for eid, node in related["nodes"].items()}
        yield from super().setup_done()

    def _create_dataset(self, src_id, attr, dtype, ds_size, buf, buf_size):
        """mosaik-hdf5's, but NaN in every step no value is written to."""
        group = self._get_group(src_id)
        group.attrs["type"] = self.types.get(src_id, "")
        dtype = np.dtype(dtype)
        fill = {"fillvalue": np.nan} if np.issubdtype(dtype, np.floating) else {}
        dataset = group.create_dataset(attr, (ds_size,), dtype=dtype, **fill, **self.dataset_opts)
        buf[dataset.name] = np.empty(buf_size, dtype=dtype)

    def step(self, time, inputs, max_advance):
        next_time = super().step(time, inputs, max_advance)
        self.steps_done = time // self.step_size + 1
        return next_time

    def finalize(self):
        if self.db is None or not self.db:  # never created, or closed already
            return
        done, buffered = self.steps_done, self.steps_done % self.buf_size
        if buffered:
            for key, values in self.data_buf.items():
                self.series[key][done - buffered:done] = values[:buffered]
        self.db.attrs["steps_recorded"] = done
        self.db.close()
