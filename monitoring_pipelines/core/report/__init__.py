"""The daily HTML report of a monitor: ``inputs`` reads the store, ``page`` lays it out from
``checks``, ``performance``, ``hallucination`` and ``canary`` sections and ``html`` pieces, with
``plots`` drawn from stored sketches and series."""
