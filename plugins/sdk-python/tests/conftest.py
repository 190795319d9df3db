"""Shared helpers: pyarrow <-> IPC bytes, and an example stage registry reset."""

import pyarrow as pa
import pytest

from etl_stage import stage as stage_module


def pa_stream(schema, *batches, **options) -> bytes:
    """An IPC stream written by pyarrow (``options`` go to ``IpcWriteOptions``)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=pa.ipc.IpcWriteOptions(**options) if options else None) as writer:
        for batch in batches:
            if isinstance(batch, pa.Table):
                writer.write_table(batch)
            else:
                writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def pa_read(data: bytes) -> pa.Table:
    """What pyarrow reads from ``data``, fully validated."""
    table = pa.ipc.open_stream(data).read_all()
    table.validate(full=True)
    return table


@pytest.fixture
def fresh_export():
    """Lets a test export stages without meeting the one another test exported."""
    saved = stage_module._exported
    stage_module._reset_export()
    yield
    stage_module._exported = saved
