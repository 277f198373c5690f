"""The bottom layer: errors, settings and the wire contracts every part shares."""
