"""The routing trace: built from a result, the why-not words, and their rendering."""
