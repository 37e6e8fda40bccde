"""The store: its data (store), search backends (knn), reading memory text into it (reading), its files (disk)."""
