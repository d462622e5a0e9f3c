"""The ``learn`` stage: feedback turned into updates of the memory index, exposure and policy."""
