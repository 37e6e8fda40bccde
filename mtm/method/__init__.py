"""The method's parts: settings, plain attention, attention retrieval, the chunk chooser, the relevance decision."""
