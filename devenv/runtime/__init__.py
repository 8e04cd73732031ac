"""The two kinds of unit behind one interface: a local process and a container."""
