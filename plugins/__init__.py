"""The built-in plugins of serzoo, each registered through the serzoo entry-point group."""
