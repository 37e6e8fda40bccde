"""The rotary model families (GPT-2 is model.py, on top): each a model file of its own, registered in mtm.loading."""
