if __name__ != "omniroute.api":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.api, not {__name__}")
