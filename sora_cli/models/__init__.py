"""Model families behind one interface (interface.py): sora-mini (mini/) and Wan (wan/)."""
