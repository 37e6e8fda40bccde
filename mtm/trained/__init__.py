"""Trained memories, compared with the method on MQAR: the task, a sliding window with the method's memory, peers."""
