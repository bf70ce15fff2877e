if __name__ != "omniroute.core":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.core, not {__name__}")
