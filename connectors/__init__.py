if __name__ != "omniroute.connectors":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.connectors, not {__name__}")
