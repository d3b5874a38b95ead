"""mosaik-hdf5, but a run that stops early keeps every step it recorded.

mosaik-hdf5 buffers ``buf_size`` steps in memory and writes them only when the
buffer is full or the last step is done; ``finalize`` then just closes the
file. If a run fails half-way (a simulator container dies, the user presses
Ctrl-C), everything since the last full buffer is lost. This recorder writes
the buffer out when it is finalized, and also when its process ends any other
way, and notes how many steps the file holds.
"""

import atexit

from mosaik_components.hdf5 import Simulator as MosaikHdf5


class Recorder(MosaikHdf5):
    def __init__(self):
        super().__init__()
        self.steps_done = 0
        atexit.register(self.finalize)

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
